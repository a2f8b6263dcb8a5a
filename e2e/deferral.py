"""Run ``uis_upload_then_extract`` so its sensor really defers to the triggerer and resumes once UIS is done.

Calls are uploaded now with ``upload.calls`` and stay pending on the emulator. The sensor's first poke (in a worker)
sees them pending and defers. From that poke on the emulator answers every request ``HOLD_LATENCY`` seconds late,
which keeps the trigger's first poll in flight while the run waits for two things: the REST API showing the task
instance ``deferred``, and the scheduler having taken in the executor's "success" for the worker that exited on
``defer()``. Only then does the emulator's clock move past the processing time, so the trigger's first poll finds
the uploads done and the task resumes. Releasing earlier races Airflow itself: a trigger that fires before the
scheduler has drained that stale event gets its task failed ("state changed externally", apache/airflow#66374,
#72716; 3.3.2 guards only the ``scheduled`` state). The sensor's ``poke_interval`` (300 s) is never waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from stack import AirflowStack, E2EFailure, wait_for

from uis_provider.testing import UISEmulator

log = logging.getLogger("e2e")
SENSOR = "wait_for_uploads"
PROCESSED_AFTER = 1200.0
HOLD_LATENCY = 6.0
MIDNIGHT_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True)
class DeferralRun:
    """The run that was watched: its id, the Moscow day it covers, the uploads, what was seen on the way."""

    run_id: str
    day: date
    ext_ids: list[str]
    states_seen: list[str]
    probes: int
    probes_after_release: int
    summary: dict[str, Any]


def upload_calls(api: UISEmulator, api_key: str, day: date, count: int) -> list[str]:
    """Upload ``count`` calls now through the API (the last one's recording URL fails to download); their ext_ids."""
    now = datetime.fromtimestamp(api.clock.time(), api.timezone)
    stamp = int(now.timestamp())
    calls: list[dict[str, Any]] = []
    for i in range(count):
        record = "https://records.example/missing.mp3" if i == count - 1 else "https://records.example/ok.mp3"
        calls.append(
            {
                "ext_id": f"e2e-{day.isoformat()}-{stamp}-{i}",
                "is_lost": False,
                "calling_phone_number": "74951234567",
                "called_phone_number": "79161234567",
                "start_time": (now - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S"),
                "finish_time": (now - timedelta(minutes=8)).strftime("%Y-%m-%d %H:%M:%S"),
                "mp3_records": [{"record_url": record}],
            }
        )
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": f"e2e-upload-{stamp}",
        "method": "upload.calls",
        "params": {"access_token": api_key, "calls": calls},
    }
    answer = requests.post(api.url, json=body, timeout=30).json()
    if "error" in answer:
        raise E2EFailure(f"upload.calls failed: {answer['error']}")
    return [call["ext_id"] for call in calls]


def upload_day(api: UISEmulator) -> date:
    """Today in the account's time zone, moving the emulator clock past midnight when it is about to strike."""
    tz: ZoneInfo = api.timezone
    now = datetime.fromtimestamp(api.clock.time(), tz)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tz)
    if midnight - now < MIDNIGHT_MARGIN:
        api.clock.advance((midnight - now).total_seconds() + 60)
        now = datetime.fromtimestamp(api.clock.time(), tz)
    return now.date()


def _probes(api: UISEmulator, day: date) -> int:
    """How many one-row status probes for ``day`` the emulator has answered."""
    start = f"{day.isoformat()} 00:00:00"
    return sum(
        1
        for entry in api.requests
        if entry["method"] == "get.uploaded_calls"
        and isinstance(entry["params"], dict)
        and entry["params"].get("limit") == 1
        and entry["params"].get("date_from") == start
    )


