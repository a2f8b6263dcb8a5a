"""Tests of ``upload.calls`` validation: each rule answers the documented error naming the call's field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import KEY, error, result, upload_call
from uis_provider.testing import UISEmulator


@pytest.mark.parametrize(
    ("bad", "mnemonic", "field"),
    [
        ({"finish_time": "2026-01-10 09:59:59"}, "invalid_parameter_value", "calls[0].finish_time"),
        ({"start_time": "2026-01-10T10:00:00"}, "invalid_parameter_value", "calls[0].start_time"),
        ({"calling_phone_number": "+79161234567"}, "invalid_parameter_value", "calls[0].calling_phone_number"),
        ({"called_phone_number": "7495123"}, "invalid_parameter_value", "calls[0].called_phone_number"),
        ({"direction": "inbound"}, "invalid_parameter_value", "calls[0].direction"),
        (
            {"wav_records": [{"employee_id": 1, "employee_channel": "left", "record_url": "http://r.example/1.wav"}]},
            "invalid_parameter_value",
            "calls[0].wav_records[0].record_url",
        ),
        (
            {"wav_records": [{"employee_id": 1, "employee_channel": "middle", "record_url": "https://r/1.wav"}]},
            "invalid_parameter_value",
            "calls[0].wav_records[0].employee_channel",
        ),
        (
            {"mp3_records": [{"record_url": "https://r.example/1.mp3"}]},
            "invalid_parameter_value",
            "calls[0].mp3_records",
        ),
        ({"is_lost": None}, "required_parameter_missed", "calls[0].is_lost"),
        ({"ext_id": None}, "required_parameter_missed", "calls[0].ext_id"),
        ({"is_lost": "no"}, "invalid_parameter_value", "calls[0].is_lost"),
        ({"talk_duration": -1}, "invalid_parameter_value", "calls[0].talk_duration"),
        ({"colour": "red"}, "unexpected_parameters", "calls[0]"),
    ],
)
def test_upload_validation(api: UISEmulator, bad: dict[str, Any], mnemonic: str, field: str) -> None:
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": [upload_call("v-1", **bad)]})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, field)
    assert api.pending_uploads() == []


def test_upload_size_limits(api: UISEmulator) -> None:
    many = [upload_call(f"m-{n}") for n in range(51)]
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": many})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("invalid_parameter_value", "calls")
    fat = [upload_call(f"f-{n}", comment="x" * 11_000) for n in range(50)]
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": fat})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("invalid_parameter_value", "calls")
    assert result(api.url, "upload.calls", {"access_token": KEY, "calls": many[:50]})["data"] == {"success": True}
