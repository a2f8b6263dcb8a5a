"""Typed records: Structs built from the method catalog, pages that fit decoded into them, pages that do not left
to the generic decoder, and what msgspec would print differently from the standard library found before writing."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from uis_provider.protocol.catalog import catalog
from uis_provider.protocol.methods import UPLOADED_CALLS, ReportMethod, report_methods
from uis_provider.storage import rows as rows_module
from uis_provider.storage.rows import ANY, BOOL, NESTED, PLAIN, Rows, RowType, row_type_for
from uis_provider.testing import UISEmulator

COLUMNS = UPLOADED_CALLS.columns

#: A method the catalog does not document, with one column it has no type for.
CUSTOM = ReportMethod(
    "get.custom_report",
    time_field="start_time",
    columns=("id", "start_time", "score", "payload"),
    key_field="id",
    column_kinds=(("id", "int64"), ("score", "float64")),
    column_types=(("id", "number"), ("start_time", "iso8601"), ("score", "number")),
)


def encode(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode("utf-8")


def uploaded() -> RowType:
    row_type = row_type_for(UPLOADED_CALLS, COLUMNS, COLUMNS)
    assert row_type is not None
    return row_type


@pytest.fixture(scope="module")
def emulated() -> list[dict[str, Any]]:
    return UISEmulator(calls=300, seed=4).records()


def test_columns_are_typed_from_the_catalog() -> None:
    row_type = uploaded()
    assert row_type.fields == COLUMNS
    assert row_type.shapes["ext_id"] == row_type.shapes["talk_duration"] == PLAIN
    assert row_type.shapes["is_lost"] == BOOL
    assert {name for name, shape in row_type.shapes.items() if shape == NESTED} == {"callback", "tags", "records"}
    assert ANY not in row_type.shapes.values()


@pytest.mark.parametrize("name", sorted(report_methods()))
def test_every_documented_column_of_every_method_gets_a_type(name: str) -> None:
    method = report_methods()[name]
    every = ReportMethod.from_spec(catalog()[name], columns=method.known_columns)
    row_type = row_type_for(every, every.columns, every.columns)
    assert row_type is not None
    assert ANY not in row_type.shapes.values()


def test_an_emulated_page_decodes_into_the_records_the_generic_decoder_gives(emulated: list[dict[str, Any]]) -> None:
    rows = uploaded().decode(encode(emulated))
    assert isinstance(rows, Rows)
    assert len(rows) == len(emulated)
    assert rows.records() == [{name: record.get(name) for name in COLUMNS} for record in emulated]
    assert rows[-1] == rows.records()[-1]
    assert rows[:2] == rows.records()[:2]
    assert rows.column("ext_id") == [record["ext_id"] for record in emulated]
    assert rows.columns()[COLUMNS.index("talk_duration")] == tuple(record["talk_duration"] for record in emulated)
    assert rows.exact()


def test_missing_keys_read_as_null_and_nested_keys_stay_missing() -> None:
    rows = uploaded().decode(b'[{"ext_id":"a","tags":[{"tag_id":1}],"callback":{"url":"u"}}]')
    assert rows is not None
    record = rows[0]
    assert record["upload_time"] is None and record["is_lost"] is None
    assert record["tags"] == [{"tag_id": 1}]
    assert record["callback"] == {"url": "u"}


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(b'[{"ext_id":"a","added_column":1}]', id="a column not asked for"),
        pytest.param(b'[{"ext_id":"a","talk_duration":"31"}]', id="a number sent as text"),
        pytest.param(b'[{"ext_id":"a","talk_duration":31.5}]', id="a float in an int64 column"),
        pytest.param(b'[{"ext_id":"a","is_lost":1}]', id="a boolean sent as a number"),
        pytest.param(b'[{"ext_id":"a","tags":[{"tag_id":1,"color":"red"}]}]', id="an undocumented nested key"),
        pytest.param(b'[{"ext_id":"a","tags":{"tag_id":1}}]', id="an object where a list is documented"),
        pytest.param(b'[{"ext_id":"a","callback":{"events":[0.5]}}]', id="a float in a nested list"),
        pytest.param(b'[{"ext_id":"a"}, 7]', id="a record that is no object"),
        pytest.param(b'[{"ext_id":"a\\ud800"}]', id="a lone surrogate"),
        pytest.param(b'[{"ext_id":"a"', id="truncated JSON"),
    ],
)
def test_a_page_that_does_not_fit_its_type_is_left_to_the_generic_decoder(page: bytes) -> None:
    assert uploaded().decode(page) is None
    assert uploaded().convert([{"ext_id": "a", "added_column": 1}]) is None


def test_records_already_decoded_convert_when_they_fit(emulated: list[dict[str, Any]]) -> None:
    rows = uploaded().convert(emulated)
    assert rows is not None
    assert rows.records() == [{name: record.get(name) for name in COLUMNS} for record in emulated]
    assert uploaded().convert([{"ext_id": "a", "talk_duration": True}]) is None
    assert uploaded().convert(({"ext_id": "a"},)) is None  # not a list of dicts


def test_a_column_the_catalog_does_not_type_takes_any_json_value() -> None:
    row_type = row_type_for(CUSTOM, CUSTOM.columns, CUSTOM.columns)
    assert row_type is not None
    assert row_type.shapes == {"id": PLAIN, "start_time": PLAIN, "score": PLAIN, "payload": ANY}
    values = [None, "text", 12, True, {"b": [1, {"c": None}], "a": "x"}, [1, "two"]]
    page = [{"id": index, "start_time": "2026-01-01 00:00:00", "payload": value} for index, value in enumerate(values)]
    rows = row_type.decode(encode(page))
    assert rows is not None
    assert rows.column("payload") == values
    assert rows.exact()


@pytest.mark.parametrize(
    ("score", "payload", "exact"),
    [
        (4.5, {"a": 1}, True),
        (1500.0, [0.25, {"x": 123456.789}], True),
        (1e-05, None, False),  # msgspec writes 0.00001, json 1e-05
        (1e16, None, False),  # msgspec writes 1e16, json 1e+16
        (None, {"deep": [1e22]}, False),
        (7, [1, "x", None, True], True),
    ],
)
def test_floats_msgspec_prints_otherwise_than_json_are_found(score: Any, payload: Any, exact: bool) -> None:
    row_type = row_type_for(CUSTOM, CUSTOM.columns, CUSTOM.columns)
    assert row_type is not None
    record = {"id": 1, "start_time": "2026-01-01 00:00:00", "score": score, "payload": payload}
    rows = row_type.decode(encode([record]))
    assert rows is not None
    assert rows.exact() is exact


def test_subset_forget_and_visible_fields(emulated: list[dict[str, Any]]) -> None:
    fields = (*COLUMNS[1:], "ext_id")
    row_type = row_type_for(UPLOADED_CALLS, COLUMNS[1:], fields)
    assert row_type is not None
    rows = row_type.decode(encode(emulated))
    assert rows is not None
    kept = rows.subset([2, 0])
    assert [record["ext_id"] for record in kept] == [emulated[2]["ext_id"], emulated[0]["ext_id"]]
    kept.forget(["ext_id"])
    assert kept.visible == COLUMNS[1:]
    assert all("ext_id" not in record for record in kept.records())
    assert b'"ext_id"' not in row_type.encode_lines(kept.items)
    assert "ext_id" in rows.visible  # the page it came from is a different view


def test_the_written_columns_must_lead_the_requested_fields() -> None:
    with pytest.raises(ValueError, match="must start with"):
        RowType(msgspec, UPLOADED_CALLS, ("ext_id",), ("status", "ext_id"))


def test_no_typed_records_without_msgspec_or_for_names_msgspec_writes_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    odd = ReportMethod("get.odd_report", time_field="at", columns=('say "hi"', "at"))
    assert row_type_for(odd, odd.columns, odd.columns) is None
    assert row_type_for(UPLOADED_CALLS, COLUMNS, COLUMNS) is not None
    monkeypatch.setattr(rows_module, "_msgspec", None)
    assert row_type_for(UPLOADED_CALLS, COLUMNS, COLUMNS) is None


def test_json_texts_are_sorted_compact_json_and_null_stays_none() -> None:
    row_type = uploaded()
    rows = row_type.decode(b'[{"tags":[{"tag_name":"\\u043b\\u0438\\u0434","tag_id":7}]},{"tags":null},{"tags":[]}]')
    assert rows is not None
    texts = row_type.json_texts(rows.column("tags"))
    assert texts == ['[{"tag_id":7,"tag_name":"лид"}]', None, "[]"]
    assert row_type.json_texts(rows.column("tags"), null="") == ['[{"tag_id":7,"tag_name":"лид"}]', "", "[]"]
