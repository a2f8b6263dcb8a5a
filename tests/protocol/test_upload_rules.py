"""The documented rules of one ``upload.calls`` call: every problem named, values shown without secrets."""

from __future__ import annotations

from typing import Any

import pytest

from uis_provider.protocol.upload_rules import check_call


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


def test_call_times_go_through_the_one_date_parser_and_are_sent_in_the_api_form() -> None:
    """Issue 15 item 1: a day.month time from a Russian PBX export is that day, rewritten as the API's form."""
    sent, problems = check_call(good_call(start_time="14.01.2026 10:00:00", finish_time="2026-01-14T10:03:20"))
    assert problems == []
    assert (sent["start_time"], sent["finish_time"]) == ("2026-01-14 10:00:00", "2026-01-14 10:03:20")
    for value in ("01/14/2026 10:00:00", "2026/01/14 10:00:00", "4.1.2026 10:00:00", "14.01.2026"):
        text = problems_of(good_call(start_time=value))
        assert f"start_time={value!r}" in text
