"""Many day-tasks in separate processes share one account's point budget on the emulator, over real HTTP.

Properties, not timings: with no retries allowed at all, every task still succeeds through per-minute refusals
(back-pressure, not failures); every call lands exactly once and no page is charged twice; the refusals the tasks
count are the ones the API gave. When the daily budget runs out, the tasks that cannot finish fail at once, say
when it refills and how many points they still needed, and leave nothing half-written.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.reliability.conftest import TZ, emulator, set_conn
from uis_provider.testing import UISEmulator

PAGE_SIZE = 100

#: One day-task: the hook and the extract engine as the operator runs them, with NO retries for transient errors,
#: so that a per-minute refusal treated as a failure would fail the task. Waits for "go" so all start together.
TASK = """
import json, sys
import pendulum
from uis_provider.exceptions import UISError
from uis_provider.extract import ReportQuery, extract_window
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.windows import Window

conn_id, day, out, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
start = pendulum.parse(day, tz="Europe/Moscow")
query = ReportQuery.build("get.uploaded_calls", page_size=page_size)
print("ready", flush=True)
sys.stdin.readline()
outcome = {"day": day, "ok": True, "error": None, "records": 0}
with UISHook(conn_id, retry_policy=RetryPolicy(max_retries=0, limit_margin=0.05)) as hook:
    try:
        result = extract_window(hook, Window.build(start, start.add(days=1), "Europe/Moscow"), query, out)
        outcome["records"] = result.records
    except UISError as exc:
        outcome.update(ok=False, error=str(exc))
    stats = hook.session.stats
    outcome.update(calls=stats.calls, refusals=stats.refusals, retries=stats.retries, waited=stats.budget_waited)
print(json.dumps(outcome), flush=True)
"""


def run_tasks(conn_id: str, days: list[str], out_dir: Path) -> list[dict[str, Any]]:
    """One process per day, all started together once their imports are done; their outcomes."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TASK, conn_id, day, str(out_dir / f"{day}.jsonl"), str(PAGE_SIZE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for day in days
    ]
    try:
        for process in processes:  # Airflow may log to stdout before the task is ready
            assert process.stdout is not None
            while (line := process.stdout.readline()) and line.strip() != "ready":
                pass
            assert line.strip() == "ready", "a task died before it was ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return [outcome_of(process.communicate(timeout=240)[0]) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def outcome_of(stdout: str) -> dict[str, Any]:
    """The task's JSON outcome: its last line that starts with ``{"day"``."""
    return json.loads([line for line in stdout.splitlines() if line.startswith('{"day"')][-1])


def day_names(count: int) -> list[str]:
    return [pendulum.date(2026, 1, 1).add(days=index).to_date_string() for index in range(count)]


def truth(api: UISEmulator, day: str) -> list[str]:
    start = pendulum.parse(day, tz=TZ)
    till = start.add(days=1)
    return sorted(r["ext_id"] for r in api.records(start.format("YYYY-MM-DD"), till.format("YYYY-MM-DD")))


def test_concurrent_day_tasks_share_a_tight_minute_budget_without_failing_or_repeating_a_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    days = day_names(4)
    api = emulator(calls=2400, days=4, minute_limit=5, minute_window=1.0, seed=41)
    try:
        conn_id = set_conn(monkeypatch, "uis_shared", api.url, timezone=TZ)
        outcomes = run_tasks(conn_id, days, tmp_path)
        log = [entry for entry in api.requests if entry["method"] == "get.uploaded_calls"]
        expected = {day: truth(api, day) for day in days}
    finally:
        api.stop()

    assert [outcome["error"] for outcome in outcomes] == [None] * len(days)
    assert all(outcome["retries"] == 0 for outcome in outcomes)
    for day in days:  # every call of each day exactly once, nothing else
        landed = [json.loads(line)["ext_id"] for line in (tmp_path / f"{day}.jsonl").read_text().splitlines()]
        assert sorted(landed) == expected[day] and len(set(landed)) == len(landed)
    # no page charged twice: the points spent are the fewest pages the days need
    minimum = sum(max(1, math.ceil(len(expected[day]) / PAGE_SIZE)) for day in days)
    assert sum(entry["points"] or 0 for entry in log) == minimum
    assert minimum > 5, "more pages than one budget window holds, so the tasks had to share"
    # the refusals the tasks counted are the ones the API gave, and they waited on the budget rather than failing
    refused = sum(1 for entry in log if entry["error"] == "limit_exceeded")
    assert sum(outcome["refusals"] for outcome in outcomes) == refused
    assert sum(outcome["calls"] for outcome in outcomes) == len(log)
    assert sum(outcome["waited"] for outcome in outcomes) > 0


def test_the_day_budget_running_out_fails_the_tasks_that_cannot_finish_at_once_and_cleanly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    days = day_names(3)
    api = emulator(calls=1800, days=3, day_limit=10, seed=43)
    try:
        conn_id = set_conn(monkeypatch, "uis_day", api.url, timezone=TZ)
        outcomes = run_tasks(conn_id, days, tmp_path)
        log = [entry for entry in api.requests if entry["method"] == "get.uploaded_calls"]
        expected = {day: truth(api, day) for day in days}
    finally:
        api.stop()

    needed = sum(max(1, math.ceil(len(expected[day]) / PAGE_SIZE)) for day in days)
    assert needed > 10, "the days need more points than the day budget holds"
    failed = [outcome for outcome in outcomes if not outcome["ok"]]
    assert failed, "the day budget cannot serve every task"
    for outcome in failed:
        assert "daily point budget is exhausted; it refills in" in outcome["error"]
        assert "this run still needed" in outcome["error"] and "more page(s) of get.uploaded_calls" in outcome["error"]
        assert not (tmp_path / f"{outcome['day']}.jsonl").exists(), "nothing half-written"
    for outcome in outcomes:
        if outcome["ok"]:
            landed = [json.loads(line)["ext_id"] for line in (tmp_path / f"{outcome['day']}.jsonl").open()]
            assert sorted(landed) == expected[outcome["day"]]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"{outcome['day']}.jsonl" for outcome in outcomes if outcome["ok"]
    ), "no temporary file left behind"
    assert sum(entry["points"] or 0 for entry in log) == 10, "the day budget is spent, never overdrawn"
    # each failed task stopped at its first day refusal: at most its pages in flight were refused, no retry loop
    day_refusals = Counter(entry["error"] for entry in log)["limit_exceeded"]
    assert len(failed) <= day_refusals <= len(failed) * 5
