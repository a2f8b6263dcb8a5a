"""Fault injection against the emulator: a 50 000-call window survives 20 % seeded faults and expiring sessions
byte for byte, data moving mid-window neither loses nor repeats a record, an exhausted daily budget fails fast, and
the deferrable sensor's trigger ends with exactly one, correct event under the same faults.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.triggers.base import TriggerEvent

from tests.conftest import AfterRequests, make_upload_calls, probes, upload_calls
from uis_provider.exceptions import UISRateLimitError
from uis_provider.extract import ExtractResult, ReportQuery, extract_window
from uis_provider.hooks.uis import DEFAULT_PREFETCH_PAGES, UISHook
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.protocol.windows import Window
from uis_provider.testing import UISEmulator
from uis_provider.testing.faults import Faults
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

from .conftest import API_FORMAT, FAST, LOGIN, PASSWORD, TZ, emulator, read_jsonl, set_conn

#: Every transient failure the issue names; the session expiring is switched on separately.
FAULT_KINDS = ("http_502", "http_503", "drop", "timeout", "malformed", "internal_error", "limit_minute")
FAULT_SEED = 20
BIG_CALLS = 50_000
BIG_FROM, BIG_TILL = "2026-03-02", "2026-03-07"
#: Short enough that a ``timeout`` fault costs two seconds; ample for a 1 000-record page (tens of milliseconds).
SHORT_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def big() -> Iterator[UISEmulator]:
    """50 000 uploaded calls over five Moscow days, with a one-second minute window so limit faults reset fast."""
    started = emulator(calls=BIG_CALLS, seed=17, start=BIG_FROM, days=5, minute_window=1.0)
    try:
        yield started
    finally:
        started.stop()


def extract(conn_id: str, target: Path) -> tuple[ExtractResult, UISHook]:
    """Land the big window of ``get.uploaded_calls`` in 1 000-record pages with fast backoff; returns the hook too."""
    hook = UISHook(conn_id, retry_policy=FAST)
    with hook:
        span = Window.build(BIG_FROM, BIG_TILL, hook.get_timezone())
        result = extract_window(hook, span, ReportQuery.build("get.uploaded_calls", page_size=1000), target)
    return result, hook


def test_50k_window_under_20_percent_faults_and_expiring_sessions_is_byte_identical(
    big: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clean = set_conn(monkeypatch, "uis_clean", big.url, timezone=TZ)
    baseline, _ = extract(clean, tmp_path / "clean.jsonl")
    truth = sorted(big.records(BIG_FROM, BIG_TILL), key=lambda r: r["ext_id"])
    assert baseline.records == len(truth) == BIG_CALLS
    assert [r["ext_id"] for r in read_jsonl(tmp_path / "clean.jsonl")] == [r["ext_id"] for r in truth]

    faulty = set_conn(monkeypatch, "uis_faulty", big.url, login=LOGIN, password=PASSWORD, timeout=SHORT_TIMEOUT)
    big.reset_log()
    big.expire_sessions_every(3)
    big.faults.timeout_delay = SHORT_TIMEOUT + 0.5
    big.faults.random(0.2, FAULT_KINDS, seed=FAULT_SEED)
    caplog.set_level(logging.INFO, logger="uis_provider.transport")
    try:
        result, hook = extract(faulty, tmp_path / "faulty.jsonl")
    finally:
        big.faults.clear()
        big.expire_sessions_every(None)

    assert (tmp_path / "faulty.jsonl").read_bytes() == (tmp_path / "clean.jsonl").read_bytes()
    assert result.records == BIG_CALLS
    log = big.requests
    faults = Counter(r["fault"] for r in log if r["fault"])
    assert set(faults) == set(FAULT_KINDS), "the seed must exercise every fault kind"
    assert 0.1 < sum(faults.values()) / len(log) < 0.3
    # every injected fault cost exactly one retry, and no call ran out of retries; a per-minute refusal is
    # back-pressure: waited out without using up a retry. The closing logout is best effort: whatever fault it
    # meets (a refusal included) only drops the token, so it is neither retried nor waited out.
    kept = [r for r in log if r["method"] != "logout.user"]
    retried = sum(1 for r in kept if r["fault"] not in (None, "limit_minute"))
    stats = hook.session.stats
    assert stats.retries == retried
    assert stats.refusals == sum(1 for r in kept if r["fault"] == "limit_minute") > 0
    retry_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("UIS: retry ")]
    assert len(retry_lines) == stats.retries
    attempts = [int(m.group(1)) for m in (re.search(r"retry (\d+)/(\d+)", line) for line in retry_lines) if m]
    assert len(attempts) == len(retry_lines)
    assert max(attempts) <= FAST.max_retries
    # sessions died every three calls: one fresh login per dead session (shared by the calls in flight), no loop
    answered = [r for r in log if not r["fault"] and not r["error"]]
    served = sum(1 for r in answered if r["method"] not in ("login.user", "logout.user"))
    logins = sum(1 for r in answered if r["method"] == "login.user")
    refused = sum(1 for r in log if r["error"] == "access_token_invalid")
    assert served == 1 + BIG_CALLS // 1000  # get.account and fifty pages, each answered once
    assert stats.logins == logins == math.ceil(served / 3)
    assert refused >= logins - 1


# -- total_items moving while a window is paged --------------------------------------------------------------


class AtRequest(Faults):
    """The emulator's fault source, plus an action run when the ``n``-th request arrives (before it is answered)."""

    def __init__(self, n: int, action: Callable[[], object]) -> None:
        super().__init__()
        self._n = n
        self._action = action
        self._seen = 0
        self._count_lock = threading.Lock()

    def next(self) -> str | None:
        """Count this request, run the action on the ``n``-th, then draw the fault as usual."""
        with self._count_lock:
            self._seen += 1
            fire = self._seen == self._n
        if fire:
            self._action()
        return super().next()


