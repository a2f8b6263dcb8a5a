"""The emulator enforces the method catalog, checked behaviourally over its HTTP endpoint, method by method: the
reply without ``fields`` holds the documented default columns, every documented column may be asked for, filtered
on exactly when the reference says F and sorted on exactly when it says S, anything else is refused with the
documented error; every value has the documented type and codes; windows and parameters are the documented ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.testing.conftest import KEY, error, make, plus_second, result
from uis_provider.protocol.catalog import Column, MethodSpec, catalog
from uis_provider.testing import UISEmulator

METHODS = list(catalog())
#: The methods that take ``fields``, ``filter`` and ``sort`` (all but get.account).
LISTING = [name for name in METHODS if name != "get.account"]
WINDOWED = [name for name, spec in catalog().items() if spec.window is not None]
DAY_FROM, DAY_TILL = "2026-01-02 00:00:00", "2026-01-02 23:59:59"
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@pytest.fixture(scope="module")
def rich() -> Iterator[UISEmulator]:
    """Enough of everything that every documented column is filled somewhere; read-only, unlimited budget."""
    options = {"calls": 1500, "report_calls": 1500, "chats_per_day": 100, "goals_per_day": 60}
    with make(**options, offline_messages_per_day=40, minute_limit=10**9, day_limit=10**9) as emulator:
        yield emulator


def base(method: str, **params: Any) -> dict[str, Any]:
    """The smallest valid request of ``method``: the key, and a one-day window where it takes one."""
    window = {"date_from": DAY_FROM, "date_till": DAY_TILL} if catalog()[method].window else {}
    return {"access_token": KEY, **window, **params}


_TRUTHS: dict[tuple[int, str], list[dict[str, Any]]] = {}


def truth(api: UISEmulator, method: str) -> list[dict[str, Any]]:
    """The rows ``base(method)`` selects, every column, in the API's order (read once per emulator)."""
    key = (id(api), method)
    if key not in _TRUTHS:
        window = () if catalog()[method].window is None else (DAY_FROM, "2026-01-03 00:00:00")
        _TRUTHS[key] = api.rows(method, *window)
    return _TRUTHS[key]


def probe(column: Column) -> tuple[dict[str, Any], Callable[[Any], bool]]:
    """A filter on ``column`` that suits its type, and what it should select."""
    if column.type == "number":
        return {"operator": ">=", "value": 1}, lambda value: value is not None and value >= 1
    if column.type == "boolean":
        return {"operator": "=", "value": True}, lambda value: value is True
    if column.type == "iso8601":
        moment = "2026-01-02 12:00:00"
        return {"operator": ">=", "value": moment}, lambda value: value is not None and value >= moment
    if column.type in ("string", "enum"):
        return {"operator": "like", "value": "%a%"}, lambda value: value is not None and "a" in str(value)
    return {"operator": "is_not_null"}, lambda value: value not in (None, [], {})


def _conforms(column: Column, value: Any) -> bool:
    if value is None:
        return True
    if column.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if column.type == "boolean":
        return isinstance(value, bool)
    if column.type == "iso8601":
        return isinstance(value, str) and _DATE_TIME.fullmatch(value) is not None
    if column.type == "enum":
        return value in column.values
    if column.type == "string":
        return isinstance(value, str)
    if column.type == "object":
        return isinstance(value, dict)
    if not isinstance(value, list):
        return False
    if column.items == "codes":
        return all(item in column.values for item in value)
    if column.items:
        return all(isinstance(item, str | int) and not isinstance(item, bool) for item in value)
    return all(isinstance(item, dict) for item in value)


def _children_conform(column: Column, rows: list[dict[str, Any]]) -> set[str]:
    """The child names seen in ``column`` across ``rows``; each child's enum value is a documented one."""
    seen: set[str] = set()
    children = {child.name: child for child in column.children}
    for row in rows:
        value = row[column.name]
        for item in value if isinstance(value, list) else [value] if isinstance(value, dict) else []:
            assert set(item) <= set(children), (column.name, item)
            seen.update(item)
            for name, child_value in item.items():
                values = children[name].values
                if values and child_value is not None:
                    listed = child_value if isinstance(child_value, list) else [child_value]
                    assert set(listed) <= set(values), (column.name, name, child_value)
    return seen


