"""The IO-free half of ``upload.calls``: reading rows, the documented per-call rules, batch planning, request ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.upload_plan import (
    MAX_BATCH_CALLS,
    MAX_CALL_BYTES,
    MAX_REQUEST_BYTES,
    PARAMS_RESERVE_BYTES,
    InvalidRow,
    SourceRow,
    ValidCall,
    call_size,
    check_call,
    csv_rows,
    input_format,
    jsonl_rows,
    list_rows,
    params_size,
    plan_batches,
    request_ids,
    request_prefix,
    summarize_invalid,
    validate_batch_size,
    validate_on_invalid,
    validate_request_prefix,
    validate_rows,
)


def good_call(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A call that satisfies every documented rule (an mp3 recording)."""
    call: dict[str, Any] = {
        "ext_id": f"pbx-{n:06d}",
        "direction": "in",
        "calling_phone_number": "79161234567",
        "called_phone_number": "74951234567",
        "start_time": "2026-01-14 10:00:00",
        "finish_time": "2026-01-14 10:03:20",
        "is_lost": False,
        "is_transfer": False,
        "wait_duration": 12,
        "talk_duration": 188,
        "mp3_records": [{"record_url": f"https://records.example.ru/{n}.mp3"}],
    }
    call.update(changes)
    return {key: value for key, value in call.items() if value is not ...}


def problems_of(call: Any) -> str:
    return "; ".join(check_call(call)[1])


def test_a_good_call_passes_and_nulls_are_dropped() -> None:
    call, problems = check_call(good_call(comment=None, site_id=None))
    assert problems == []
    assert "comment" not in call and "site_id" not in call
    wav = good_call(
        mp3_records=...,
        wav_records=[
            {"employee_id": 7, "employee_name": None, "employee_channel": "left", "record_url": "https://r/1.wav"}
        ],
        callback={"url": "http://crm.example.ru/hook", "events": ["processed", "error"]},
        tags=[{"tag_id": 3}, {"tag_name": "VIP"}],
        comment="ok",
    )
    assert check_call(wav)[1] == []


def test_callback_events_of_both_references_are_accepted() -> None:
    # the English page lists six events, the Russian three: a value the API may accept is not refused
    every = ["processed", "in_process", "not_processed", "error", "new", "cancelled"]
    assert check_call(good_call(callback={"url": "https://crm/hook", "events": every}))[1] == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ext_id": ...}, "ext_id is required"),
        ({"is_lost": ...}, "is_lost is required"),
        ({"ext_id": ""}, "ext_id must be a non-empty string"),
        ({"ext_id": 12345}, "ext_id must be a non-empty string of at most 255 characters, got 12345"),
        ({"ext_id": "x" * 256}, "at most 255 characters"),
        ({"is_lost": "false"}, "is_lost must be true or false, got 'false'"),
        ({"is_transfer": 1}, "is_transfer must be true or false, got 1"),
        ({"direction": "inbound"}, "direction must be 'in' or 'out', got 'inbound'"),
        ({"calling_phone_number": "+7 495 123-45-67"}, "calling_phone_number must be an E.164 number"),
        ({"called_phone_number": "7495123"}, "called_phone_number must be an E.164 number"),
        ({"called_phone_number": 74951234567}, "a string of 11 to 15 digits"),
        ({"calling_phone_number": "7" * 16}, "calling_phone_number must be an E.164 number"),
        ({"start_time": "2026-01-14T10:00:00Z"}, "start_time must be 'YYYY-MM-DD hh:mm:ss'"),
        ({"finish_time": "2026-02-30 10:00:00"}, "finish_time must be 'YYYY-MM-DD hh:mm:ss'"),
        (
            {"finish_time": "2026-01-14 09:59:59"},
            "finish_time 2026-01-14 09:59:59 is before start_time 2026-01-14 10:00:00",
        ),
        ({"wait_duration": -1}, "wait_duration must be a whole number >= 0, got -1"),
        ({"talk_duration": 12.5}, "talk_duration must be a whole number >= 0, got 12.5"),
        ({"campaign_id": True}, "campaign_id must be a whole number >= 0, got True"),
        ({"comment": 5}, "comment must be a string"),
        ({"record_type": "mp3"}, "the call has unknown field(s) ['record_type']"),
        (
            {"wav_records": [{"employee_id": 1, "employee_channel": "left", "record_url": "https://r/1.wav"}]},
            "not both",
        ),
        ({"mp3_records": []}, "mp3_records must be a non-empty list"),
        ({"mp3_records": [{"record_url": "http://records.example.ru/1.mp3"}]}, "must be an absolute https:// URL"),
        (
            {"mp3_records": [{"record_url": "records.example.ru/1.mp3"}]},
            "mp3_records[0].record_url must be an absolute",
        ),
        ({"mp3_records": [{"url": "https://r/1.mp3"}]}, "mp3_records[0].record_url is required"),
        ({"mp3_records": [{"record_url": "https://r/1.mp3", "employee_id": 3}]}, "mp3_records[0] has unknown field(s)"),
        ({"callback": {"url": "ftp://crm/hook"}}, "callback.url must be an absolute http:// or https:// URL"),
        ({"callback": {"url": "https://crm/hook", "events": ["done"]}}, "callback.events must be a list of"),
        ({"callback": "https://crm/hook"}, "callback must be an object"),
        ({"tags": [{}]}, "tags[0] needs tag_id or tag_name"),
        ({"tags": [{"tag_id": "3"}]}, "tags[0].tag_id must be a whole number"),
        ({"tags": {"tag_name": "x"}}, "tags must be a list"),
    ],
)
def test_each_documented_rule_is_named(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems_of(good_call(**changes))


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"employee_id": 1, "employee_channel": "middle", "record_url": "https://r/1.wav"}, "employee_channel must be"),
        ({"employee_id": 1, "record_url": "https://r/1.wav"}, "wav_records[0].employee_channel must be"),
        ({"employee_channel": "right", "record_url": "https://r/1.wav"}, "needs employee_id or employee_name"),
        ({"employee_id": "7", "employee_channel": "right", "record_url": "https://r/1.wav"}, "employee_id must be"),
        ({"employee_name": "", "employee_channel": "right", "record_url": "https://r/1.wav"}, "employee_name must be"),
    ],
)
def test_wav_recordings_need_a_channel_and_an_employee(record: dict[str, Any], expected: str) -> None:
    assert expected in problems_of(good_call(mp3_records=..., wav_records=[record]))


