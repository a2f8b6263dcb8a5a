"""The writer of a format: :func:`open_record_writer` returns the :class:`RecordWriter` for a format and compression."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from uis_provider.storage.formats.csv_format import _CsvWriter
from uis_provider.storage.formats.jsonl import _JsonLinesWriter
from uis_provider.storage.formats.options import DEFAULT_ROW_GROUP_SIZE, validate_output_options
from uis_provider.storage.formats.parquet import _PARQUET_CODECS, _ParquetWriter
from uis_provider.storage.formats.text import _ByteSink, _GzipStream

if TYPE_CHECKING:
    from typing_extensions import Self


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