@pytest.mark.parametrize("method", METHODS)
def test_without_fields_the_reply_holds_exactly_the_default_columns(rich: UISEmulator, method: str) -> None:
    rows = result(rich.url, method, base(method))["data"]
    assert rows, "the probe window must hold rows"
    default = set(catalog()[method].default_columns)
    assert all(set(row) == default for row in rows)


@pytest.mark.parametrize("method", LISTING)
def test_every_documented_column_has_its_type_codes_and_children_and_is_filled_somewhere(
    rich: UISEmulator, method: str
) -> None:
    spec = catalog()[method]
    params = base(method, fields=list(spec.column_names), limit=10_000)
    if spec.window:
        params.update(date_from="2026-01-01 00:00:00", date_till="2026-01-04 23:59:59")
    answer = result(rich.url, method, params)
    rows = answer["data"]
    assert rows and len(rows) == answer["metadata"]["total_items"]
    assert all(set(row) == set(spec.column_names) for row in rows)
    for column in spec.columns:
        bad = [row[column.name] for row in rows if not _conforms(column, row[column.name])]
        assert not bad, (column.name, bad[:3])
        assert any(row[column.name] not in (None, [], {}) for row in rows), f"{column.name} is never filled"
        if column.children:
            assert _children_conform(column, rows) == {child.name for child in column.children}, column.name


@pytest.mark.parametrize("method", LISTING)
def test_an_undocumented_column_is_refused_in_fields_filter_and_sort(rich: UISEmulator, method: str) -> None:
    for params in (
        {"fields": [catalog()[method].column_names[0], "no_such_column"]},
        {"filter": {"field": "no_such_column", "operator": "=", "value": 1}},
        {"sort": [{"field": "no_such_column"}]},
    ):
        err = error(rich.url, method, base(method, **params))
        assert (err["code"], err["data"]["mnemonic"], err["data"]["value"]) == (
            -32602,
            "unexpected_parameters",
            "no_such_column",
        )


#: Every documented column of every method that takes a filter and a sort.
COLUMN_CASES = [(method, column) for method in LISTING for column in catalog()[method].columns]


@pytest.mark.parametrize(("method", "column"), COLUMN_CASES, ids=[f"{m}:{c.name}" for m, c in COLUMN_CASES])
def test_a_filter_is_accepted_exactly_on_the_filterable_columns(rich: UISEmulator, method: str, column: Column) -> None:
    condition, selects = probe(column)
    params = base(method, filter={"field": column.name, **condition}, limit=1)
    if not column.filterable:
        err = error(rich.url, method, params)
        assert (err["code"], err["data"]["mnemonic"], err["data"]["field"]) == (-32602, "filter_prohibited", "filter")
        assert err["data"]["value"] == column.name
        assert err["message"] == f"Filtering by field {column.name} is prohibited"
        return
    expected = sum(1 for row in truth(rich, method) if selects(row[column.name]))
    assert result(rich.url, method, params)["metadata"]["total_items"] == expected


@pytest.mark.parametrize(("method", "column"), COLUMN_CASES, ids=[f"{m}:{c.name}" for m, c in COLUMN_CASES])
def test_a_sort_is_accepted_exactly_on_the_sortable_columns(rich: UISEmulator, method: str, column: Column) -> None:
    params = base(method, sort=[{"field": column.name, "order": "desc"}], fields=[column.name], limit=10_000)
    if not column.sortable:
        err = error(rich.url, method, params)
        assert (err["code"], err["data"]["mnemonic"], err["data"]["field"]) == (-32602, "sort_prohibited", "sort")
        assert err["data"]["value"] == column.name
        assert err["message"] == f"Sorting by field {column.name} is prohibited"
        return
    values = [row[column.name] for row in result(rich.url, method, params)["data"]]
    present = sorted((value for value in values if value is not None), reverse=True)
    assert values == [None] * (len(values) - len(present)) + present


