"""``UISUploadedCallsToStorageOperator``: the report operator fixed to ``get.uploaded_calls``, plus ``report_id``."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from tests.conftest import make_upload_calls, start_upload_emulator, upload_calls
from uis_provider.exceptions import UISConfigurationError
from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.settling import StatusTally, UISPendingRecordsError
from uis_provider.testing import UISEmulator
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

TZ = "Europe/Moscow"


def day(number: int) -> dict[str, Any]:
    """The task context of the Moscow day 2026-01-<number> as a data interval."""
    start = pendulum.datetime(2026, 1, number, tz=TZ)
    return {"data_interval_start": start, "data_interval_end": start.add(days=1)}


def test_is_a_thin_specialisation_of_the_report_operator() -> None:
    assert issubclass(UISUploadedCallsToStorageOperator, UISReportToStorageOperator)
    assert "execute" not in UISUploadedCallsToStorageOperator.__dict__, "it lands through the base class's execute"
    assert set(UISReportToStorageOperator.template_fields) < set(UISUploadedCallsToStorageOperator.template_fields)
    assert "report_id" in UISUploadedCallsToStorageOperator.template_fields
    op = UISUploadedCallsToStorageOperator(task_id="t", output_path="/tmp/never-written.jsonl")
    assert op.method == UPLOADED_CALLS
    with pytest.raises(TypeError):
        UISUploadedCallsToStorageOperator(task_id="t2", output_path="/tmp/x.jsonl", method="get.calls_report")


def test_lands_the_days_uploaded_calls_without_report_id(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    op = UISUploadedCallsToStorageOperator(task_id="t", output_path=str(tmp_path / "day.jsonl"), page_size=10)
    emulator.reset_log()
    result = op.execute(day(20))
    truth = sorted(emulator.records("2026-01-20", "2026-01-21"), key=lambda r: r["ext_id"])
    got = [json.loads(line) for line in (tmp_path / "day.jsonl").read_text(encoding="utf-8").splitlines()]
    assert got == truth
    assert result["records"] == len(truth) > 10
    calls = [e for e in emulator.requests if e["method"] == "get.uploaded_calls"]
    assert calls
    assert all("report_id" not in e["params"] for e in calls)
    assert all(e["params"]["fields"] == list(UPLOADED_CALLS.columns) for e in calls)


def test_report_id_is_sent_when_set_and_can_be_templated(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    op = UISUploadedCallsToStorageOperator(
        task_id="t", output_path=str(tmp_path / "day.jsonl"), report_id="{{ params.report }}"
    )
    context = {**day(21), "params": {"report": "31337"}}
    op.render_template_fields(context)
    emulator.reset_log()
    op.execute(context)
    sent = {e["params"].get("report_id") for e in emulator.requests if e["method"] == "get.uploaded_calls"}
    assert sent == {31337}


def test_bad_report_id_fails_before_any_call(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    op = UISUploadedCallsToStorageOperator(task_id="t", output_path=str(tmp_path / "day.jsonl"), report_id="latest")
    with pytest.raises(UISConfigurationError, match="report_id must be a positive whole number"):
        op.execute(day(21))
    assert emulator.count() == 0


@pytest.mark.parametrize(
    ("date_from", "date_till"),
    [
        ("04.01.2026", "05.01.2026"),
        ("{{ data_interval_start.in_timezone('Europe/Moscow').strftime('%d.%m.%Y') }}", "2026-01-05"),
        ("2026-01-04", "2026-01-05T00:00:00+03:00"),
    ],
)
def test_a_dotted_day_is_that_day_never_month_first(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, date_from: str, date_till: str
) -> None:
    """Issue 15 item 1: 04.01.2026 is 4 January (it used to be read as 1 April, succeeding with 0 records)."""
    op = UISUploadedCallsToStorageOperator(
        task_id="t", output_path=str(tmp_path / "day.jsonl"), date_from=date_from, date_till=date_till
    )
    context = day(4)
    op.render_template_fields(context)
    emulator.reset_log()
    result = op.execute(context)
    truth = emulator.records("2026-01-04", "2026-01-05")
    assert result["records"] == len(truth) > 0
    assert result["date_from"] == "2026-01-04T00:00:00+03:00"
    assert result["date_till"] == "2026-01-05T00:00:00+03:00"
    sent = [e["params"] for e in emulator.requests if e["method"] == "get.uploaded_calls"]
    assert {(p["date_from"], p["date_till"]) for p in sent} == {("2026-01-04 00:00:00", "2026-01-05 00:00:00")}


@pytest.mark.parametrize("date_from", ["01/04/2026", "2026/01/04", "4.1.2026", "20260104", ""])
def test_an_ambiguous_date_fails_before_any_call(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, date_from: str
) -> None:
    op = UISUploadedCallsToStorageOperator(
        task_id="t", output_path=str(tmp_path / "day.jsonl"), date_from=date_from, date_till="2026-01-05"
    )
    with pytest.raises(UISConfigurationError, match=f"date_from={date_from!r}") as caught:
        op.execute(day(4))
    assert "2026-01-04" in str(caught.value)
    assert emulator.count() == 0
    assert not (tmp_path / "day.jsonl").exists()


def test_explicit_equal_dates_say_the_window_is_empty(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    """Issue 15 item 8: no talk of cron schedules when the user gave both ends."""
    op = UISUploadedCallsToStorageOperator(
        task_id="t", output_path=str(tmp_path / "day.jsonl"), date_from="2026-01-04", date_till="04.01.2026"
    )
    with pytest.raises(UISConfigurationError, match="is empty: date_from and date_till are the same") as caught:
        op.execute(day(4))
    assert "schedule" not in str(caught.value)
    assert "cron" not in str(caught.value).lower()
    assert emulator.count() == 0


# -- on_pending: uploads of the window still new / in_process -------------------------------------------------------

FUTURE = pendulum.datetime(2027, 3, 1, tz=TZ)
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """An emulator whose clock reads noon of ``FUTURE``, with three calls just uploaded (new for 10 min, settled
    after 20)."""
    api = start_upload_emulator(monkeypatch, FUTURE, seed=5)
    try:
        upload_calls(make_upload_calls(api, 3, prefix="pend", timezone=TZ))
        api.reset_log()
        yield api
    finally:
        api.stop()


def future_day() -> dict[str, Any]:
    return {"data_interval_start": FUTURE, "data_interval_end": FUTURE.add(days=1)}


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text(encoding="utf-8"))


def pending_op(tmp_path: Path, **kwargs: Any) -> UISUploadedCallsToStorageOperator:
    return UISUploadedCallsToStorageOperator(
        task_id="t", output_path=str(tmp_path / "day.jsonl"), api_retry_policy=FAST, **kwargs
    )


def test_land_lands_pending_records_and_the_manifest_says_not_final(uploads: UISEmulator, tmp_path: Path) -> None:
    result = pending_op(tmp_path).execute(future_day())
    manifest = manifest_of(tmp_path / "day.jsonl")
    assert (manifest["statuses"], manifest["pending"], manifest["final"]) == ({"new": 3}, 3, False)
    assert (result["pending"], result["final"]) == (3, False)
    assert [r["status"] for r in read_jsonl(tmp_path / "day.jsonl")] == ["new"] * 3


def test_fail_refuses_before_writing_while_records_are_pending_then_lands_once_settled(
    uploads: UISEmulator, tmp_path: Path
) -> None:
    with pytest.raises(UISPendingRecordsError, match=r"3 uploads in .* have a status in \['new', 'in_process'\]"):
        pending_op(tmp_path, on_pending="fail").execute(future_day())
    assert list(tmp_path.iterdir()) == []
    assert uploads.count("get.uploaded_calls") == 1, "one cheap count, no page read"
    uploads.clock.advance(1300)
    result = pending_op(tmp_path, on_pending="fail").execute(future_day())
    assert (result["pending"], result["final"]) == (0, True)
    assert manifest_of(tmp_path / "day.jsonl")["statuses"] == {"processed": 3}


def test_wait_lands_only_settled_statuses(uploads: UISEmulator, tmp_path: Path) -> None:
    settle = threading.Timer(0.3, uploads.clock.advance, args=(1300,))
    settle.start()
    result = pending_op(tmp_path, on_pending="wait", pending_poll_interval=0.05, pending_timeout=60).execute(
        future_day()
    )
    settle.join()
    assert (result["pending"], result["final"]) == (0, True)
    assert {r["status"] for r in read_jsonl(tmp_path / "day.jsonl")} == {"processed"}
    probes = [r for r in uploads.requests if r["method"] == "get.uploaded_calls" and r["params"]["limit"] == 1]
    assert len(probes) >= 2
    assert all(p["params"]["fields"] == ["status", "error_code", "upload_time"] for p in probes)


def test_wait_lands_anyway_at_pending_timeout_and_says_so(
    uploads: UISEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    op = pending_op(tmp_path, on_pending="wait", pending_poll_interval=0.05, pending_timeout=0.2)
    with caplog.at_level(logging.WARNING):
        result = op.execute(future_day())
    assert (result["pending"], result["final"]) == (3, False)
    # the task logger is stdlib logging on Airflow 2, structlog to stdout on 3
    assert "still pending after pending_timeout=0.2 s" in caplog.text + capsys.readouterr().out
    assert manifest_of(tmp_path / "day.jsonl")["final"] is False


def test_deferrable_wait_defers_with_a_deadline_then_lands_on_the_event(uploads: UISEmulator, tmp_path: Path) -> None:
    op = pending_op(tmp_path, on_pending="wait", deferrable=True, pending_poll_interval=30, pending_timeout=600)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(future_day())
    assert list(tmp_path.iterdir()) == []
    assert uploads.open_sessions == 0
    trigger = deferred.value.trigger
    assert isinstance(trigger, UISUploadedCallsTrigger)
    assert (trigger.summarize, trigger.poll_interval) == (False, 30)
    assert before + 600 <= trigger.deadline <= time.time() + 600
    assert deferred.value.timeout.total_seconds() > 600
    assert deferred.value.method_name == "execute_complete"

    uploads.clock.advance(1300)
    result = op.execute_complete(future_day(), {"status": "success", "summary": None})
    assert (result["records"], result["pending"], result["final"]) == (3, 0, True)


def test_deferrable_wait_lands_not_final_on_a_timeout_event_and_fails_on_an_error_event(
    uploads: UISEmulator, tmp_path: Path
) -> None:
    op = pending_op(tmp_path, on_pending="wait", deferrable=True)
    result = op.execute_complete(future_day(), {"status": "timeout", "pending": 3, "message": "3 pending"})
    assert (result["pending"], result["final"]) == (3, False)
    with pytest.raises(AirflowException, match="access_token is invalid"):
        op.execute_complete(future_day(), {"status": "error", "message": "access_token is invalid"})


def test_status_tally_refuses_a_pending_record_mid_write() -> None:
    tally = StatusTally(refuse_pending=True)
    count = tally.start_pass()
    count([{"status": "processed"}, {"status": "processed"}])
    assert tally.statuses == {"processed": 2}
    with pytest.raises(UISPendingRecordsError, match="'in_process'"):
        count([{"status": "processed"}, {"status": "in_process"}])
    assert tally.start_pass() is not count
    assert tally.statuses == {}


def test_without_the_status_column_pending_and_final_are_unknown(uploads: UISEmulator, tmp_path: Path) -> None:
    result = pending_op(tmp_path, fields=["ext_id", "upload_time"]).execute(future_day())
    manifest = manifest_of(tmp_path / "day.jsonl")
    assert (manifest["statuses"], manifest["pending"], manifest["final"]) == (None, None, None)
    assert result["final"] is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"on_pending": "skip"}, "on_pending must be one of 'land', 'wait', 'fail'"),
        ({"pending_timeout": 0}, "pending_timeout must be a number of seconds > 0"),
        ({"pending_poll_interval": "soon"}, "pending_poll_interval must be a number of seconds > 0"),
    ],
)
def test_bad_pending_options_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=re.escape(needle)):
        UISUploadedCallsToStorageOperator(task_id="t", output_path="/tmp/never.jsonl", **kwargs)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_status_tally_counts_typed_pages_as_plain_ones() -> None:
    from uis_provider.storage.rows import row_type_for

    pytest.importorskip("msgspec")
    row_type = row_type_for(UPLOADED_CALLS, ("ext_id", "status"), ("ext_id", "status"))
    assert row_type is not None
    page = [{"ext_id": "a", "status": "processed"}, {"ext_id": "b", "status": "new"}, {"ext_id": "c", "status": None}]
    typed = row_type.decode(json.dumps(page).encode("utf-8"))
    assert typed is not None
    counts = []
    for records in (typed, page):
        tally = StatusTally()
        tally.start_pass()(records)
        counts.append((dict(tally.statuses), tally.pending))
    assert counts[0] == counts[1] == ({"processed": 1, "new": 1, "None": 1}, 1)
    without = row_type_for(UPLOADED_CALLS, ("ext_id",), ("ext_id",))
    assert without is not None
    tally = StatusTally(refuse_pending=True)
    tally.start_pass()(without.decode(json.dumps([{"ext_id": "a"}]).encode("utf-8")))
    assert tally.statuses == {"None": 1}