def _trigger_run(stack: AirflowStack, dag_id: str, run_id: str, day: date, tz: ZoneInfo) -> None:
    """A manual run whose data interval is ``day`` (its logical date is now: a future one would be held back)."""
    day_start = datetime.combine(day, datetime.min.time(), tz)
    day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    body: dict[str, Any] = {
        "dag_run_id": run_id,
        "logical_date": datetime.fromtimestamp(int(time.time()), tz).isoformat(),
        "data_interval_start": day_start.isoformat(),
        "data_interval_end": day_end.isoformat(),
    }
    created = stack.post(f"/api/v2/dags/{dag_id}/dagRuns", body)
    start = datetime.fromisoformat(created["data_interval_start"].replace("Z", "+00:00")).astimezone(tz)
    if start != day_start:
        raise E2EFailure(f"run {run_id} covers a window starting {start}, not {day_start}")
    log.info("triggered %s for [%s, %s)", run_id, day_start, day_end)


def _defer_exit_seen(stack: AirflowStack, dag_id: str, run_id: str) -> bool:
    """Whether the scheduler has taken in the executor's success for the worker that exited on ``defer()``."""
    key = f"task_id='{SENSOR}', run_id='{run_id}', try_number=1"
    text = (stack.logs / "scheduler.log").read_text(errors="replace")
    return any(
        "Received executor event with state success" in line and key in line and dag_id in line
        for line in text.splitlines()
    )


def run_deferred(stack: AirflowStack, api: UISEmulator, api_key: str, dag_id: str, uploads: int = 5) -> DeferralRun:
    """Upload calls, trigger the DAG for today, watch the sensor defer and resume, wait for the run to succeed."""
    day = upload_day(api)
    ext_ids = upload_calls(api, api_key, day, uploads)
    log.info("uploaded %d calls on %s (pending on the emulator)", len(ext_ids), day)
    run_id = f"e2e_deferred_{day.isoformat()}_{int(time.time())}"
    stack.airflow("dags", "unpause", dag_id)

    stop_watching = threading.Event()

    def hold_after_first_poke() -> None:
        while not stop_watching.is_set():
            if _probes(api, day):
                api.latency = HOLD_LATENCY
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=hold_after_first_poke, name="e2e-first-poke", daemon=True)
    watcher.start()
    states: list[str] = []

    def note_state() -> str:
        state = str(stack.task_instance(dag_id, run_id, SENSOR).get("state"))
        if not states or states[-1] != state:
            states.append(state)
        return state

    def ready_to_release() -> bool | None:
        note_state()
        if _probes(api, day) > 1:
            raise E2EFailure(
                f"the trigger polled before the release (sensor states {states}): it saw the uploads pending and "
                f"sleeps its poke_interval; raise HOLD_LATENCY ({HOLD_LATENCY} s) in {__file__}"
            )
        if "deferred" in states and _defer_exit_seen(stack, dag_id, run_id):
            return True
        return None

    try:
        _trigger_run(stack, dag_id, run_id, day, api.timezone)
        wait_for(f"{SENSOR} of {run_id} to defer (and the scheduler to drain its exit)", ready_to_release, 180, 0.2)
    finally:
        stop_watching.set()
        watcher.join(timeout=5)
        held = api.latency > 0
        api.clock.advance(PROCESSED_AFTER + 100)
        api.latency = 0.0
    if not held:
        raise E2EFailure(f"no one-row probe of {day} reached the emulator before {SENSOR} deferred")
    log.info("%s deferred (states %s); the uploads are processed from now on", SENSOR, states)

    def run_finished() -> str | None:
        state = str(stack.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])
        note_state()
        return state if state in ("success", "failed") else None

    final = wait_for(f"run {run_id} to finish", run_finished, timeout=180, interval=0.5)
    if final != "success":
        raise E2EFailure(f"run {run_id} ended {final}; sensor states seen {states}")
    probes = _probes(api, day)
    return DeferralRun(
        run_id=run_id,
        day=day,
        ext_ids=ext_ids,
        states_seen=states,
        probes=probes,
        probes_after_release=probes - 1,
        summary=stack.xcom(dag_id, run_id, SENSOR),
    )
