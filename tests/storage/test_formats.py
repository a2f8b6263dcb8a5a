"""Record writers: round trips per format and compression, stable order, determinism, empty output, options."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from uis_provider.exceptions import UISDataError
from uis_provider.storage.atomic import atomic_output
from uis_provider.storage.formats import (
    COMPRESSIONS,
    FILE_FORMATS,
    UPLOADED_CALL_COLUMN_KINDS,
    default_extension,
    open_record_writer,
    validate_output_options,
)

COLUMNS = (
    "ext_id",
    "upload_time",
    "direction",
    "is_lost",
    "is_transfer",
    "talk_duration",
    "campaign_id",
    "comment",
    "status",
    "error_code",
    "callback",
    "tags",
    "records",
)

RECORDS: list[dict[str, Any]] = [
    {
        "status": "processed",
        "ext_id": "call-1",
        "upload_time": "2026-01-04 10:00:01",
        "direction": "in",
        "is_lost": False,
        "is_transfer": True,
        "talk_duration": 125,
        "campaign_id": 42,
        "comment": 'Клиент: "перезвонить", завтра',
        "error_code": None,
        "callback": {"url": "https://example.com/hook", "events": ["processed", "error"]},
        "tags": [{"tag_name": "лид", "tag_id": 7}, {"tag_name": "vip"}],
        "records": [
            {
                "record_url": "https://example.com/1.wav",
                "employee_name": "Иван",
                "employee_id": 3,
                "employee_channel": "left",
            }
        ],
    },
    {
        "ext_id": "call-2",
        "upload_time": "2026-01-04 10:00:02",
        "direction": "out",
        "is_lost": True,
        "is_transfer": False,
        "talk_duration": 0,
        "campaign_id": None,
        "comment": "line one\r\nline two\rthree\nfour",
        "status": "error",
        "error_code": "wav_min_duration_processing_error",
        "callback": None,
        "tags": [],
        "records": None,
    },
    {
        "ext_id": "call-3",
        "upload_time": "2026-01-04 10:00:03",
        "is_lost": False,
        "comment": "carriage\rreturn only",
        "status": "",
        "zz_extra": {"b": 1, "a": [1, 2]},
        "aa_extra": "kept in JSON lines only",
    },
]

COMBOS = [(file_format, compression) for file_format in FILE_FORMATS for compression in COMPRESSIONS]
INT_COLUMNS = {"talk_duration", "campaign_id"}
BOOL_COLUMNS = {"is_lost", "is_transfer"}
JSON_COLUMNS = {"callback", "tags", "records"}


def write(records: list[dict[str, Any]], file_format: str, compression: str | None, **options: Any) -> bytes:
    options.setdefault("column_kinds", UPLOADED_CALL_COLUMN_KINDS)
    buffer = io.BytesIO()
    writer = open_record_writer(buffer, file_format, COLUMNS, compression, **options)
    for record in records:
        writer.write(record)
    writer.close()
    assert writer.records == len(records)
    assert not buffer.closed
    return buffer.getvalue()


def text_of(data: bytes, compression: str | None) -> str:
    if compression == "gzip":
        assert data[:2] == b"\x1f\x8b"
        return gzip.decompress(data).decode("utf-8")
    assert data[:2] != b"\x1f\x8b"
    return data.decode("utf-8")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_round_trip(file_format: str, compression: str | None) -> None:
    data = write(RECORDS, file_format, compression)

    if file_format == "jsonl":
        text = text_of(data, compression)
        assert text.endswith("\n")
        lines = text.split("\n")[:-1]
        assert len(lines) == len(RECORDS)
        for line, record in zip(lines, RECORDS, strict=True):
            decoded = json.loads(line)
            extras = sorted(set(record) - set(COLUMNS))
            assert list(decoded) == [*COLUMNS, *extras]
            assert decoded == {**{name: record.get(name) for name in COLUMNS}, **{k: record[k] for k in extras}}
    elif file_format == "csv":
        text = text_of(data, compression)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == list(COLUMNS)
        assert rows[1:] == [[csv_cell(record.get(name)) for name in COLUMNS] for record in RECORDS]
        assert json.loads(rows[1][COLUMNS.index("tags")]) == RECORDS[0]["tags"]
    else:
        table = pq.read_table(io.BytesIO(data))
        assert table.column_names == list(COLUMNS)
        for row, record in zip(table.to_pylist(), RECORDS, strict=True):
            for name in COLUMNS:
                expected = record.get(name)
                if name in JSON_COLUMNS and expected is not None:
                    assert json.loads(row[name]) == expected
                else:
                    assert row[name] == expected
                    assert type(row[name]) is type(expected)


def test_jsonl_is_compact_utf8_with_one_newline_per_record() -> None:
    data = write([{"comment": "Привет, мир", "ext_id": "a", "tags": [{"tag_name": "x"}]}], "jsonl", None)
    line = data.decode("utf-8")
    assert "Привет, мир" in line
    assert "\\u" not in line
    assert line.startswith('{"ext_id":"a","upload_time":null,')
    assert line.endswith('"tags":[{"tag_name":"x"}],"records":null}\n')
    assert line.count("\n") == 1


def test_csv_writes_header_then_rows_with_newline_endings() -> None:
    text = write(RECORDS[:1], "csv", None).decode("utf-8")
    header, row, tail = text.split("\n", 2)
    assert header == ",".join(COLUMNS)
    assert "\r" not in header + row
    assert tail == ""
    assert ",false,true,125,42," in row


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_output_is_byte_identical_whatever_the_key_order(file_format: str, compression: str | None) -> None:
    shuffled = []
    for record in RECORDS:
        reordered: dict[str, Any] = {}
        for key in reversed(list(record)):
            value = record[key]
            if isinstance(value, dict):
                value = dict(reversed(list(value.items())))
            elif isinstance(value, list):
                value = [dict(reversed(list(v.items()))) if isinstance(v, dict) else v for v in value]
            reordered[key] = value
        shuffled.append(reordered)
    assert [list(r) for r in shuffled] != [list(r) for r in RECORDS]

    first = write(RECORDS, file_format, compression)
    assert write(RECORDS, file_format, compression) == first
    assert write(shuffled, file_format, compression) == first


def test_gzip_header_has_no_timestamp_or_name() -> None:
    data = write(RECORDS, "csv", "gzip")
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert flags == 0
    assert mtime == 0


@pytest.mark.parametrize(("compression", "codec"), [(None, "SNAPPY"), ("gzip", "GZIP")])
def test_parquet_compresses_internally(compression: str | None, codec: str) -> None:
    data = write(RECORDS, "parquet", compression)
    assert data[:4] == b"PAR1"
    metadata = pq.read_metadata(io.BytesIO(data))
    assert metadata.row_group(0).column(0).compression == codec


def test_parquet_schema_is_fixed_by_columns() -> None:
    schema = pq.read_schema(io.BytesIO(write([], "parquet", None)))
    types = {field.name: str(field.type) for field in schema}
    assert list(types) == list(COLUMNS)
    for name, arrow_type in types.items():
        if name in INT_COLUMNS:
            assert arrow_type == "int64"
        elif name in BOOL_COLUMNS:
            assert arrow_type == "bool"
        else:
            assert arrow_type == "string"


def test_parquet_flushes_a_row_group_per_batch() -> None:
    buffer = io.BytesIO()
    writer = open_record_writer(buffer, "parquet", COLUMNS, row_group_size=2, column_kinds=UPLOADED_CALL_COLUMN_KINDS)
    writer.write(RECORDS[0])
    size_before_batch = len(buffer.getvalue())
    writer.write(RECORDS[1])
    assert len(buffer.getvalue()) > size_before_batch
    writer.write(RECORDS[2])
    writer.close()
    metadata = pq.read_metadata(io.BytesIO(buffer.getvalue()))
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [2, 1]


def test_parquet_coerces_compatible_values_and_rejects_others() -> None:
    odd = {"ext_id": 17, "talk_duration": "31", "is_lost": "true", "comment": ["a", "b"], "status": True}
    row = pq.read_table(io.BytesIO(write([odd], "parquet", None))).to_pylist()[0]
    assert row["ext_id"] == "17"
    assert row["talk_duration"] == 31
    assert row["is_lost"] is True
    assert row["comment"] == '["a","b"]'
    assert row["status"] == "true"

    with pytest.raises(
        UISDataError, match=r"column 'talk_duration' is int64 in the parquet schema but a record holds 'long'"
    ):
        write([{"talk_duration": "long"}], "parquet", None)


def test_a_parquet_error_while_finishing_leaves_no_writer_to_fail_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value in the last row group fails the write; the Parquet writer must not try again when collected
    (it used to, on the file the atomic output had closed: "Exception ignored in ParquetWriter.__del__")."""
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with (
        pytest.raises(UISDataError, match="talk_duration"),
        atomic_output(str(tmp_path / "day.parquet")) as binary_file,
        open_record_writer(binary_file, "parquet", COLUMNS, None, column_kinds=UPLOADED_CALL_COLUMN_KINDS) as w,
    ):
        w.write({"talk_duration": "long"})
    del w, binary_file
    gc.collect()
    assert [str(hook.exc_value) for hook in unraisable] == []
    assert list(tmp_path.iterdir()) == []