def test_the_id_of_the_reports_is_filterable_but_not_sortable(rich: UISEmulator) -> None:
    for method in ("get.calls_report", "get.call_legs_report", "get.communications_report", "get.chats_report"):
        assert result(rich.url, method, base(method, filter={"field": "id", "operator": ">", "value": 0}))["data"]
        err = error(rich.url, method, base(method, sort=[{"field": "id", "order": "asc"}]))
        assert err["data"]["mnemonic"] == "sort_prohibited"
    err = error(
        rich.url,
        "get.calls_report",
        base("get.calls_report", filter={"field": "start_time", "operator": "is_not_null"}),
    )
    assert err["data"]["mnemonic"] == "filter_prohibited"
    finish = {"field": "finish_time", "operator": "is_not_null"}
    assert error(rich.url, "get.calls_report", base("get.calls_report", filter=finish))["data"]["mnemonic"] == (
        "filter_prohibited"
    )


@pytest.mark.parametrize("method", METHODS)
def test_only_the_documented_parameters_are_taken(rich: UISEmulator, method: str) -> None:
    spec = catalog()[method]
    err = error(rich.url, method, base(method, page=2))
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("unexpected_parameters", "page")
    for name in ("user_id", "include_ongoing_calls", "filter", "fields", "sort", "report_id"):
        value: Any = {"user_id": 700101, "include_ongoing_calls": True, "filter": {}, "fields": [], "sort": []}.get(
            name, 2
        )
        answer = result if name in spec.param_names else error
        reply = answer(rich.url, method, base(method, **{name: value}))
        if name not in spec.param_names:
            assert (reply["data"]["mnemonic"], reply["data"]["field"]) == ("unexpected_parameters", name)


@pytest.mark.parametrize("method", WINDOWED)
def test_windows_are_required_select_on_the_window_field_and_have_the_documented_limit(
    rich: UISEmulator, method: str
) -> None:
    spec: MethodSpec = catalog()[method]
    assert spec.window is not None
    field = spec.window.field
    err = error(rich.url, method, {"access_token": KEY, "date_till": DAY_TILL})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("required_parameter_missed", "date_from")
    rows = truth(rich, method)
    assert rows and all(DAY_FROM <= row[field] <= DAY_TILL for row in rows)
    answer = result(rich.url, method, base(method, fields=list(spec.column_names), limit=10_000))
    assert answer["data"] == rows
    days = spec.window.max_days
    if days is None:
        assert result(rich.url, method, base(method, date_from="2025-01-01 00:00:00", limit=1))
        return
    edge = {30: "2026-01-31 00:00:00", 90: "2026-04-01 00:00:00"}[days]
    assert result(rich.url, method, base(method, date_from="2026-01-01 00:00:00", date_till=edge, limit=1))
    err = error(rich.url, method, base(method, date_from="2026-01-01 00:00:00", date_till=plus_second(edge)))
    assert (err["code"], err["data"]["mnemonic"]) == (-32602, "date_interval_limit_reached")
    assert err["message"] == "Max value of requested date interval is 3 months"


def test_the_default_order_is_the_same_for_the_same_state(rich: UISEmulator) -> None:
    for method in LISTING:
        params = base(method, fields=list(catalog()[method].column_names), limit=10_000)
        first, second = result(rich.url, method, params)["data"], result(rich.url, method, params)["data"]
        assert first == second
        if len(first) > 2:
            assert [list(row) for row in first] != [list(row) for row in second], "keys come in shuffled order"


def test_customer_users_and_reports_list_are_the_documented_lists(rich: UISEmulator) -> None:
    users = result(
        rich.url, "get.customer_users", base("get.customer_users", sort=[{"field": "name", "order": "desc"}])
    )
    names = [row["name"] for row in users["data"]]
    assert names == sorted(names, reverse=True) and users["metadata"]["total_items"] == len(names) > 1
    assert all(set(row) == {"id", "login", "description", "name", "customer_id"} for row in users["data"])
    reports = result(rich.url, "get.reports_list", base("get.reports_list", fields=["id", "name"]))["data"]
    uploaded = base("get.uploaded_calls", report_id=reports[-1]["id"], limit=1)
    assert result(rich.url, "get.uploaded_calls", uploaded)["metadata"]["total_items"] > 0
