"""Deterministic streaming writers that turn UIS records (dicts) into JSON lines, CSV or Parquet bytes.

The same records always give byte-identical output (fixed key/column order, gzip without timestamp or
file name, no timestamps in Parquet), so a re-extracted window can be compared or de-duplicated by checksum.
JSON is encoded by msgspec when it is installed and a value is plain JSON, else by the stdlib: the same bytes.
A page of typed records (:class:`~uis_provider.storage.rows.Rows`) is written whole: JSON lines by msgspec a slice
at a time, CSV and parquet column by column; the bytes are those of writing its records one by one.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import importlib.util
import struct
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType, SimpleNamespace, TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol

from uis_provider.exceptions import UISDataError
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.storage.fastjson import FastJson, load_fast_json
from uis_provider.storage.fastjson import json_line as _json_line
from uis_provider.storage.fastjson import json_sorted as _json_sorted
from uis_provider.storage.rows import ANY, BOOL, NESTED, Rows

if TYPE_CHECKING:
    from typing_extensions import Self

FILE_FORMATS: Final = ("jsonl", "csv", "parquet")
COMPRESSIONS: Final = (None, "gzip")

PARQUET_INSTALL_HINT: Final = "pip install pyarrow (the 'parquet' extra of airflow-provider-uis)"

COLUMN_KINDS: Final = ("string", "int64", "float64", "bool", "json")
"""Parquet column kinds: ``json`` stores nested values (lists, dicts) as JSON text in a string column."""

UPLOADED_CALL_COLUMN_KINDS: Final[Mapping[str, str]] = dict(UPLOADED_CALLS.column_kinds)
"""Parquet kinds of the non-string ``get.uploaded_calls`` fields (each method's are in its ``ReportMethod``)."""

DEFAULT_ROW_GROUP_SIZE: Final = 20_000

_PARQUET_CODECS: Final[Mapping[str | None, str]] = {None: "snappy", "gzip": "gzip"}
_EXTENSIONS: Final[Mapping[str, str]] = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
_NESTED: Final = frozenset({dict, list, tuple})
_CSV_SPECIAL: Final = frozenset({bool, dict, list, tuple})
_BOOL_CELL: Final[Mapping[Any, str]] = {True: "true", False: "false", None: ""}
_CSV_QUOTE_TRIGGERS: Final = (",", '"', "\r", "\n")
_TEXT_FLUSH_LINES: Final = 1024
#: Typed records encoded per msgspec call: a 10 000-record page's 7 MB of JSON lines go out in slices of ~1.5 MB.
_TYPED_SLICE: Final = 2048
_GZIP_LEVEL: Final = 6
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


_fast_json: FastJson | None = load_fast_json()
"""The optional msgspec encoder; None means every value goes through the stdlib ``json`` encoders."""


def _sorted_json_text(value: Any) -> str:
    """``_json_sorted(value)``, through msgspec when the value allows it."""
    fast = _fast_json
    if fast is not None:
        data = fast.sorted_json(value)
        if data is not None:
            return data.decode("utf-8")
    return _json_sorted(value)


class RecordWriter(Protocol):
    """Streams records into one output file; ``close()`` finishes the format but leaves the file open."""

    records: int

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record."""

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records in order, with the bytes of :meth:`write` on each; a typed page is encoded whole."""

    def close(self) -> None:
        """Flush buffers and write the format's trailer (gzip trailer, Parquet footer)."""

    def __enter__(self) -> Self:
        """Return the writer itself."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close on success; on an exception release resources without finishing the output."""


def _pyarrow_available() -> bool:
    if "pyarrow" in sys.modules:
        return sys.modules["pyarrow"] is not None
    return importlib.util.find_spec("pyarrow") is not None


def _import_pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:
        raise ValueError(_parquet_missing_message()) from err
    return pyarrow, pyarrow.parquet


def _parquet_missing_message() -> str:
    return f"file_format='parquet' needs pyarrow, which is not installed: {PARQUET_INSTALL_HINT}"


def validate_output_options(file_format: str, compression: str | None) -> None:
    """Fail early, with the allowed values, on an output format/compression the writers cannot produce.

    Parquet always compresses its column chunks itself: ``compression=None`` gives Parquet's snappy codec and
    ``compression="gzip"`` is mapped to Parquet's own gzip codec (the file stays a plain ``.parquet``).
    """
    if file_format not in FILE_FORMATS:
        allowed = ", ".join(repr(value) for value in FILE_FORMATS)
        raise ValueError(f"file_format must be one of {allowed}; got {file_format!r}")
    if compression not in COMPRESSIONS:
        allowed = ", ".join(repr(value) for value in COMPRESSIONS)
        raise ValueError(f"compression must be one of {allowed}; got {compression!r}")
    if file_format == "parquet" and not _pyarrow_available():
        raise ValueError(_parquet_missing_message())


def validate_column_kinds(kinds: Any) -> None:
    """Check a ``column_kinds`` mapping (column name -> one of :data:`COLUMN_KINDS`); ValueError names the bad entry."""
    if not isinstance(kinds, Mapping):
        raise ValueError(f"column_kinds must be a mapping of column name to kind, got {type(kinds).__name__}")
    for name, kind in kinds.items():
        if not isinstance(name, str) or kind not in COLUMN_KINDS:
            raise ValueError(f"column_kinds[{name!r}]={kind!r}: the kind must be one of {', '.join(COLUMN_KINDS)}")


def default_extension(file_format: str, compression: str | None) -> str:
    """Return the file extension for a format and compression, e.g. ``.jsonl.gz`` or ``.parquet``."""
    validate_output_options(file_format, compression)
    extension = _EXTENSIONS[file_format]
    if compression == "gzip" and file_format != "parquet":
        extension += ".gz"
    return extension


def open_record_writer(
    binary_file: BinaryIO,
    file_format: str,
    columns: Sequence[str],
    compression: str | None = None,
    *,
    column_kinds: Mapping[str, str] | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
) -> RecordWriter:
    """Return a writer that streams records into ``binary_file`` in ``columns`` order.

    JSON lines keep keys a record has beyond ``columns`` (appended, sorted); CSV and Parquet have a fixed
    header/schema, so they keep only ``columns``. ``column_kinds`` gives the Parquet kind of a column (see
    ``COLUMN_KINDS``; a column not named is a string column; a method's kinds are ``ReportMethod.column_kinds``),
    and ``row_group_size`` is the number of records Parquet buffers before it writes a row group.
    """
    validate_output_options(file_format, compression)
    names = _checked_columns(columns)
    if file_format == "parquet":
        kinds = dict(column_kinds or {})
        return _ParquetWriter(binary_file, names, kinds, _PARQUET_CODECS[compression], row_group_size)
    sink: _ByteSink = _GzipStream(binary_file) if compression == "gzip" else binary_file
    if file_format == "jsonl":
        return _JsonLinesWriter(sink, names)
    return _CsvWriter(sink, names)


def _checked_columns(columns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(columns, str) or not all(isinstance(name, str) and name for name in columns):
        raise ValueError(f"columns must be a sequence of non-empty field names; got {columns!r}")
    names = tuple(columns)
    if not names:
        raise ValueError("columns must name at least one field")
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"columns must be unique; repeated: {duplicates}")
    return names


class _ByteSink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class _GzipStream:
    """A gzip member with mtime 0 and no file name, written through to ``fileobj`` (which stays open)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj
        self._compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        fileobj.write(_GZIP_HEADER)

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._fileobj.write(self._compressor.compress(data))

    def close(self) -> None:
        self._fileobj.write(self._compressor.flush())
        self._fileobj.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))


class _FinishOrDiscard(abc.ABC):
    """Context-manager behaviour of every writer: finish the file on success, drop what is buffered on error."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the file (the underlying file object stays open)."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Drop what is buffered and write nothing more."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()


class _TextWriter(_FinishOrDiscard):
    """Shared state of the line formats: subclasses buffer lines and write them in chunks of UTF-8 bytes."""

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        self.records = 0
        self._sink = sink
        self._columns = columns
        self._column_set = frozenset(columns)
        self._closed = False

    @abc.abstractmethod
    def _flush(self) -> None:
        """Write the buffered lines to the sink as one chunk and empty the buffer."""

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write() on a closed record writer")

    def close(self) -> None:
        """Write buffered lines and, for gzip, the gzip trailer; the underlying file stays open."""
        if self._closed:
            return
        self._flush()
        if isinstance(self._sink, _GzipStream):
            self._sink.close()
        self._closed = True


def _canonical(value: dict[str, Any] | list[Any] | tuple[Any, ...]) -> Any:
    """Return a nested value with every dict's keys sorted, so equal records encode identically."""
    if isinstance(value, dict):
        return {key: _canonical(item) if item.__class__ in _NESTED else item for key, item in sorted(value.items())}
    return [_canonical(item) if item.__class__ in _NESTED else item for item in value]


class _JsonLinesWriter(_TextWriter):
    """One compact JSON object per ``\\n``-terminated line, keys in ``columns`` order."""

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        super().__init__(sink, columns)
        self._lines: list[bytes] = []
        fast = _fast_json
        self._fast_line = fast.row_encoder(columns) if fast is not None else None

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line (msgspec when the record is plain JSON, else the stdlib encoder).

        Text that UTF-8 cannot encode (lone surrogates) raises UnicodeEncodeError here.
        """
        self._check_open()
        line = self._fast_line(record) if self._fast_line is not None else None
        if line is None:
            line = self._stdlib_line(record).encode("utf-8")
        self._lines.append(line + b"\n")
        self.records += 1
        if len(self._lines) >= _TEXT_FLUSH_LINES:
            self._flush()

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records as JSON lines; a typed page holding exactly the columns is encoded by msgspec, a slice of
        :data:`_TYPED_SLICE` records per call (a page's text is never held whole)."""
        self._check_open()
        if not isinstance(records, Rows) or records.visible != self._columns or not records.exact():
            for record in records:
                self.write(record)
            return
        self._flush()
        items, row_type = records.items, records.row_type
        for start in range(0, len(items), _TYPED_SLICE):
            part = items[start : start + _TYPED_SLICE]
            try:
                data = row_type.encode_lines(part)
            except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
                for record in row_type.to_dicts(items[start:]):
                    self.write(record)
                return
            self._sink.write(data)
            self.records += len(part)

    def _flush(self) -> None:
        if self._lines:
            self._sink.write(b"".join(self._lines))
            self._lines.clear()

    def _discard(self) -> None:
        self._closed = True
        self._lines.clear()

    def _stdlib_line(self, record: Mapping[str, Any]) -> str:
        """The reference layout: columns, then extra keys sorted, nested dicts key-sorted, stdlib ``json``."""
        get = record.get
        row = {name: get(name) for name in self._columns}
        if not self._column_set.issuperset(record):
            for name in sorted(record.keys() - self._column_set):
                row[name] = record[name]
        for name, value in row.items():
            if value.__class__ in _NESTED:
                row[name] = _canonical(value)
        return _json_line(row)


def _csv_cell(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _sorted_json_text(value)


def _quoted_csv_line(row: list[Any]) -> str:
    """Render a row quoting every field that needs it, including a bare ``\\r`` the csv module leaves as is."""
    cells = []
    for value in row:
        text = "" if value is None else str(value)
        if any(trigger in text for trigger in _CSV_QUOTE_TRIGGERS):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells) + "\n"


def _csv_text(value: Any) -> str:
    """A cell's text before quoting, as the csv module writes ``_CsvWriter``'s row values."""
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    if value.__class__ in _CSV_SPECIAL:
        return str(_csv_cell(value))
    return repr(value) if isinstance(value, float) else str(value)


def _plain_texts(values: Sequence[Any]) -> list[str]:
    """A column of str, int or float values (or None) as cell texts; whole columns of one type are converted in C."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(values)
    if kinds == {int}:
        return list(map(str, values))
    return ["" if value is None else value if value.__class__ is str else str(value) for value in values]


def _quoted_cells(texts: list[str]) -> list[str]:
    """One column's cells, those holding a delimiter, quote or line break quoted (looked for once per column)."""
    joined = "".join(texts)
    if not any(trigger in joined for trigger in _CSV_QUOTE_TRIGGERS):
        return texts
    return [
        '"' + text.replace('"', '""') + '"' if "," in text or '"' in text or "\n" in text or "\r" in text else text
        for text in texts
    ]


def _csv_lines(cells: list[list[str]]) -> str:
    """Rows of already quoted cells (given column by column) as ``\n``-terminated CSV lines."""
    return "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"


def _csv_writes_nul() -> bool:
    """Whether the csv module writes a NUL (Python 3.11+); before, it refuses one with ``csv.Error``."""
    try:
        csv.writer(SimpleNamespace(write=lambda _line: None)).writerow(["\x00"])
    except csv.Error:
        return False
    return True


_CSV_WRITES_NUL: Final = _csv_writes_nul()


def _csv_by_column_agrees() -> bool:
    """Check at import that cells quoted column by column make the csv module's lines (with ``\r`` quoted)."""
    values = ["", "a", 'say "hi"', "a,b", "line\nbreak", "cr\ronly", "crlf\r\n", " lead", "tab\t", "é\u2028"]
    if _CSV_WRITES_NUL:
        values.append("\x00")
    rows = [[value, index, None, index % 2 == 0] for index, value in enumerate(values)]
    lines: list[str] = []
    writer = csv.writer(SimpleNamespace(write=lines.append), lineterminator="\n")
    for row in rows:
        cells_row = [value if value.__class__ is not bool else _csv_cell(value) for value in row]
        writer.writerow(cells_row)
        if "\r" in lines[-1]:
            lines[-1] = _quoted_csv_line(cells_row)
    columns = [[_csv_text(value) for value in column] for column in zip(*rows, strict=True)]
    return _csv_lines([_quoted_cells(column) for column in columns]) == "".join(lines)


_CSV_BY_COLUMN: Final = _csv_by_column_agrees()
"""Whether typed pages are written as CSV column by column (else through the csv module, row by row)."""


class _CsvWriter(_TextWriter):
    """RFC-4180 CSV with a ``columns`` header and ``\\n`` line ends; nested values as sorted-key JSON."""

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        super().__init__(sink, columns)
        self._lines: list[str] = []
        self._csv = csv.writer(SimpleNamespace(write=self._lines.append), lineterminator="\n")
        self._csv.writerow(columns)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a CSV row (keys beyond ``columns`` are not part of the fixed header)."""
        self._check_open()
        get = record.get
        row = [value if value.__class__ not in _CSV_SPECIAL else _csv_cell(value) for value in map(get, self._columns)]
        self._csv.writerow(row)
        if "\r" in self._lines[-1]:
            self._lines[-1] = _quoted_csv_line(row)
        self.records += 1
        if len(self._lines) >= _TEXT_FLUSH_LINES:
            self._flush()

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records as CSV rows; a typed page is turned into text column by column, in C where it can."""
        self._check_open()
        text = self._typed_text(records) if isinstance(records, Rows) else None
        if text is None:
            for record in records:
                self.write(record)
            return
        self._flush()
        self._sink.write(text.encode("utf-8"))
        self.records += len(records)

    def _typed_text(self, rows: Rows) -> str | None:
        """The page's CSV lines, or None when they might differ from the csv module's (then records go one by one)."""
        if not _CSV_BY_COLUMN or len(self._columns) < 2:
            return None
        if not self._column_set.issubset(rows.visible) or not rows.exact():
            return None
        if not rows:
            return ""
        row_type = rows.row_type
        fields = rows.columns()
        cells = []
        try:
            for name in self._columns:
                values = fields[row_type.index[name]]
                shape = row_type.shapes[name]
                if shape == BOOL:
                    texts = list(map(_BOOL_CELL.__getitem__, values))
                elif shape == NESTED:
                    texts = row_type.json_texts(list(values), null="")
                elif shape == ANY:
                    texts = list(map(_csv_text, values))
                else:
                    texts = _plain_texts(values)
                cells.append(_quoted_cells(texts))
        except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
            return None
        text = _csv_lines(cells)
        if not _CSV_WRITES_NUL and "\x00" in text:
            return None  # Python 3.10's csv module refuses a NUL: the reference path raises it as before
        return text

    def _flush(self) -> None:
        if self._lines:
            self._sink.write("".join(self._lines).encode("utf-8"))
            self._lines.clear()

    def _discard(self) -> None:
        self._closed = True
        self._lines.clear()


def _int_or_fail(column: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise UISDataError(f"column {column!r} is int64 in the parquet schema but a record holds {value!r:.80}")

    return convert


def _float_or_fail(column: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, float, str)):
            try:
                return float(value)
            except ValueError:
                pass
        raise UISDataError(f"column {column!r} is float64 in the parquet schema but a record holds {value!r:.80}")

    return convert


def _bool_or_fail(column: str) -> Callable[[Any], Any]:
    words = {"true": True, "false": False, "1": True, "0": False}

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in words:
            return words[value.strip().lower()]
        raise UISDataError(f"column {column!r} is bool in the parquet schema but a record holds {value!r:.80}")

    return convert


def _string_cell(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value.__class__ in _NESTED:
        return _sorted_json_text(value)
    return str(value)


class _ParquetWriter(_FinishOrDiscard):
    """Parquet with a schema fixed by ``columns``; one row group per ``row_group_size`` records.

    Records are buffered as Arrow arrays, a chunk per page (a typed page converted column by column, records written
    one by one converted when a page or a row group follows them); a row group is cut from the chunks, so the groups
    and their values are those of writing every record one by one.
    """

    def __init__(
        self,
        binary_file: BinaryIO,
        columns: tuple[str, ...],
        kinds: Mapping[str, str],
        codec: str,
        row_group_size: int,
    ) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be at least 1; got {row_group_size!r}")
        validate_column_kinds(kinds)
        column_kinds = tuple(kinds.get(name, "string") for name in columns)
        self._pa, parquet = _import_pyarrow()
        pa = self._pa
        arrow_types = {
            "string": pa.string(),
            "json": pa.string(),
            "int64": pa.int64(),
            "float64": pa.float64(),
            "bool": pa.bool_(),
        }
        self.records = 0
        self._columns = columns
        self._column_set = frozenset(columns)
        self._kinds = column_kinds
        self._arrow_types = tuple(arrow_types[kind] for kind in column_kinds)
        self._schema = pa.schema(
            [pa.field(name, arrow_types[kind]) for name, kind in zip(columns, column_kinds, strict=True)]
        )
        self._row_group_size = row_group_size
        self._rows: list[tuple[Any, ...]] = []
        #: Buffered chunks of records, each an Arrow array per column.
        self._chunks: list[list[Any]] = []
        self._buffered = 0
        self._writer = parquet.ParquetWriter(binary_file, self._schema, compression=codec)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write() on a closed record writer")

    def write(self, record: Mapping[str, Any]) -> None:
        """Buffer one record; a full buffer becomes a row group."""
        self._check_open()
        self._rows.append(tuple(map(record.get, self._columns)))
        self.records += 1
        self._buffered += 1
        if self._buffered >= self._row_group_size:
            self._flush()

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Buffer records; a typed page is converted column by column (json columns encoded in one call each)."""
        self._check_open()
        columns = self._typed_columns(records) if isinstance(records, Rows) else None
        if columns is None:
            for record in records:
                self.write(record)
            return
        self._seal_rows()
        self._chunks.append([self._array(index, values) for index, values in enumerate(columns)])
        self.records += len(records)
        self._buffered += len(records)
        if self._buffered >= self._row_group_size:
            self._flush()

    def _typed_columns(self, rows: Rows) -> list[Sequence[Any]] | None:
        """The page's values column by column (json columns as text), or None when msgspec could write a cell
        otherwise."""
        if not self._column_set.issubset(rows.visible) or not rows.exact():
            return None
        row_type = rows.row_type
        fields = rows.columns() if rows else [() for _ in row_type.fields]
        columns: list[Sequence[Any]] = []
        try:
            for name, kind in zip(self._columns, self._kinds, strict=True):
                values: Sequence[Any] = fields[row_type.index[name]]
                if kind == "json":
                    values = row_type.json_texts(list(values))
                elif row_type.shapes[name] == NESTED:
                    values = row_type.to_dicts(list(values))
                columns.append(values)
        except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
            return None
        return columns

    def _seal_rows(self) -> None:
        """Turn the records written one by one into a chunk."""
        if not self._rows:
            return
        columns: list[Sequence[Any]] = list(zip(*self._rows, strict=True))
        self._rows = []
        for index, kind in enumerate(self._kinds):
            if kind == "json":
                columns[index] = [None if value is None else _sorted_json_text(value) for value in columns[index]]
        self._chunks.append([self._array(index, values) for index, values in enumerate(columns)])

    def _array(self, index: int, values: Sequence[Any]) -> Any:
        """One column's values as an Arrow array of its kind (json values already as text)."""
        pa = self._pa
        kind = self._kinds[index]
        arrow_type = self._arrow_types[index]
        if kind == "json":
            return pa.array(values, arrow_type)
        try:
            return pa.array(values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            column = self._columns[index]
            converters: dict[str, Callable[[Any], Any]] = {
                "int64": _int_or_fail(column),
                "float64": _float_or_fail(column),
                "bool": _bool_or_fail(column),
                "string": _string_cell,
            }
            return pa.array([converters[kind](value) for value in values], arrow_type)

    def _flush(self, *, last: bool = False) -> None:
        """Write a row group per ``row_group_size`` records buffered; with ``last`` the rest too."""
        self._seal_rows()
        while self._buffered >= self._row_group_size or (last and self._buffered):
            size = min(self._buffered, self._row_group_size)
            chunks = self._chunks
            joined = [
                chunks[0][index] if len(chunks) == 1 else self._pa.concat_arrays([chunk[index] for chunk in chunks])
                for index in range(len(self._columns))
            ]
            self._chunks = [[array.slice(size) for array in joined]] if self._buffered > size else []
            self._buffered -= size
            group = [array.slice(0, size) if len(array) > size else array for array in joined]
            table = self._pa.Table.from_arrays(group, schema=self._schema)
            self._writer.write_table(table, row_group_size=len(table))

    def close(self) -> None:
        """Write the last row group and the footer; the underlying file stays open.

        When the last row group fails (a value its column cannot hold), the Parquet writer is discarded before the
        error goes on: left open, it would try to finish the file when collected, after the file is closed.
        """
        if self._closed:
            return
        try:
            self._flush(last=True)
        except BaseException:
            self._discard()
            raise
        self._writer.close()
        self._closed = True

    def _discard(self) -> None:
        self._closed = True
        self._rows = []
        self._chunks = []
        self._buffered = 0
        with contextlib.suppress(Exception):
            self._writer.close()