def test_parquet_columns_without_kinds_are_strings() -> None:
    data = write([{"ext_id": "9", "talk_duration": 31, "is_lost": True}], "parquet", None, column_kinds=None)
    table = pq.read_table(io.BytesIO(data))
    assert {str(field.type) for field in table.schema} == {"string"}
    row = table.to_pylist()[0]
    assert (row["talk_duration"], row["is_lost"]) == ("31", "true")


def test_parquet_column_kinds_override() -> None:
    data = write([{"ext_id": "9", "comment": {"k": 1}}], "parquet", None, column_kinds={"ext_id": "int64"})
    table = pq.read_table(io.BytesIO(data))
    assert str(table.schema.field("ext_id").type) == "int64"
    assert table.to_pylist()[0]["ext_id"] == 9
    with pytest.raises(ValueError, match="the kind must be one of"):
        write([], "parquet", None, column_kinds={"ext_id": "decimal"})


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_empty_output_is_valid(file_format: str, compression: str | None) -> None:
    data = write([], file_format, compression)
    if file_format == "jsonl":
        assert text_of(data, compression) == ""
        assert (data == b"") == (compression is None)
    elif file_format == "csv":
        assert text_of(data, compression) == ",".join(COLUMNS) + "\n"
    else:
        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == 0
        assert table.column_names == list(COLUMNS)