def test_every_problem_of_a_row_is_reported_not_just_the_first() -> None:
    problems = check_call(good_call(ext_id=..., direction="sideways", wait_duration=-3))[1]
    assert len(problems) == 3


def test_messages_hide_url_secrets() -> None:
    signed = "http://user:pw@records.example.ru/1.mp3?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA"
    text = problems_of(good_call(mp3_records=[{"record_url": signed}]))
    assert "http://records.example.ru/1.mp3?..." in text
    assert "deadbeef" not in text and "AKIA" not in text and "pw" not in text


def test_non_objects_are_invalid() -> None:
    assert problems_of([1, 2]) == "a call must be a JSON object, got list"


def test_jsonl_keeps_line_numbers_across_blank_and_broken_lines() -> None:
    lines = [json.dumps(good_call(1)), "", "{not json", "  ", json.dumps(good_call(2)), "null", "[1]"]
    valid, invalid = validate_rows(jsonl_rows(lines))
    assert [v.line for v in valid] == [1, 5]
    assert [(i.line, i.reason.split(" (")[0]) for i in invalid] == [
        (3, "not valid JSON"),
        (6, "a call must be a JSON object, got NoneType"),
        (7, "a call must be a JSON object, got list"),
    ]


def test_a_repeated_ext_id_is_invalid_naming_the_first_line() -> None:
    rows = list_rows([good_call(1), good_call(2), good_call(1, comment="again")])
    valid, invalid = validate_rows(rows)
    assert [v.line for v in valid] == [1, 2]
    assert invalid == [
        InvalidRow(3, "pbx-000001", "ext_id 'pbx-000001' repeats line 1; every call needs its own ext_id")
    ]


def test_a_call_alone_over_the_request_limit_is_invalid() -> None:
    fits = good_call(1, comment="")
    fits["comment"] = "x" * (MAX_CALL_BYTES - call_size(fits))
    too_big = dict(fits, ext_id="pbx-000002", comment=fits["comment"] + "x")
    valid, invalid = validate_rows(list_rows([fits, too_big]))
    assert [v.size for v in valid] == [MAX_CALL_BYTES]
    assert [i.line for i in invalid] == [2]
    assert f"one request holds at most {MAX_CALL_BYTES}" in invalid[0].reason
    assert plan_batches(valid)[0].size == MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES


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