@pytest.mark.parametrize(
    ("add_from", "add_till", "max_window_days", "passes"),
    [
        # into the day being paged: total_items moves, the whole window is read again
        ("2026-01-10 03:00:00", "2026-01-10 21:00:00", 90, 2),
        # into a later part not read yet: it is read with the new calls in it, no second pass needed
        ("2026-01-12 00:00:00", "2026-01-12 23:00:00", 1, 1),
    ],
)
def test_calls_uploaded_mid_window_are_neither_skipped_nor_repeated(
    api: UISEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    add_from: str,
    add_till: str,
    max_window_days: int,
    passes: int,
) -> None:
    conn_id = set_conn(monkeypatch, "uis_tz", api.url, timezone=TZ)
    added: list[str] = []
    api.faults = AtRequest(3, lambda: added.extend(api.add_calls(17, add_from, add_till)))
    before = {r["ext_id"] for r in api.records("2026-01-10", "2026-01-13")}
    target = tmp_path / "out.jsonl"
    with UISHook(conn_id, retry_policy=FAST) as hook:
        window = Window.build("2026-01-10", "2026-01-13", TZ)
        query = ReportQuery.build("get.uploaded_calls", page_size=20, max_window_days=max_window_days)
        result = extract_window(hook, window, query, target)

    got = [r["ext_id"] for r in read_jsonl(target)]
    assert len(added) == 17
    assert len(got) == len(set(got)), "a record was written twice"
    assert set(got) == before | set(added), "a record was skipped"
    truth = sorted(api.records("2026-01-10", "2026-01-13"), key=lambda r: (r["upload_time"][:10], r["ext_id"]))
    order = [r["ext_id"] for r in truth] if max_window_days == 1 else sorted(r["ext_id"] for r in truth)
    assert got == order
    assert result.attempts == passes


# -- the daily point budget ---------------------------------------------------------------------------------


