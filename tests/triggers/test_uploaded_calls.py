"""UISUploadedCallsTrigger run on an asyncio loop against the emulator over loopback.

Covers the one terminal event (success, failure with codes, error with the API's message), serialization without
secrets, transient faults, an expired session, pacing by the minute budget, and cleanup on cancellation.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest
import requests
from airflow.triggers.base import TriggerEvent

from tests.conftest import API_KEY, PASSWORD, AfterRequests, make_upload_calls, start_upload_emulator, upload_calls
from uis_provider.hooks.uis_async import UISAsyncHook
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_status import (
    NothingPending,
    UploadsDone,
    UploadSelection,
    UploadsFailed,
    UploadsPending,
)
from uis_provider.protocol.windows import Window
from uis_provider.testing import UISEmulator
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger, final_event, timeout_event

TZ = "Europe/Moscow"
DAY = pendulum.datetime(2027, 4, 5, tz=TZ)
END = DAY.add(days=1)
API_FORMAT = "%Y-%m-%d %H:%M:%S"
FAST = {"max_retries": 5, "backoff_base": 0.01, "backoff_max": 0.05, "limit_margin": 0.05}


def local(moment: pendulum.DateTime) -> str:
    """A moment as the account's wall-clock text, the form every emulator knob accepts."""
    return moment.in_timezone(TZ).strftime(API_FORMAT)


def start_emulator(monkeypatch: pytest.MonkeyPatch, **knobs: Any) -> UISEmulator:
    """The shared upload emulator at noon of ``DAY`` (see ``tests.conftest.start_upload_emulator``)."""
    return start_upload_emulator(monkeypatch, DAY, seed=11, **knobs)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    emulator = start_emulator(monkeypatch)
    try:
        yield emulator
    finally:
        emulator.stop()


def upload(api: UISEmulator, n: int, *, urls: list[str] | None = None) -> list[str]:
    """Upload ``n`` calls now; ``urls`` gives the recording URL of the first ones."""
    prefix = f"trg-{int(api.clock.time())}"
    return upload_calls(make_upload_calls(api, n, prefix=prefix, urls=urls, timezone=TZ))


def trigger(**kwargs: Any) -> UISUploadedCallsTrigger:
    options: dict[str, Any] = {
        "uis_conn_id": "uis_default",
        "date_from": DAY.isoformat(),
        "date_till": END.isoformat(),
        "timezone": TZ,
        "poll_interval": 0.02,
        "retry_policy": FAST,
        **kwargs,
    }
    return UISUploadedCallsTrigger(**options)


