"""The output choices of the record writers (format, compression, Parquet column kinds) and their checks."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from typing import Any, Final

from uis_provider.protocol.methods import UPLOADED_CALLS

FILE_FORMATS: Final = ("jsonl", "csv", "parquet")
COMPRESSIONS: Final = (None, "gzip")

PARQUET_INSTALL_HINT: Final = "pip install pyarrow (the 'parquet' extra of airflow-provider-uis)"

COLUMN_KINDS: Final = ("string", "int64", "float64", "bool", "json")
"""Parquet column kinds: ``json`` stores nested values (lists, dicts) as JSON text in a string column."""

UPLOADED_CALL_COLUMN_KINDS: Final[Mapping[str, str]] = dict(UPLOADED_CALLS.column_kinds)
"""Parquet kinds of the non-string ``get.uploaded_calls`` fields (each method's are in its ``ReportMethod``)."""

DEFAULT_ROW_GROUP_SIZE: Final = 20_000

_EXTENSIONS: Final[Mapping[str, str]] = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}


def _pyarrow_available() -> bool:
    if "pyarrow" in sys.modules:
        return sys.modules["pyarrow"] is not None
    return importlib.util.find_spec("pyarrow") is not None


def parquet_missing_message() -> str:
    """The error text for Parquet output without pyarrow installed, with the command that installs it."""
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
        raise ValueError(parquet_missing_message())


def validate_column_kinds(kinds: Any) -> dict[str, str]:
    """A ``column_kinds`` mapping (column name -> one of :data:`COLUMN_KINDS`) as a dict; ValueError names the bad
    entry."""
    if not isinstance(kinds, Mapping):
        raise ValueError(f"column_kinds must be a mapping of column name to kind, got {type(kinds).__name__}")
    for name, kind in kinds.items():
        if not isinstance(name, str) or kind not in COLUMN_KINDS:
            raise ValueError(f"column_kinds[{name!r}]={kind!r}: the kind must be one of {', '.join(COLUMN_KINDS)}")
    return dict(kinds)


def default_extension(file_format: str, compression: str | None) -> str:
    """Return the file extension for a format and compression, e.g. ``.jsonl.gz`` or ``.parquet``."""
    validate_output_options(file_format, compression)
    extension = _EXTENSIONS[file_format]
    if compression == "gzip" and file_format != "parquet":
        extension += ".gz"
    return extension