def day_context() -> dict[str, Any]:
    """The data interval of the Moscow days 2026-01-05 and 2026-01-06."""
    start = pendulum.datetime(2026, 1, 5, tz=TZ)
    return {"data_interval_start": start, "data_interval_end": start.add(days=2)}


def test_exhausted_daily_budget_fails_fast_with_the_reset_time_and_one_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = emulator(day_limit=3)
    try:
        set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
        target = tmp_path / "part-0.jsonl"
        target.write_bytes(b'{"previous": true}\n')
        op = UISUploadedCallsToStorageOperator(task_id="extract", output_path=str(target), page_size=20)
        started = time.monotonic()
        with pytest.raises(UISRateLimitError) as error:
            op.execute(day_context())
        elapsed = time.monotonic() - started
        log = api.requests
        refused = [r for r in log if r["error"] == "limit_exceeded"]
        assert len(refused) == 1, "the exhausted day budget was asked again"
        assert len(log) == 4
        message = str(error.value)
        reset = re.search(r"refills in (\d+) s", message)
        assert reset is not None, message
        assert 86_000 < int(reset.group(1)) <= 86_400
        assert "daily point budget is exhausted" in message
        assert error.value.retryable is False
        assert elapsed < 30, "the task waited for a budget that refills tomorrow"
        assert target.read_bytes() == b'{"previous": true}\n'
        assert [p.name for p in tmp_path.iterdir()] == ["part-0.jsonl"]

        # the task's own retry costs one more call, not a storm
        api.reset_log()
        with pytest.raises(UISRateLimitError):
            op.execute(day_context())
        assert api.count() == 1
    finally:
        api.stop()


def test_daily_limit_answered_mid_window_is_not_retried(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    faults = AtRequest(3, lambda: faults.script(["limit_day"]))
    api.faults = faults
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"previous\n")
    op = UISUploadedCallsToStorageOperator(task_id="extract", output_path=str(target), page_size=20)
    with pytest.raises(UISRateLimitError, match=r"refills in \d+ s"):
        op.execute(day_context())
    answered = [r["fault"] for r in api.requests]
    assert answered.count("limit_day") == 1
    # only pages already in flight when the budget ran out may follow (the first page, the refused one and up to
    # prefetch_pages - 1 others), never a retry of the refused call
    assert len(answered) <= 2 + DEFAULT_PREFETCH_PAGES
    offsets = [r["params"]["offset"] for r in api.requests]
    refused_offset = next(r["params"]["offset"] for r in api.requests if r["fault"] == "limit_day")
    assert offsets.count(refused_offset) == 1
    assert target.read_bytes() == b"previous\n"


# -- the trigger of the deferrable sensor -------------------------------------------------------------------

DAY = pendulum.datetime(2027, 6, 7, tz=TZ)
PROCESS_SECONDS = 1200.0


def local(moment: pendulum.DateTime) -> str:
    """A moment as the account's wall-clock text, the form the emulator's knobs take."""
    return moment.in_timezone(TZ).strftime(API_FORMAT)


@pytest.fixture
def future_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """An emulator whose clock is at noon of ``DAY``: the day holds only this test's uploads."""
    started = emulator(calls=300, days=10, new_seconds=600, process_seconds=PROCESS_SECONDS, minute_window=1.0, seed=23)
    started.clock.advance(DAY.add(hours=12).timestamp() - started.clock.time())
    set_conn(monkeypatch, "uis_default", started.url)
    try:
        yield started
    finally:
        started.stop()


def upload(api: UISEmulator, n: int, *, broken: int = 0) -> list[str]:
    """Upload ``n`` calls now; the first ``broken`` have a recording that cannot be downloaded."""
    missing = [f"https://records.example/missing/{i}.mp3" for i in range(broken)]
    return upload_calls(make_upload_calls(api, n, prefix="rel", urls=missing, timezone=TZ))


