"""Tests of the list mechanics every ``get.*`` method shares: fields, filter, sort, paging, shuffled keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.testing.conftest import error, fetch_all, result, window
from uis_provider.protocol.catalog import catalog
from uis_provider.testing import UISEmulator
from uis_provider.testing.methods import COLUMNS
from uis_provider.testing.query import compile_filter, filter_fields, select

UPLOADED = catalog()["get.uploaded_calls"]
#: Without ``fields``: the 20 documented default columns (not upload_time, callback, tags, records).
UPLOADED_DEFAULTS = UPLOADED.default_columns


def test_default_limit_default_columns_and_shuffled_key_order(big: UISEmulator) -> None:
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-10 23:59:59"))
    assert answer["metadata"]["total_items"] == 3000
    assert len(answer["data"]) == 1000
    assert all(set(row) == set(UPLOADED_DEFAULTS) for row in answer["data"])
    assert len({tuple(row) for row in answer["data"]}) > 1
    limits = answer["metadata"]["limits"]
    assert set(limits) == {
        "day_limit",
        "day_remaining",
        "day_reset",
        "minute_limit",
        "minute_remaining",
        "minute_reset",
    }


@pytest.mark.parametrize(
    ("extra", "mnemonic", "field"),
    [
        ({"limit": 10_001}, "invalid_parameter_value", "limit"),
        ({"limit": 0}, "invalid_parameter_value", "limit"),
        ({"offset": 100_001}, "invalid_parameter_value", "offset"),
        ({"offset": -1}, "invalid_parameter_value", "offset"),
        ({"limit": "10"}, "data_type_error", "limit"),
        ({"fields": ["ext_id", "no_such_field"]}, "unexpected_parameters", "fields"),
        ({"page": 2}, "unexpected_parameters", "page"),
        ({"date_from": "2026-01-01T00:00:00"}, "invalid_parameter_value", "date_from"),
        ({"date_till": "2026-01-31"}, "invalid_parameter_value", "date_till"),
        ({"date_from": "2026-02-30 00:00:00"}, "invalid_parameter_value", "date_from"),
        ({"date_from": "2026-01-05 00:00:00"}, "invalid_parameters_combination", "date_from"),
    ],
)
def test_parameter_errors(big: UISEmulator, extra: dict[str, Any], mnemonic: str, field: str) -> None:
    params = {**window("2026-01-01 00:00:00", "2026-01-03 00:00:00"), **extra}
    err = error(big.url, "get.uploaded_calls", params)
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, field)
    assert err["code"] == -32602
    if mnemonic == "unexpected_parameters" and field == "fields":
        assert err["data"]["value"] == "no_such_field"


def test_fields_narrow_the_records(big: UISEmulator) -> None:
    params = window("2026-01-01 00:00:00", "2026-01-02 00:00:00", fields=["status", "ext_id"], limit=20)
    rows = result(big.url, "get.uploaded_calls", params)["data"]
    assert rows and all(set(row) == {"ext_id", "status"} for row in rows)


FILTER_CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"field": "status", "operator": "=", "value": "error"}, lambda r: r["status"] == "error"),
    ({"field": "direction", "operator": "!=", "value": "in"}, lambda r: r["direction"] != "in"),
    ({"field": "talk_duration", "operator": ">=", "value": 600}, lambda r: r["talk_duration"] >= 600),
    ({"field": "wait_duration", "operator": "<", "value": "10"}, lambda r: r["wait_duration"] < 10),
    ({"field": "is_lost", "operator": "=", "value": True}, lambda r: r["is_lost"] is True),
    ({"field": "campaign_id", "operator": "in", "value": [101, 102]}, lambda r: r["campaign_id"] in (101, 102)),
    ({"field": "site_id", "operator": "not_in", "value": [25187]}, lambda r: r["site_id"] not in (None, 25187)),
    ({"field": "campaign_id", "operator": "is_null"}, lambda r: r["campaign_id"] is None),
    ({"field": "comment", "operator": "is_not_null"}, lambda r: r["comment"] is not None),
    (
        {"field": "comment", "operator": "ilike", "value": "%ДОСТАВК%"},
        lambda r: r["comment"] is not None and "доставк" in r["comment"].lower(),
    ),
    (
        {"field": "comment", "operator": "not_ilike", "value": "%заказ%"},
        lambda r: r["comment"] is not None and "заказ" not in r["comment"].lower(),
    ),
    (
        {"field": "ext_id", "operator": "like", "value": "ext-00000001_0"},
        lambda r: r["ext_id"].startswith("ext-00000001") and r["ext_id"].endswith("0"),
    ),
    (
        {"field": "called_phone_number", "operator": "not_like", "value": "7495%"},
        lambda r: not r["called_phone_number"].startswith("7495"),
    ),
    (
        {"field": "calling_phone_number", "operator": "regexp", "value": "^79[0-3]"},
        lambda r: r["calling_phone_number"][:3] in ("790", "791", "792", "793"),
    ),
    (
        {"field": "start_time", "operator": "<", "value": "2026-01-02 00:00:00"},
        lambda r: r["start_time"] < "2026-01-02 00:00:00",
    ),
]


@pytest.mark.parametrize(("flt", "check"), FILTER_CASES, ids=[case[0]["operator"] for case in FILTER_CASES])
def test_filter_operators_match_ground_truth(
    big: UISEmulator, flt: dict[str, Any], check: Callable[[dict[str, Any]], bool]
) -> None:
    rows, total = fetch_all(
        big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-04 23:59:59", filter=flt), 5000
    )
    expected = [r["ext_id"] for r in big.records("2026-01-01", "2026-01-05") if check(r)]
    assert expected, "the case must select something to be meaningful"
    assert total == len(expected)
    assert [row["ext_id"] for row in rows] == expected


def test_two_level_filter_tree(big: UISEmulator) -> None:
    tree = {
        "condition": "and",
        "filters": [
            {
                "condition": "or",
                "filters": [
                    {"field": "status", "operator": "=", "value": "error"},
                    {"field": "is_lost", "operator": "=", "value": True},
                ],
            },
            {"field": "direction", "operator": "=", "value": "in"},
        ],
    }
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-10 23:59:59", filter=tree))
    expected = [
        r["ext_id"] for r in big.records() if (r["status"] == "error" or r["is_lost"]) and r["direction"] == "in"
    ]
    assert answer["metadata"]["total_items"] == len(expected) > 0
    assert [row["ext_id"] for row in answer["data"]] == expected[:1000]


@pytest.mark.parametrize(
    ("flt", "mnemonic"),
    [
        (
            {"filters": [{"filters": [{"filters": [{"field": "status", "operator": "=", "value": "new"}]}]}]},
            "invalid_parameter_value",
        ),
        ({"field": "status", "operator": "~~", "value": "new"}, "invalid_parameter_value"),
        ({"field": "status", "operator": "overlap", "value": ["new"]}, "invalid_parameter_value"),
        ({"field": "status", "operator": "jsquery", "value": "x"}, "invalid_parameter_value"),
        ({"field": "talk_duration", "operator": "in", "value": 5}, "invalid_parameter_value"),
        ({"field": "upload_time", "operator": ">", "value": "2026-01-01 00:00:00"}, "filter_prohibited"),
        ({"field": "tags", "operator": "is_null"}, "filter_prohibited"),
        ({"field": "records", "operator": "is_null"}, "filter_prohibited"),
        ({"field": "callback", "operator": "is_null"}, "filter_prohibited"),
    ],
)
def test_filter_errors(big: UISEmulator, flt: dict[str, Any], mnemonic: str) -> None:
    err = error(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-02 00:00:00", filter=flt))
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, "filter")


@pytest.mark.parametrize(
    "sort",
    [
        [{"field": "direction"}],
        [{"field": "status", "order": "desc"}, {"field": "is_lost", "order": "asc"}],
        [{"field": "campaign_id", "order": "desc"}],
    ],
)
def test_sort_is_stable_and_total_across_pages(big: UISEmulator, sort: list[dict[str, str]]) -> None:
    rows, total = fetch_all(
        big.url, "get.uploaded_calls", window("2026-01-03 00:00:00", "2026-01-04 23:59:59", sort=sort), limit=97
    )
    expected = big.records("2026-01-03", "2026-01-05")
    for item in reversed(sort):
        name, desc = item["field"], item.get("order") == "desc"
        present = [r for r in expected if r[name] is not None]
        missing = [r for r in expected if r[name] is None]
        present.sort(key=lambda r, name=name: r[name], reverse=desc)
        expected = missing + present if desc else present + missing
    assert total == len(expected) == len(rows)
    assert [row["ext_id"] for row in rows] == [r["ext_id"] for r in expected]


@pytest.mark.parametrize("name", ["upload_time", "records", "tags", "callback"])
def test_sort_prohibited(big: UISEmulator, name: str) -> None:
    params = window("2026-01-01 00:00:00", "2026-01-02 00:00:00", sort=[{"field": name}])
    assert error(big.url, "get.uploaded_calls", params)["data"]["mnemonic"] == "sort_prohibited"


def _tag_names(row: dict[str, Any]) -> set[str]:
    return {tag["tag_name"] for tag in row["tags"]}


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (
            {"field": "tags", "operator": "overlap", "value": ["VIP", "Спам"]},
            lambda r: bool(_tag_names(r) & {"VIP", "Спам"}),
        ),
        ({"field": "tags", "operator": "overlap", "value": [505]}, lambda r: 505 in {t["tag_id"] for t in r["tags"]}),
        ({"field": "tags", "operator": "not_overlap", "value": ["VIP"]}, lambda r: "VIP" not in _tag_names(r)),
        ({"field": "segments", "operator": "is_null"}, lambda r: r["segments"] == []),
        ({"field": "attributes", "operator": "overlap", "value": ["lost"]}, lambda r: "lost" in r["attributes"]),
        ({"field": "employees", "operator": "!=", "value": None}, lambda r: r["employees"] != []),
    ],
    ids=["overlap-names", "overlap-ids", "not_overlap", "is_null", "codes", "not-null"],
)
def test_array_columns_filter_on_their_items(
    big: UISEmulator, flt: dict[str, Any], check: Callable[[dict[str, Any]], bool]
) -> None:
    params = window("2026-01-02 00:00:00", "2026-01-03 23:59:59", filter=flt, fields=["id"], limit=10_000)
    answer = result(big.url, "get.calls_report", params)
    expected = [row["id"] for row in big.rows("get.calls_report", "2026-01-02", "2026-01-04") if check(row)]
    assert expected and [row["id"] for row in answer["data"]] == expected


@pytest.mark.parametrize(
    "flt",
    [
        {"field": "tags", "operator": "=", "value": "VIP"},
        {"field": "tags", "operator": "overlap", "value": "VIP"},
        {"field": "tags", "operator": "overlap", "value": []},
        {"field": "tags", "operator": "jsquery", "value": "tag_name = VIP"},
        {"field": "direction", "operator": "overlap", "value": ["in"]},
    ],
)
def test_array_operators_fit_array_columns_only(big: UISEmulator, flt: dict[str, Any]) -> None:
    err = error(big.url, "get.calls_report", window("2026-01-02 00:00:00", "2026-01-02 23:59:59", filter=flt))
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("invalid_parameter_value", "filter")


def test_report_filters_nest_three_groups_deep_uploaded_calls_two(big: UISEmulator) -> None:
    leaf = {"field": "direction", "operator": "=", "value": "in"}
    deep = {"filters": [{"filters": [{"filters": [leaf]}]}]}
    day = ("2026-01-02 00:00:00", "2026-01-02 23:59:59")
    rows = result(big.url, "get.calls_report", window(*day, filter=deep, fields=["direction"], limit=10_000))["data"]
    assert rows and {row["direction"] for row in rows} == {"in"}
    deeper = {"filters": [deep]}
    assert (
        error(big.url, "get.calls_report", window(*day, filter=deeper))["data"]["mnemonic"] == "invalid_parameter_value"
    )
    assert error(big.url, "get.uploaded_calls", window(*day, filter=deep))["data"]["params"] == {"max_depth": 2}


def test_a_keyset_selection_on_cheap_columns_builds_no_record_and_selects_as_building_them_does() -> None:
    columns = COLUMNS["get.uploaded_calls"]
    records = {
        ref: {"ext_id": f"call-{(ref * 7919) % 1000:04d}", "status": "new" if ref % 3 else "error"}
        for ref in range(1000)
    }
    built: list[int] = []

    def materialize(ref: int) -> dict[str, Any]:
        built.append(ref)
        return records[ref]

    cheap = {"ext_id": lambda ref: records[ref]["ext_id"]}
    raw = {"field": "ext_id", "operator": ">", "value": "call-0500"}
    keyset = compile_filter(raw, columns)
    by_ext_id = [("ext_id", False)]
    lazily = select(range(1000), materialize, keyset, by_ext_id, cheap, filter_fields(raw))
    assert built == [], "a filter and a sort on ext_id alone build no record"
    assert lazily == select(range(1000), materialize, keyset, by_ext_id)
    assert [records[ref]["ext_id"] for ref in lazily] == sorted(
        r["ext_id"] for r in records.values() if r["ext_id"] > "call-0500"
    )

    built.clear()
    both = {
        "filters": [
            {"field": "status", "operator": "=", "value": "error"},
            {"condition": "or", "filters": [{"field": "ext_id", "operator": ">", "value": "call-0500"}]},
        ]
    }
    assert filter_fields(both) == {"status", "ext_id"}
    errors = compile_filter(both, columns)
    assert select(range(1000), materialize, errors, by_ext_id, cheap, filter_fields(both)) == select(
        range(1000), records.__getitem__, errors, by_ext_id
    )
    assert sorted(built) == list(range(1000)), "a filter on another column builds each record once"
    built.clear()
    select(range(1000), materialize, keyset, by_ext_id, cheap)
    assert len(built) == 1000, "a filter whose columns are not given is read from the built record"