@pytest.mark.parametrize(
    ("file_format", "compression", "extension"),
    [
        ("jsonl", None, ".jsonl"),
        ("jsonl", "gzip", ".jsonl.gz"),
        ("csv", None, ".csv"),
        ("csv", "gzip", ".csv.gz"),
        ("parquet", None, ".parquet"),
        ("parquet", "gzip", ".parquet"),
    ],
)
def test_default_extension(file_format: str, compression: str | None, extension: str) -> None:
    assert default_extension(file_format, compression) == extension


def test_bad_file_format_names_parameter_value_and_choices() -> None:
    with pytest.raises(ValueError, match="file_format") as info:
        validate_output_options("xml", None)
    assert "'xml'" in str(info.value)
    assert "'jsonl', 'csv', 'parquet'" in str(info.value)


def test_bad_compression_names_parameter_value_and_choices() -> None:
    with pytest.raises(ValueError, match="compression") as info:
        open_record_writer(io.BytesIO(), "jsonl", COLUMNS, "zip")
    assert "'zip'" in str(info.value)
    assert "None, 'gzip'" in str(info.value)


def test_parquet_without_pyarrow_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    for call in (
        lambda: validate_output_options("parquet", None),
        lambda: open_record_writer(io.BytesIO(), "parquet", COLUMNS),
    ):
        with pytest.raises(ValueError, match=r"pip install pyarrow \(the 'parquet' extra"):
            call()
    validate_output_options("csv", "gzip")


@pytest.mark.parametrize("columns", ["ext_id", [], ["ext_id", "ext_id"], ["ext_id", ""]])
def test_bad_columns_are_rejected(columns: Any) -> None:
    with pytest.raises(ValueError, match="columns"):
        open_record_writer(io.BytesIO(), "jsonl", columns)


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_write_after_close_fails_and_close_is_idempotent(file_format: str, compression: str | None) -> None:
    buffer = io.BytesIO()
    writer = open_record_writer(buffer, file_format, COLUMNS, compression)
    writer.write(RECORDS[0])
    writer.close()
    size = len(buffer.getvalue())
    writer.close()
    assert len(buffer.getvalue()) == size
    with pytest.raises(ValueError, match="closed"):
        writer.write(RECORDS[1])


@pytest.mark.parametrize(("file_format", "compression"), COMBOS)
def test_context_manager_closes_on_success_and_keeps_the_error(file_format: str, compression: str | None) -> None:
    buffer = io.BytesIO()
    kinds = UPLOADED_CALL_COLUMN_KINDS
    with open_record_writer(buffer, file_format, COLUMNS, compression, column_kinds=kinds) as writer:
        writer.write(RECORDS[0])
    assert write(RECORDS[:1], file_format, compression) == buffer.getvalue()

    failed = open_record_writer(io.BytesIO(), file_format, COLUMNS, compression)

    def write_then_raise() -> None:
        with failed as writer:
            writer.write(RECORDS[0])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_raise()
    with pytest.raises(ValueError, match="closed"):
        failed.write(RECORDS[0])