def sized(line: int, size: int) -> ValidCall:
    return ValidCall(line, {"ext_id": f"c{line}"}, size)


def test_params_size_matches_the_json_the_api_measures() -> None:
    calls = [good_call(n, comment="Звонок " * n) for n in range(1, 6)]
    measured = len(json.dumps({"calls": calls}, ensure_ascii=False).encode("utf-8"))
    assert params_size(call_size(c) for c in calls) == measured
    assert params_size([]) == len(json.dumps({"calls": []}))
    compact = len(json.dumps({"calls": calls}, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    assert compact < measured


def test_batches_hold_at_most_batch_size_calls_in_input_order() -> None:
    calls = [sized(n, 300) for n in range(1, 121)]
    batches = plan_batches(calls)
    assert [len(b.calls) for b in batches] == [50, 50, 20]
    assert [b.number for b in batches] == [1, 2, 3]
    assert [line for b in batches for line in b.lines] == list(range(1, 121))
    assert [len(b.calls) for b in plan_batches(calls, batch_size=7)][:3] == [7, 7, 7]
    assert len(plan_batches(calls, batch_size=7)) == 18
    assert plan_batches([]) == []


def test_batches_split_exactly_at_the_byte_budget() -> None:
    budget = MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES
    first = 100_000
    # Four calls whose {"calls": [...]} JSON is exactly the budget stay together; one byte more splits.
    last = budget - params_size([first] * 3 + [0])
    exact = [sized(1, first), sized(2, first), sized(3, first), sized(4, last)]
    assert [b.size for b in plan_batches(exact)] == [budget]
    over = [*exact[:3], sized(4, last + 1)]
    assert [len(b.calls) for b in plan_batches(over)] == [3, 1]
    assert all(b.size <= budget for b in plan_batches(over))


def test_batch_points_an_api_field_at_its_input_line() -> None:
    batch = plan_batches([sized(n, 10) for n in (4, 9, 12)])[0]
    assert batch.line_of("calls[1].finish_time") == 9
    assert batch.line_of("calls[7].ext_id") is None
    assert batch.line_of("calls") is None
    assert batch.line_of(None) is None
    assert batch.describe() == "3 calls, lines 4-12"


def test_request_ids_are_stable_per_task_and_interval_and_distinct_otherwise() -> None:
    prefix = request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00")
    assert prefix == request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00")
    others = {
        request_prefix("dag", "upload", "2026-01-15T00:00:00+03:00/2026-01-16T00:00:00+03:00"),
        request_prefix("dag2", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00"),
        request_prefix("dag", "upload2", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00"),
        request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00", 3),
    }
    assert prefix not in others and len(others) == 4
    assert request_ids(prefix, 3) == [f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0003"]
    assert validate_request_prefix(prefix) == prefix


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


def test_summary_lists_the_first_rows_and_counts_the_rest() -> None:
    rows = [InvalidRow(n, f"e{n}" if n % 2 else None, "bad") for n in range(1, 26)]
    text = summarize_invalid(rows)
    assert text.splitlines()[0] == "  line 1 (ext_id 'e1'): bad"
    assert text.splitlines()[1] == "  line 2: bad"
    assert text.splitlines()[-1] == "  ... and 5 more"
    assert summarize_invalid(rows[:1], unit="item") == "  item 1 (ext_id 'e1'): bad"


def test_source_rows_carry_parse_errors_and_values() -> None:
    assert list(list_rows(["a"])) == [SourceRow(1, value="a")]


def test_call_times_go_through_the_one_date_parser_and_are_sent_in_the_api_form() -> None:
    """Issue 15 item 1: a day.month time from a Russian PBX export is that day, rewritten as the API's form."""
    sent, problems = check_call(good_call(start_time="14.01.2026 10:00:00", finish_time="2026-01-14T10:03:20"))
    assert problems == []
    assert (sent["start_time"], sent["finish_time"]) == ("2026-01-14 10:00:00", "2026-01-14 10:03:20")
    for value in ("01/14/2026 10:00:00", "2026/01/14 10:00:00", "4.1.2026 10:00:00", "14.01.2026"):
        text = problems_of(good_call(start_time=value))
        assert f"start_time={value!r}" in text
