"""Reading the user's calls: JSON lines and CSV keep their line numbers, CSV cells become typed fields."""

from __future__ import annotations

import json

import pytest

from tests.protocol.test_upload_rules import good_call
from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.upload_plan import validate_rows
from uis_provider.protocol.upload_rows import SourceRow, csv_rows, jsonl_rows, list_rows


def test_jsonl_keeps_line_numbers_across_blank_and_broken_lines() -> None:
    lines = [json.dumps(good_call(1)), "", "{not json", "  ", json.dumps(good_call(2)), "null", "[1]"]
    valid, invalid = validate_rows(jsonl_rows(lines))
    assert [v.line for v in valid] == [1, 5]
    assert [(i.line, i.reason.split(" (")[0]) for i in invalid] == [
        (3, "not valid JSON"),
        (6, "a call must be a JSON object, got NoneType"),
        (7, "a call must be a JSON object, got list"),
    ]


def csv_text(header: list[str], *rows: list[str]) -> list[str]:
    """CSV lines as a file opened with newline='' yields them."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().splitlines(keepends=True)


def test_csv_cells_become_typed_fields_and_empty_cells_are_left_out() -> None:
    header = ["\ufeffext_id", "is_lost", "is_transfer", "talk_duration", "site_id", "comment", "tags", "mp3_records"]
    lines = csv_text(
        header,
        [
            "a-1",
            "false",
            "Yes",
            "120",
            "",
            " keep spaces ",
            '[{"tag_name": "VIP"}]',
            '[{"record_url": "https://r/1.mp3"}]',
        ],
        ["a-2", "TRUE", "0", " 7 ", "15", "", "", ""],
    )
    valid, invalid = validate_rows(csv_rows(lines))
    assert invalid == []
    assert [v.call for v in valid] == [
        {
            "ext_id": "a-1",
            "is_lost": False,
            "is_transfer": True,
            "talk_duration": 120,
            "comment": " keep spaces ",
            "tags": [{"tag_name": "VIP"}],
            "mp3_records": [{"record_url": "https://r/1.mp3"}],
        },
        {"ext_id": "a-2", "is_lost": True, "is_transfer": False, "talk_duration": 7, "site_id": 15},
    ]


def test_csv_rows_keep_their_first_line_and_name_bad_cells() -> None:
    lines = csv_text(
        ["ext_id", "is_lost", "talk_duration", "comment", "tags"],
        ["a-1", "false", "10", "two\nlines", ""],
        ["a-2", "maybe", "ten", "", "[{"],
        ["a-3", "false"],
        ["", "", "", "", ""],
        ["a-4", "true", "5", "", ""],
    )
    valid, invalid = validate_rows(csv_rows(lines))
    assert [v.line for v in valid] == [2, 7]
    assert valid[0].call["comment"] == "two\nlines"
    assert [i.line for i in invalid] == [4, 5]
    assert invalid[0].reason.startswith("tags must hold JSON")
    assert "is_lost must be true or false, got 'maybe'" in invalid[0].reason
    assert "talk_duration must be a whole number >= 0, got 'ten'" in invalid[0].reason
    assert invalid[1].reason == "has 2 cells, the header has 5 columns"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["ext_id", "is_lost", "record_url"], "names ['record_url'], which upload.calls does not take"),
        (["ext_id", "is_lost", "ext_id"], "names ['ext_id'] more than once"),
        (["ext_id", "comment"], "has no is_lost column"),
        (["comment"], "has no ext_id and no is_lost column"),
    ],
)
def test_a_bad_csv_header_is_refused_before_any_row(header: list[str], expected: str) -> None:
    with pytest.raises(UISConfigurationError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        list(csv_rows(csv_text(header, ["x"] * len(header))))


def test_an_empty_csv_has_no_rows() -> None:
    assert list(csv_rows([])) == []


def test_source_rows_carry_parse_errors_and_values() -> None:
    assert list(list_rows(["a"])) == [SourceRow(1, value="a")]
