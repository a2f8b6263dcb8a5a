"""``UISUploadedCallsToStorageOperator``: the report operator fixed to ``get.uploaded_calls``, plus ``report_id``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.testing import UISEmulator

TZ = "Europe/Moscow"


def day(number: int) -> dict[str, Any]:
    """The task context of the Moscow day 2026-01-<number> as a data interval."""
    start = pendulum.datetime(2026, 1, number, tz=TZ)
    return {"data_interval_start": start, "data_interval_end": start.add(days=1)}


def test_is_a_thin_specialisation_of_the_report_operator() -> None:
    assert issubclass(UISUploadedCallsToStorageOperator, UISReportToStorageOperator)
    assert "execute" not in UISUploadedCallsToStorageOperator.__dict__
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
