"""Writers taking a typed page whole: JSON lines in one msgspec call, CSV and parquet column by column, with the bytes
of writing the same records one by one, in every format and compression; what cannot go whole goes record by record."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow.parquet as pq
import pytest

from uis_provider.protocol.methods import UPLOADED_CALLS, ReportMethod
from uis_provider.storage.formats import COMPRESSIONS, FILE_FORMATS, csv_format, jsonl, open_record_writer, parquet
from uis_provider.storage.rows import Rows, row_type_for
from uis_provider.testing import UISEmulator

COMBOS = [(file_format, compression) for file_format in FILE_FORMATS for compression in COMPRESSIONS]
COLUMNS = UPLOADED_CALLS.columns
KINDS = dict(UPLOADED_CALLS.column_kinds)

#: A method the catalog does not document: ``payload`` is a column it has no type for.
CUSTOM = ReportMethod(
    "get.custom_report",
    time_field="start_time",
    columns=("id", "start_time", "score", "flag", "payload"),
    key_field="id",
    column_kinds=(("id", "int64"), ("score", "float64"), ("flag", "bool")),
    column_types=(("id", "number"), ("start_time", "iso8601"), ("score", "number"), ("flag", "boolean")),
)
CUSTOM_KINDS = dict(CUSTOM.column_kinds)

#: A NUL where the csv module can write one (Python 3.11+; on 3.10 both paths refuse it, see the test below).
NUL = "\x00" if csv_format._CSV_WRITES_NUL else ""

#: Values the writers treat specially: quotes, delimiters, line breaks (a bare ``\r`` too), non-ASCII, nulls.
ODD: list[dict[str, Any]] = [
    {
        "ext_id": "odd-1",
        "upload_time": "2026-01-04 10:00:01",
        "comment": 'Клиент: "перезвонить", завтра',
        "is_lost": None,
        "talk_duration": None,
        "tags": [{"tag_name": "лид", "tag_id": 7}, {"tag_name": 'a "b", c'}],
        "callback": {"url": "https://e.x/h?a=1,b=2", "events": ["processed", None]},
    },
    {"ext_id": "odd-2", "upload_time": "2026-01-04 10:00:02", "comment": "line one\r\nline two\rthree\nfour"},
    {"ext_id": "odd-3", "upload_time": "2026-01-04 10:00:03", "comment": "carriage\ronly", "records": []},
    {"ext_id": "odd-4", "upload_time": "2026-01-04 10:00:04", "comment": "", "tags": [], "callback": {}},
    {"ext_id": "odd-5", "comment": f"tab\tnul{NUL} \u2028 😀", "status": "error", "is_transfer": True},
]


def page_of(records: list[dict[str, Any]], method: ReportMethod = UPLOADED_CALLS) -> Rows:
    row_type = row_type_for(method, method.columns, method.columns)
    assert row_type is not None
    rows = row_type.decode(json.dumps(records, ensure_ascii=False).encode("utf-8"))
    assert rows is not None, "the page should fit its type"
    return rows


def write_pages(
    pages: list[Any], file_format: str, compression: str | None, columns: tuple[str, ...] = COLUMNS, **options: Any
) -> bytes:
    """Each page through ``write_batch`` (a typed page whole, a list record by record)."""
    buffer = io.BytesIO()
    with open_record_writer(buffer, file_format, columns, compression, **options) as writer:
        for page in pages:
            writer.write_batch(page)
    assert writer.records == sum(len(page) for page in pages)
    return buffer.getvalue()


def write_one_by_one(
    records: list[dict[str, Any]],
    file_format: str,
    compression: str | None,
    columns: tuple[str, ...] = COLUMNS,
    **options: Any,
) -> bytes:
    """The reference: every record through ``write``."""
    buffer = io.BytesIO()
    with open_record_writer(buffer, file_format, columns, compression, **options) as writer:
        for record in records:
            writer.write(record)
    return buffer.getvalue()


def forbid_record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a typed page that falls back to writing record by record fail the test."""

    def refuse(self: Any, record: Any) -> None:
        raise AssertionError("a typed page was written record by record")

    for writer in (jsonl._JsonLinesWriter, csv_format._CsvWriter, parquet._ParquetWriter):
        monkeypatch.setattr(writer, "write", refuse)


