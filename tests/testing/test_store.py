"""Tests of the uploaded calls: the ``upload_time`` window, upload processing on the clock, dedupe, added calls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import FMT, KEY, error, fetch_all, make, plus_second, result, rpc, upload_call, window
from uis_provider.protocol.catalog import catalog
from uis_provider.testing import UISEmulator

#: Every documented column, ``upload_time`` and the nested ones included (the default set leaves those out).
EVERY = list(catalog()["get.uploaded_calls"].column_names)


def test_paging_reaches_every_record_in_natural_order(big: UISEmulator) -> None:
    start, till = "2026-01-02 00:00:00", "2026-01-04 23:59:59"
    rows, total = fetch_all(big.url, "get.uploaded_calls", window(start, till, fields=EVERY), limit=250)
    truth = big.records("2026-01-02", "2026-01-05")
    assert total == len(truth) == len(rows) > 500
    assert [row["ext_id"] for row in rows] == [record["ext_id"] for record in truth]
    assert rows == truth
    keys = [(row["upload_time"], row["ext_id"]) for row in rows]
    assert keys == sorted(keys)


def test_dates_are_required_and_report_id_is_accepted(big: UISEmulator) -> None:
    err = error(big.url, "get.uploaded_calls", {"access_token": KEY, "date_from": "2026-01-01 00:00:00"})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("required_parameter_missed", "date_till")
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-01 23:59:59", report_id=7))
    assert answer["metadata"]["total_items"] == len(big.records("2026-01-01", "2026-01-02"))


@pytest.mark.parametrize("inclusive", [True, False])
def test_date_till_inclusive_or_exclusive(inclusive: bool) -> None:
    with make(till_inclusive=inclusive) as api:
        edge = api.records()[50]["upload_time"]
        params = window("2026-01-01 00:00:00", edge, limit=10_000, fields=["upload_time"])
        answer = result(api.url, "get.uploaded_calls", params)
        uploaded = {row["upload_time"] for row in answer["data"]}
        assert (edge in uploaded) is inclusive
        expected = api.records("2026-01-01", plus_second(edge) if inclusive else edge)
        assert answer["metadata"]["total_items"] == len(expected)


def test_upload_status_progresses_on_the_clock(api: UISEmulator) -> None:
    day = "2000-01-01 00:00:00", "2099-12-31 23:59:59"
    before = result(api.url, "get.uploaded_calls", window(*day, limit=1))["metadata"]["total_items"]
    sent_at = api.clock.now().astimezone(api.timezone).strftime(FMT)
    answer = rpc(
        api.url,
        "upload.calls",
        {"access_token": KEY, "calls": [upload_call("u-1"), upload_call("u-2")]},
        call_id="req-77",
    )
    answered_at = api.clock.now().astimezone(api.timezone).strftime(FMT)
    assert answer["result"]["data"] == {"success": True}

    def uploaded() -> dict[str, dict[str, Any]]:
        flt = {"field": "ext_request_id", "operator": "=", "value": "req-77"}
        rows = result(api.url, "get.uploaded_calls", window(*day, filter=flt, fields=EVERY))["data"]
        return {row["ext_id"]: row for row in rows}

    rows = uploaded()
    assert set(rows) == {"u-1", "u-2"}
    assert {row["status"] for row in rows.values()} == {"new"}
    assert sent_at <= rows["u-1"]["upload_time"] <= answered_at  # the clock runs: the upload's own second
    assert rows["u-1"]["record_type"] == "wav" and rows["u-1"]["records"][0]["employee_channel"] == "left"
    assert rows["u-1"]["call_session_id"] is None
    assert result(api.url, "get.uploaded_calls", window(*day, limit=1))["metadata"]["total_items"] == before + 2
    assert sorted(api.pending_uploads()) == ["u-1", "u-2"]
    api.clock.advance(2.5)
    assert {row["status"] for row in uploaded().values()} == {"in_process"}
    api.clock.advance(3)
    rows = uploaded()
    assert {row["status"] for row in rows.values()} == {"processed"}
    assert rows["u-1"]["call_session_id"] != rows["u-2"]["call_session_id"]
    assert api.pending_uploads() == []
    report = result(
        api.url,
        "get.calls_report",
        window(
            "2026-01-10 00:00:00",
            "2026-01-10 23:59:59",
            filter={"field": "source", "operator": "=", "value": "upload_calls"},
        ),
    )["data"]
    assert {row["id"] for row in report} == {rows["u-1"]["call_session_id"], rows["u-2"]["call_session_id"]}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {"wav_records": [{"employee_id": 5, "employee_channel": "right", "record_url": "https://x/missing.wav"}]},
            "http_status_download_error",
        ),
        ({"wav_records": None, "mp3_records": [{"record_url": "https://x/slow.mp3"}]}, "timeout_download_error"),
        ({"finish_time": "2026-01-10 10:00:15"}, "wav_min_duration_processing_error"),
    ],
)
def test_upload_errors_are_deterministic(api: UISEmulator, fields: dict[str, Any], code: str) -> None:
    result(api.url, "upload.calls", {"access_token": KEY, "calls": [upload_call("e-1", **fields)]})
    api.clock.advance(10)
    record = next(r for r in api.records() if r["ext_id"] == "e-1")
    assert (record["status"], record["error_code"], record["call_session_id"]) == ("error", code, None)


def test_upload_dedupe_processed_and_three_failures(api: UISEmulator) -> None:
    def upload(ext_id: str, call_id: str, **fields: Any) -> None:
        rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [upload_call(ext_id, **fields)]}, call_id=call_id)
        api.clock.advance(10)

    def current(ext_id: str) -> list[dict[str, Any]]:
        return [r for r in api.records() if r["ext_id"] == ext_id]

    upload("d-1", "first")
    upload("d-1", "second")
    assert [(r["ext_request_id"], r["status"]) for r in current("d-1")] == [("first", "processed")]
    broken = {"wav_records": [{"employee_id": 5, "employee_channel": "left", "record_url": "https://x/missing.wav"}]}
    upload("d-2", "try-1", **broken)
    upload("d-2", "try-2", **broken)
    assert [(r["ext_request_id"], r["status"]) for r in current("d-2")] == [("try-2", "error")]
    upload("d-2", "try-3", **broken)
    upload("d-2", "try-4")
    assert [(r["ext_request_id"], r["status"]) for r in current("d-2")] == [("try-3", "error")]


def test_generated_history_ext_ids_follow_the_same_dedupe(api: UISEmulator) -> None:
    history = api.records()
    processed = next(r for r in history if r["status"] == "processed")
    failed = next(r for r in history if r["status"] == "error")
    for record in (processed, failed):
        rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [upload_call(record["ext_id"])]}, call_id="again")
    api.clock.advance(10)
    after = {r["ext_id"]: r for r in api.records()}
    assert after[processed["ext_id"]] == processed
    assert after[failed["ext_id"]]["ext_request_id"] == "again"
    assert after[failed["ext_id"]]["status"] == "processed"
    assert len(after) == len(history)


def test_add_calls_changes_total_items(api: UISEmulator) -> None:
    params = window("2026-01-02 00:00:00", "2026-01-02 23:59:59", limit=1)
    before = result(api.url, "get.uploaded_calls", params)["metadata"]["total_items"]
    ext_ids = api.add_calls(30, "2026-01-02 10:00:00", "2026-01-02 12:00:00", status="processed")
    after = result(api.url, "get.uploaded_calls", params)["metadata"]["total_items"]
    assert after == before + 30
    added = [r for r in api.records("2026-01-02 10:00:00", "2026-01-02 12:00:00") if r["ext_id"] in set(ext_ids)]
    assert len(added) == 30 and {r["status"] for r in added} == {"processed"}
    assert min(ext_ids) > max(r["ext_id"] for r in api.records() if r["ext_id"] not in set(ext_ids))
    rows, _total = fetch_all(api.url, "get.uploaded_calls", window("2026-01-02 00:00:00", "2026-01-02 23:59:59"), 40)
    assert [row["ext_id"] for row in rows] == [r["ext_id"] for r in api.records("2026-01-02", "2026-01-03")]


def test_large_history_pages_by_index() -> None:
    with make(calls=200_000, days=30) as api:
        answer = result(
            api.url,
            "get.uploaded_calls",
            window("2026-01-10 00:00:00", "2026-01-19 23:59:59", limit=10_000, offset=20_000),
        )
        truth = api.records("2026-01-10", "2026-01-20")
        assert answer["metadata"]["total_items"] == len(truth) > 30_000
        assert [row["ext_id"] for row in answer["data"]] == [r["ext_id"] for r in truth[20_000:30_000]]


def test_not_processed_uploads_are_listed_and_filtered(big: UISEmulator) -> None:
    stuck = [r["ext_id"] for r in big.records() if r["status"] == "not_processed"]
    flt = {"field": "status", "operator": "=", "value": "not_processed"}
    params = window("2026-01-01 00:00:00", "2026-01-10 23:59:59", filter=flt, fields=["ext_id", "status"])
    answer = result(big.url, "get.uploaded_calls", params)
    assert [row["ext_id"] for row in answer["data"]] == stuck and len(stuck) > 10