def run_to_end(trigger: UISUploadedCallsTrigger) -> list[TriggerEvent]:
    """Every event the trigger yields until its generator ends."""

    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 120))


def faulty_trigger(api: UISEmulator, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> UISUploadedCallsTrigger:
    """A trigger on a login connection, with the session dying every 3 calls and 20 % random faults from now."""
    set_conn(monkeypatch, "uis_login", api.url, login=LOGIN, password=PASSWORD, timeout=SHORT_TIMEOUT)
    api.expire_sessions_every(3)
    api.faults.timeout_delay = SHORT_TIMEOUT + 0.5
    api.faults.random(0.2, FAULT_KINDS, seed=FAULT_SEED + 1)
    return UISUploadedCallsTrigger(
        uis_conn_id="uis_login",
        date_from=DAY.isoformat(),
        date_till=DAY.add(days=1).isoformat(),
        timezone=TZ,
        poll_interval=0.02,
        page_size=7,
        retry_policy={"max_retries": 5, "backoff_base": 0.01, "backoff_max": 0.05, "limit_margin": 0.05},
        **kwargs,
    )


def truth_counts(api: UISEmulator) -> tuple[dict[str, int], dict[str, int]]:
    """Ground truth of ``DAY``: uploads per status and per error code."""
    records = api.records(local(DAY), local(DAY.add(days=1)))
    statuses = Counter(r["status"] for r in records)
    codes = Counter(r["error_code"] for r in records if r["error_code"])
    return dict(sorted(statuses.items())), dict(sorted(codes.items()))


def test_trigger_under_faults_and_expiring_sessions_yields_one_success_event(
    future_api: UISEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(future_api, 30)
    trigger = faulty_trigger(future_api, monkeypatch)
    finisher = AfterRequests(future_api, 3, probes, lambda: future_api.clock.advance(PROCESS_SECONDS + 60))
    events = run_to_end(trigger)
    finisher.finish()

    assert len(events) == 1
    payload = events[0].payload
    statuses, codes = truth_counts(future_api)
    assert statuses == {"processed": 30}
    assert payload == {
        "status": "success",
        "summary": {
            "date_from": DAY.isoformat(),
            "date_till": DAY.add(days=1).isoformat(),
            "total": 30,
            "statuses": statuses,
            "error_codes": codes,
        },
    }
    log = future_api.requests
    assert sum(1 for r in log if r["fault"]) >= 3
    assert sum(1 for r in log if r["error"] == "access_token_invalid") >= 2


def test_trigger_under_faults_yields_one_failure_event_naming_the_errors(
    future_api: UISEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(future_api, 20, broken=3)
    trigger = faulty_trigger(future_api, monkeypatch, fail_on_error=True)
    finisher = AfterRequests(future_api, 2, probes, lambda: future_api.clock.advance(PROCESS_SECONDS + 60))
    events = run_to_end(trigger)
    finisher.finish()

    assert len(events) == 1
    payload = events[0].payload
    statuses, codes = truth_counts(future_api)
    assert statuses == {"error": 3, "processed": 17}
    assert payload["status"] == "failure"
    assert payload["summary"]["statuses"] == statuses
    assert payload["summary"]["error_codes"] == codes == {"http_status_download_error": 3}
    assert "3 of 20 selected uploads ended with status 'error'" in payload["message"]


def test_trigger_under_faults_ends_with_one_error_event_when_the_budget_is_gone(
    future_api: UISEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(future_api, 5)
    trigger = faulty_trigger(future_api, monkeypatch)

    helper = AfterRequests(future_api, 2, probes, lambda: future_api.faults.script(["limit_day"]))
    events = run_to_end(trigger)
    helper.finish()

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "error"
    assert payload["mnemonic"] == "limit_exceeded"
    assert re.search(r"refills in \d+ s", payload["message"])
    assert sum(1 for r in future_api.requests if r["fault"] == "limit_day") == 1
