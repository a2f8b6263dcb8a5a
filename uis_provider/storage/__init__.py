"""Record formats and all-or-nothing object-storage output for landing UIS records."""

from __future__ import annotations

from uis_provider.storage.atomic import atomic_output, filesystem_of, remove_stale_temps, to_storage_path
from uis_provider.storage.formats import (
    COLUMN_KINDS,
    COMPRESSIONS,
    FILE_FORMATS,
    UPLOADED_CALL_COLUMN_KINDS,
    RecordWriter,
    default_extension,
    open_record_writer,
    validate_output_options,
)

__all__ = [
    "COLUMN_KINDS",
    "COMPRESSIONS",
    "FILE_FORMATS",
    "UPLOADED_CALL_COLUMN_KINDS",
    "RecordWriter",
    "atomic_output",
    "default_extension",
    "filesystem_of",
    "open_record_writer",
    "remove_stale_temps",
    "to_storage_path",
    "validate_output_options",
]
