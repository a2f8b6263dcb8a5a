"""Deterministic streaming writers that turn UIS records (dicts) into JSON lines, CSV or Parquet bytes.

The same records always give byte-identical output (fixed key/column order, gzip without timestamp or
file name, no timestamps in Parquet), so a re-extracted window can be compared or de-duplicated by checksum.
JSON is encoded by msgspec when it is installed and a value is plain JSON, else by the stdlib: the same bytes.
A page of typed records (:class:`~uis_provider.storage.rows.Rows`) is written whole: JSON lines by msgspec a slice
at a time, CSV and parquet column by column; the bytes are those of writing its records one by one.

One module per format (:mod:`~uis_provider.storage.formats.jsonl`, :mod:`~uis_provider.storage.formats.csv_format`,
:mod:`~uis_provider.storage.formats.parquet`); what they share is in :mod:`~uis_provider.storage.formats.base`,
:mod:`~uis_provider.storage.formats.text` and :mod:`~uis_provider.storage.formats.json_text`; the output choices
are in :mod:`~uis_provider.storage.formats.options` and :func:`~uis_provider.storage.formats.writer.open_record_writer`
opens the writer for them. Import from here.
"""

from __future__ import annotations

from uis_provider.storage.formats.options import (
    COLUMN_KINDS,
    COMPRESSIONS,
    DEFAULT_ROW_GROUP_SIZE,
    FILE_FORMATS,
    PARQUET_INSTALL_HINT,
    UPLOADED_CALL_COLUMN_KINDS,
    default_extension,
    validate_column_kinds,
    validate_output_options,
)
from uis_provider.storage.formats.writer import RecordWriter, open_record_writer

__all__ = [
    "COLUMN_KINDS",
    "COMPRESSIONS",
    "DEFAULT_ROW_GROUP_SIZE",
    "FILE_FORMATS",
    "PARQUET_INSTALL_HINT",
    "UPLOADED_CALL_COLUMN_KINDS",
    "RecordWriter",
    "default_extension",
    "open_record_writer",
    "validate_column_kinds",
    "validate_output_options",
]