@pytest.fixture(scope="module")
def emulated() -> list[dict[str, Any]]:
    return UISEmulator(calls=1_500, seed=11).records()


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_typed_pages_give_the_bytes_of_writing_record_by_record(
    file_format: str, compression: str | None, emulated: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = emulated + ODD
    pages = [page_of(records[start : start + 400]) for start in range(0, len(records), 400)]
    reference = write_one_by_one(records, file_format, compression, column_kinds=KINDS, row_group_size=1_000)
    forbid_record_by_record(monkeypatch)
    typed = write_pages(pages, file_format, compression, column_kinds=KINDS, row_group_size=1_000)
    assert typed == reference


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_a_column_the_catalog_does_not_type_is_written_as_the_reference_does(
    file_format: str, compression: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = [None, "text, with comma", 12, True, False, {"b": [1, {"c": None}], "a": 'x"y'}, [1, "two"], 2.5, []]
    records = [
        {"id": index, "start_time": "2026-01-01 00:00:00", "score": index / 4, "flag": index % 2 == 0, "payload": value}
        for index, value in enumerate(payloads)
    ]
    options = {"column_kinds": CUSTOM_KINDS}
    reference = write_one_by_one(records, file_format, compression, CUSTOM.columns, **options)
    forbid_record_by_record(monkeypatch)
    assert write_pages([page_of(records, CUSTOM)], file_format, compression, CUSTOM.columns, **options) == reference


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_a_page_msgspec_would_print_otherwise_goes_record_by_record(file_format: str, compression: str | None) -> None:
    records = [
        {"id": 1, "start_time": "2026-01-01 00:00:00", "score": 1e-05, "payload": {"x": 1e16}},
        {"id": 2, "start_time": "2026-01-01 00:00:00", "score": 4.5, "payload": None},
    ]
    page = page_of(records, CUSTOM)
    assert not page.exact()
    options = {"column_kinds": CUSTOM_KINDS}
    reference = write_one_by_one(records, file_format, compression, CUSTOM.columns, **options)
    assert write_pages([page], file_format, compression, CUSTOM.columns, **options) == reference


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_typed_pages_and_plain_records_mix_in_order(
    file_format: str, compression: str | None, emulated: list[dict[str, Any]]
) -> None:
    first, second, third = emulated[:250], emulated[250:260], emulated[260:700]
    pages = [page_of(first), second, page_of(third), []]
    options = {"column_kinds": KINDS, "row_group_size": 300}
    reference = write_one_by_one(first + second + third, file_format, compression, **options)
    assert write_pages(pages, file_format, compression, **options) == reference


def test_parquet_row_groups_span_pages_as_record_by_record(emulated: list[dict[str, Any]]) -> None:
    pages = [page_of(emulated[start : start + 70]) for start in range(0, 490, 70)]
    data = write_pages(pages, "parquet", None, column_kinds=KINDS, row_group_size=120)
    metadata = pq.read_metadata(io.BytesIO(data))
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [120, 120, 120, 120, 10]
    assert data == write_one_by_one(emulated[:490], "parquet", None, column_kinds=KINDS, row_group_size=120)


def test_parquet_kinds_overridden_by_the_user_convert_typed_values_as_before(emulated: list[dict[str, Any]]) -> None:
    kinds = {**KINDS, "talk_duration": "string", "tags": "string", "is_lost": "int64", "ext_id": "json"}
    typed = write_pages([page_of(emulated[:300])], "parquet", None, column_kinds=kinds)
    assert typed == write_one_by_one(emulated[:300], "parquet", None, column_kinds=kinds)


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_fields_dropped_before_writing_are_left_out_of_a_typed_page(
    file_format: str, emulated: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = ("ext_id", "status", "tags")
    row_type = row_type_for(UPLOADED_CALLS, columns, (*columns, "upload_time"))
    assert row_type is not None
    page = row_type.decode(json.dumps(emulated[:200]).encode("utf-8"))
    assert page is None  # the emulator's records hold every column: not a page of this query
    asked = [{name: record[name] for name in (*columns, "upload_time")} for record in emulated[:200]]
    page = row_type.decode(json.dumps(asked).encode("utf-8"))
    assert page is not None
    page.forget(["upload_time"])
    reference = write_one_by_one([{name: r[name] for name in columns} for r in asked], file_format, None, columns)
    forbid_record_by_record(monkeypatch)
    assert write_pages([page], file_format, None, columns) == reference


def test_a_typed_page_holding_more_fields_than_the_columns_goes_record_by_record_in_json_lines(
    emulated: list[dict[str, Any]],
) -> None:
    page = page_of(emulated[:50])  # upload_time is a field of the page, not a column of this file
    columns = tuple(name for name in COLUMNS if name != "upload_time")
    reference = write_one_by_one(emulated[:50], "jsonl", None, columns)
    assert write_pages([page], "jsonl", None, columns) == reference
    assert b'"upload_time"' in reference  # a key beyond the columns is kept in JSON lines, as before


def test_one_column_csv_goes_through_the_csv_module() -> None:
    records = [{"comment": ""}, {"comment": None}, {"comment": "a,b"}]
    method = ReportMethod(
        "get.notes", time_field="comment", columns=("comment",), column_types=(("comment", "string"),)
    )
    page = page_of(records, method)
    reference = write_one_by_one(records, "csv", None, ("comment",))
    assert reference == b'comment\n""\n""\n"a,b"\n'
    assert write_pages([page], "csv", None, ("comment",)) == reference


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_text_utf8_cannot_hold_fails_as_the_reference_does(file_format: str) -> None:
    row_type = row_type_for(UPLOADED_CALLS, COLUMNS, COLUMNS)
    assert row_type is not None
    page = row_type.convert([{"ext_id": "a\ud800b"}])  # the standard library decodes lone surrogates
    assert page is not None
    with pytest.raises(UnicodeEncodeError):
        write_one_by_one([{"ext_id": "a\ud800b"}], file_format, None)
    with pytest.raises(UnicodeEncodeError):
        write_pages([page], file_format, None)


def test_csv_column_by_column_is_checked_against_the_csv_module_at_import() -> None:
    assert csv_format._CSV_BY_COLUMN is True
    assert csv_format._csv_by_column_agrees()


def test_a_nul_in_csv_is_written_or_refused_as_the_csv_module_does() -> None:
    records = [{**ODD[0], "comment": "nul\x00here"}, ODD[1]]
    page = page_of(records)
    if csv_format._CSV_WRITES_NUL:
        assert write_pages([page], "csv", None) == write_one_by_one(records, "csv", None)
        return
    for write in (lambda: write_pages([page], "csv", None), lambda: write_one_by_one(records, "csv", None)):
        with pytest.raises(csv.Error, match="need to escape"):
            write()


def test_an_empty_typed_page_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    page = page_of([])
    forbid_record_by_record(monkeypatch)
    for file_format, compression in COMBOS:
        assert write_pages([page], file_format, compression) == write_one_by_one([], file_format, compression)


def test_a_failure_in_a_later_slice_of_a_page_goes_on_record_by_record_from_that_slice(
    emulated: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jsonl, "_TYPED_SLICE", 100)
    records = [dict(record) for record in emulated[:450]]
    records[330]["comment"] = "lone \ud800 surrogate"
    row_type = row_type_for(UPLOADED_CALLS, COLUMNS, COLUMNS)
    assert row_type is not None
    page = row_type.convert(records)
    assert page is not None and page.exact()
    buffer = io.BytesIO()
    writer = open_record_writer(buffer, "jsonl", COLUMNS)
    written: list[str] = []
    monkeypatch.setattr(writer, "write", lambda record: written.append(record["ext_id"]))
    writer.write_batch(page)
    assert writer.records == 300  # slices 0-2 went whole, then the rest record by record
    assert written == [record["ext_id"] for record in records[300:]]
    assert buffer.getvalue() == write_one_by_one(records[:300], "jsonl", None)
    with pytest.raises(UnicodeEncodeError):
        write_pages([page], "jsonl", None)
