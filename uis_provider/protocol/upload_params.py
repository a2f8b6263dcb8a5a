"""Checks of the upload operator's own parameters, made when the DAG is parsed or before anything is read or sent."""

from __future__ import annotations

import re
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.params import one_of
from uis_provider.protocol.upload_rules import MAX_BATCH_CALLS

INPUT_FORMATS = ("jsonl", "csv")
ON_INVALID = ("fail", "skip")

_REQUEST_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}")


def validate_batch_size(value: Any) -> int:
    """``batch_size`` as an int in 1..50."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH_CALLS:
        raise UISConfigurationError(
            f"batch_size must be a whole number from 1 to {MAX_BATCH_CALLS} (the API's limit of calls per "
            f"upload.calls request), got {value!r}"
        )
    return int(value)


def validate_on_invalid(value: Any) -> str:
    """``on_invalid`` as ``"fail"`` or ``"skip"``."""
    return one_of(
        value,
        ON_INVALID,
        "on_invalid",
        "'fail' sends nothing when a row is invalid, 'skip' sends the valid rows and reports the others",
    )


def validate_csv_delimiter(value: Any) -> str:
    """``csv_delimiter``: one character other than a quote, a line break or a space."""
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n ':
        raise UISConfigurationError(f"csv_delimiter must be one character such as ',' or ';', got {value!r}")
    return value


def validate_request_prefix(value: Any) -> str | None:
    """``request_id_prefix``: unset, or 1..100 characters of letters, digits and ``. _ : + -``."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _REQUEST_PREFIX.fullmatch(value):
        raise UISConfigurationError(
            "request_id_prefix must be 1 to 100 characters of letters, digits and . _ : + - (starting with a letter "
            f"or digit), got {value!r}"
        )
    return value


def input_format(name: str, file_format: Any = None) -> str:
    """The format of a source file: ``file_format`` when given, else from its name (``.gz`` ignored)."""
    if file_format not in (None, ""):
        if file_format not in INPUT_FORMATS:
            raise UISConfigurationError(
                f"file_format must be one of {INPUT_FORMATS} (or None to infer), got {file_format!r}"
            )
        return str(file_format)
    stem = name.lower()
    for suffix in (".gz", ".gzip"):
        stem = stem.removesuffix(suffix)
    if stem.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if stem.endswith(".csv"):
        return "csv"
    raise UISConfigurationError(
        f"source_path {name!r} does not end in .jsonl, .ndjson or .csv (optionally .gz); set file_format to "
        "'jsonl' or 'csv'"
    )