def probes(api: UISEmulator) -> int:
    return sum(1 for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"].get("limit") == 1)


def all_events(subject: UISUploadedCallsTrigger) -> list[TriggerEvent]:
    """Every event the trigger yields until its generator ends."""

    async def collect() -> list[TriggerEvent]:
        return [event async for event in subject.run()]

    return asyncio.run(asyncio.wait_for(collect(), 60))


def test_waits_while_pending_then_yields_one_success_event(api: UISEmulator) -> None:
    upload(api, 4, urls=["https://records.example/missing.mp3"])
    finisher = AfterRequests(api, 3, probes, lambda: api.clock.advance(1300))
    events = all_events(trigger())
    finisher.finish()

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success"
    records = api.records(local(DAY), local(END))
    assert payload["summary"] == {
        "date_from": DAY.isoformat(),
        "date_till": END.isoformat(),
        "total": len(records),
        "statuses": dict(sorted(Counter(r["status"] for r in records).items())),
        "error_codes": {"http_status_download_error": 1},
    }
    assert payload["summary"]["statuses"] == {"error": 1, "processed": 3}
    assert probes(api) >= 3


def test_failure_event_names_how_many_errors_and_their_codes(api: UISEmulator) -> None:
    upload(api, 3, urls=["https://records.example/missing.mp3", "https://records.example/slow.mp3"])
    finisher = AfterRequests(api, 1, probes, lambda: api.clock.advance(1300))
    events = all_events(trigger(fail_on_error=True))
    finisher.finish()

    assert [e.payload["status"] for e in events] == ["failure"]
    payload = events[0].payload
    assert "2 of 3 selected uploads ended with status 'error'" in payload["message"]
    assert "http_status_download_error x1, timeout_download_error x1" in payload["message"]
    assert payload["summary"]["error_codes"] == {"http_status_download_error": 1, "timeout_download_error": 1}


def test_error_event_carries_the_api_message(api: UISEmulator) -> None:
    api.disable_method("get.uploaded_calls")
    events = all_events(trigger())
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "error"
    assert payload["mnemonic"] == "method_component_disabled"
    assert "Component required by method get.uploaded_calls is disabled" in payload["message"]


def test_error_event_for_a_missing_connection(api: UISEmulator) -> None:
    events = all_events(trigger(uis_conn_id="uis_nowhere"))
    assert [e.payload["status"] for e in events] == ["error"]
    assert "uis_conn_id='uis_nowhere': no such Airflow connection" in events[0].payload["message"]
    assert api.count() == 0


def test_empty_selection_succeeds_at_the_first_poll(api: UISEmulator) -> None:
    events = all_events(trigger())
    assert [e.payload["status"] for e in events] == ["success"]
    assert events[0].payload["summary"]["total"] == 0
    assert api.count("get.uploaded_calls") == 2


def test_survives_transient_faults(api: UISEmulator) -> None:
    upload(api, 2)
    api.faults.script(["http_502", "drop", "internal_error", "malformed"])
    finisher = AfterRequests(api, 2, probes, lambda: api.clock.advance(1300))
    events = all_events(trigger())
    finisher.finish()

    assert [e.payload["status"] for e in events] == ["success"]
    assert api.faults.injected == 4
    assert events[0].payload["summary"]["statuses"] == {"processed": 2}


def test_survives_an_expired_session_and_logs_out_at_the_end(api: UISEmulator) -> None:
    upload(api, 2)

    def expire_then_finish() -> None:
        api.expire_sessions()
        api.clock.advance(1300)

    finisher = AfterRequests(api, 2, probes, expire_then_finish)
    events = all_events(trigger(uis_conn_id="uis_login"))
    finisher.finish()

    assert [e.payload["status"] for e in events] == ["success"]
    assert "access_token_invalid" in [r["error"] for r in api.requests]
    assert api.count("login.user") == 2
    assert api.count("logout.user") == 1
    assert api.open_sessions == 0


def test_paces_itself_by_the_minute_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    api = start_emulator(monkeypatch, minute_limit=6, minute_window=0.5)
    try:
        upload(api, 1)
        finisher = AfterRequests(api, 9, probes, lambda: api.clock.advance(1300))
        events = all_events(trigger(poll_interval=0))
        finisher.finish()
    finally:
        api.stop()

    assert [e.payload["status"] for e in events] == ["success"]
    assert probes(api) >= 9
    assert [r["error"] for r in api.requests if r["error"]] == []


def test_cancellation_logs_out_and_closes(api: UISEmulator) -> None:
    api.add_calls(2, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="new")

    async def cancel_after_two_probes() -> bool:
        task = asyncio.ensure_future(anext(trigger(uis_conn_id="uis_login").run()))
        while probes(api) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(asyncio.wait_for(cancel_after_two_probes(), 60))
    assert api.count("login.user") == 1
    assert api.count("logout.user") == 1
    assert api.open_sessions == 0


def test_serialize_round_trips_and_holds_no_secret(api: UISEmulator) -> None:
    from uis_provider.version_compat import AIRFLOW_V_3_2_PLUS

    serde = importlib.import_module("airflow.sdk.serde" if AIRFLOW_V_3_2_PLUS else "airflow.serialization.serde")
    selection = UploadSelection(
        window=Window.build(DAY, END, TZ),
        filter={"field": "ext_request_id", "operator": "=", "value": "batch-7"},
        pending_statuses=("new", "in_process", "not_processed"),
        fail_on_error=True,
        user_id=77,
        page_size=500,
    )
    original = UISUploadedCallsTrigger.for_selection(
        selection, uis_conn_id="uis_login", poll_interval=15, retry_policy=RetryPolicy(**FAST)
    )
    classpath, kwargs = original.serialize()
    assert classpath == "uis_provider.triggers.uploaded_calls.UISUploadedCallsTrigger"
    restored = UISUploadedCallsTrigger(**serde.deserialize(serde.serialize(kwargs)))
    assert restored.serialize() == (classpath, kwargs)
    assert restored.selection() == selection
    assert json.loads(json.dumps(kwargs)) == kwargs

    api.add_calls(1, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="processed")
    events = all_events(restored)
    tokens = {r["params"].get("access_token") for r in api.requests if r["method"]} - {None}
    assert tokens
    dumped = json.dumps(restored.serialize()[1]) + repr(restored) + json.dumps(events[0].payload)
    for secret in (PASSWORD, API_KEY, *tokens):
        assert secret not in dumped
    assert api.requests[-2]["params"]["user_id"] == 77


def test_async_hook_calls_through_the_session_and_masks_every_secret(api: UISEmulator) -> None:
    from airflow.providers.common.compat.sdk import redact

    async def account() -> dict[str, Any]:
        hook = UISAsyncHook("uis_login")
        try:
            return await hook.call("get.account")
        finally:
            await hook.aclose()

    result = asyncio.run(account())
    assert result["data"][0]["timezone"] == TZ
    token = next(r["params"]["access_token"] for r in api.requests if r["method"] == "get.account")
    assert redact(f"token={token} password={PASSWORD}") == "token=*** password=***"
    assert api.count("logout.user") == 1
    assert api.open_sessions == 0


def test_deadline_ends_the_wait_with_one_timeout_event_naming_what_is_pending(api: UISEmulator) -> None:
    upload(api, 3)
    started = time.time()
    events = all_events(trigger(poll_interval=0.05, deadline=started + 0.3, summarize=False))
    assert [event.payload["status"] for event in events] == ["timeout"]
    assert events[0].payload["pending"] == 3
    assert "stopped waiting at the deadline" in events[0].payload["message"]
    assert 0.3 <= time.time() - started < 10
    assert api.open_sessions == 0


def test_without_summary_a_settled_window_costs_one_call_per_poll(api: UISEmulator) -> None:
    upload(api, 2)
    finisher = AfterRequests(api, 2, probes, lambda: api.clock.advance(1300))
    api.reset_log()
    events = all_events(trigger(summarize=False, deadline=time.time() + 60))
    finisher.finish()
    assert [event.payload for event in events] == [{"status": "success", "summary": None}]
    listing = [r for r in api.requests if r["method"] == "get.uploaded_calls"]
    assert listing
    assert all(r["params"]["limit"] == 1 for r in listing), "no summary pass when nothing is pending"


def test_deadline_and_summary_flag_survive_serialization(api: UISEmulator) -> None:
    selection = UploadSelection(window=Window.build(DAY, END, TZ), summarize=False)
    original = UISUploadedCallsTrigger.for_selection(
        selection, uis_conn_id="uis_default", poll_interval=5, deadline=1e9
    )
    _, kwargs = original.serialize()
    assert (kwargs["summarize"], kwargs["deadline"], kwargs["budget_timeout"]) == (False, 1e9, 21600.0)
    assert UISUploadedCallsTrigger(**kwargs).selection() == selection


def spend_the_minute_budget(api: UISEmulator) -> None:
    """One call outside the trigger, so that its first check is refused by a one-point minute budget."""
    body = {"jsonrpc": "2.0", "id": "burn", "method": "get.account", "params": {"access_token": API_KEY}}
    answer = requests.post(api.url, json=body, timeout=10).json()
    assert "result" in answer, answer


def test_a_check_past_hour_six_waits_for_the_minute_budget_under_its_own_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session is made at the trigger's start; every check bounds its waits anew, so a trigger polling for 7 hours
    still waits out a refusal instead of failing at the 6-hour deadline of its first check."""
    api = start_emulator(monkeypatch, minute_limit=1, minute_window=1.0)
    original = UISAsyncHook.get_session
    seven_hours = 7 * 3600.0

    async def session_seven_hours_on(hook: UISAsyncHook) -> Any:
        session = await original(hook)
        session.clock = lambda: time.time() + seven_hours
        return session

    monkeypatch.setattr(UISAsyncHook, "get_session", session_seven_hours_on)
    try:
        spend_the_minute_budget(api)
        events = all_events(trigger(summarize=False, poll_interval=0))
        refusals = [r for r in api.requests if r["method"] == "get.uploaded_calls" and r["error"] == "limit_exceeded"]
    finally:
        api.stop()
    assert [event.payload for event in events] == [{"status": "success", "summary": None}]
    assert refusals, "the first check was refused and waited for the reset"


def test_outcomes_become_json_events_only_at_the_trigger() -> None:
    summary: Any = {"date_from": "a", "date_till": "b", "total": 1, "statuses": {"error": 1}, "error_codes": {}}
    assert final_event(UploadsDone(summary)) == {"status": "success", "summary": summary}
    assert final_event(NothingPending()) == {"status": "success", "summary": None}
    assert final_event(UploadsFailed(summary, "1 of 1 ...")) == {
        "status": "failure",
        "message": "1 of 1 ...",
        "summary": summary,
    }
    event = timeout_event(UploadsPending(3, "3 uploads are pending"))
    assert event == {
        "status": "timeout",
        "pending": 3,
        "message": "3 uploads are pending; stopped waiting at the deadline",
    }
    assert json.loads(json.dumps(event)) == event
