"""The upload operator's own parameters: batch size, on_invalid, request-id prefix, input format."""

from __future__ import annotations

from typing import Any

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.upload_params import (
    input_format,
    validate_batch_size,
    validate_on_invalid,
    validate_request_prefix,
)
from uis_provider.protocol.upload_rules import MAX_BATCH_CALLS


@pytest.mark.parametrize("value", [0, 51, -1, "x", 2.5, True])
def test_batch_size_outside_1_to_50_is_refused(value: Any) -> None:
    with pytest.raises(UISConfigurationError, match="batch_size must be a whole number from 1 to 50"):
        validate_batch_size(value)


def test_parameter_checks_accept_good_values() -> None:
    assert validate_batch_size("25") == 25
    assert validate_batch_size(MAX_BATCH_CALLS) == 50
    assert validate_on_invalid("skip") == "skip"
    assert validate_request_prefix(None) is None
    assert validate_request_prefix("crm-export_2026-01-14T00:00:00+03:00") is not None
    with pytest.raises(UISConfigurationError, match="on_invalid must be 'fail'"):
        validate_on_invalid("ignore")
    with pytest.raises(UISConfigurationError, match="request_id_prefix must be 1 to 100"):
        validate_request_prefix("has space")


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("calls.jsonl", None, "jsonl"),
        ("calls.NDJSON.gz", None, "jsonl"),
        ("calls.csv.gz", None, "csv"),
        ("calls.txt", "csv", "csv"),
    ],
)
def test_input_format_from_name_or_parameter(name: str, given: str | None, expected: str) -> None:
    assert input_format(name, given) == expected


def test_input_format_unknown_names_the_parameter() -> None:
    with pytest.raises(UISConfigurationError, match="set file_format to 'jsonl' or 'csv'"):
        input_format("calls.json")
    with pytest.raises(UISConfigurationError, match="file_format must be one of"):
        input_format("calls.jsonl", "parquet")


def test_on_invalid_names_both_choices_and_what_they_do() -> None:
    with pytest.raises(UISConfigurationError) as refused:
        validate_on_invalid("ignore")
    assert refused.value.message == (
        "on_invalid must be 'fail' or 'skip' ('fail' sends nothing when a row is invalid, 'skip' sends the valid rows "
        "and reports the others), got 'ignore'"
    )
