"""Hostile answers — a huge body, absurdly deep JSON, a body that is not JSON-RPC, records of the wrong type, a
``data`` that is not a list — fail cleanly with a :class:`UISError`: no crash, no partial output, the previous output
intact. A one-off hostile answer is retried like any transient failure and the window still lands exactly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

from uis_provider.exceptions import UISError
from uis_provider.extract import ReportQuery, extract_window
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.windows import Window
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.testing import UISEmulator
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

from .conftest import FAST, TZ, Answer, ScriptedAPI, read_jsonl, rpc_error, rpc_result, set_conn

OLD = b'{"previous": "output"}\n'
DAY = ("2026-01-14", "2026-01-15")
HOSTILE = ("huge", "deep", "not_jsonrpc", "malformed")


def land(conn_id: str, target: Path, *, page_size: int = 100, file_format: str = "jsonl") -> int:
    """Extract ``DAY`` of ``get.uploaded_calls`` to ``target`` with fast retries; returns the records written."""
    with UISHook(conn_id, retry_policy=FAST) as hook:
        window = Window.build(*DAY, TZ)
        query = ReportQuery.build("get.uploaded_calls", page_size=page_size)
        return extract_window(hook, window, query, target, file_format=file_format).records


def assert_untouched(target: Path) -> None:
    """The previous output is intact and nothing else (no temp, no partial file) is beside it."""
    assert target.read_bytes() == OLD
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def previous(tmp_path: Path, name: str = "part-0.jsonl") -> Path:
    """A target that already holds an earlier run's output, alone in its directory."""
    target = tmp_path / "out" / name
    target.parent.mkdir()
    target.write_bytes(OLD)
    return target


# -- the emulator's hostile answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_answer_every_time_fails_cleanly_and_writes_nothing(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    conn_id = set_conn(monkeypatch, "uis_tz", api.url, timezone=TZ)
    target = previous(tmp_path)
    api.faults.timeout_delay = 0.1
    api.faults.script([kind] * (FAST.max_retries + 1))
    with pytest.raises(UISError) as error:
        land(conn_id, target)
    assert error.value.retryable, "a hostile answer is a transport failure, worth the task's own retry"
    assert api.faults.injected == FAST.max_retries + 1
    assert api.count() == FAST.max_retries + 1, "retries must stop at the policy's bound"
    assert_untouched(target)


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_answer_mid_window_is_retried_and_the_window_still_lands(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    conn_id = set_conn(monkeypatch, "uis_tz", api.url, timezone=TZ)
    target = previous(tmp_path)
    api.faults.script([kind])
    written = land(conn_id, target, page_size=20)
    truth = sorted(api.records(*DAY), key=lambda r: r["ext_id"])
    assert written == len(truth) > 20
    assert read_jsonl(target) == [{c: r[c] for c in UPLOADED_CALLS.columns} for r in truth]
    assert api.faults.injected == 1


@pytest.mark.parametrize("kind", ["huge", "deep", "not_jsonrpc"])
def test_the_trigger_ends_with_one_error_event_on_hostile_answers(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    api.faults.script([kind] * (FAST.max_retries + 1))
    trigger = UISUploadedCallsTrigger(
        uis_conn_id="uis_default",
        date_from=pendulum.datetime(2026, 1, 14, tz=TZ).isoformat(),
        date_till=pendulum.datetime(2026, 1, 15, tz=TZ).isoformat(),
        timezone=TZ,
        poll_interval=0.01,
        retry_policy={"max_retries": FAST.max_retries, "backoff_base": 0.01, "backoff_max": 0.05},
    )

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), 60))
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "UIS API get.uploaded_calls" in events[0].payload["message"]
    assert api.count() == FAST.max_retries + 1


def test_the_sensor_poke_fails_cleanly_on_hostile_answers(api: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    api.faults.script(["deep", "huge", "not_jsonrpc", "malformed", "deep", "huge"])
    sensor = UISUploadedCallsSensor(task_id="wait", api_retry_policy=FAST)
    day = pendulum.datetime(2026, 1, 14, tz=TZ)
    with pytest.raises(UISError):
        sensor.poke({"data_interval_start": day, "data_interval_end": day.add(days=1)})
    assert api.count() == 6


# -- answers only a hostile server gives ------------------------------------------------------------------------


def record(n: int, **changes: Any) -> dict[str, Any]:
    """A well-formed uploaded-call record of 2026-01-14, then ``changes``."""
    base = {column: None for column in UPLOADED_CALLS.columns}
    base.update(ext_id=f"ext-{n:05d}", upload_time=f"2026-01-14 10:00:{n:02d}", status="processed", wait_duration=5)
    return {**base, **changes}


def pages(make: Callable[[int, int], Any], total: int = 3) -> Callable[[dict[str, Any]], Answer]:
    """A server answering ``get.uploaded_calls`` pages with ``data = make(offset, limit)`` and ``total_items``."""

    def handler(request: dict[str, Any]) -> Answer:
        params = request.get("params") or {}
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 1000))
        return rpc_result(request, {"data": make(offset, limit), "metadata": {"total_items": total}})

    return handler


def good(offset: int, limit: int, total: int = 3) -> list[dict[str, Any]]:
    """The well-formed records of one page of a ``total``-record list."""
    return [record(n) for n in range(offset, min(offset + limit, total))]


HOSTILE_DATA: list[Any] = [
    pytest.param(lambda o, lim: {"records": good(o, lim)}, "not a list of records", id="data-object"),
    pytest.param(lambda o, lim: "ext-00000,ext-00001", "not a list of records", id="data-string"),
    pytest.param(lambda o, lim: [1, 2, 3], "not a list of records", id="records-numbers"),
    pytest.param(lambda o, lim: [record(0), ["ext-00001"], record(2)], "not a list of records", id="record-list"),
    pytest.param(
        lambda o, lim: [record(0), record(1, upload_time=1768384801), record(2)], "record time", id="time-int"
    ),
    pytest.param(
        lambda o, lim: [record(0), record(1, upload_time="2026-01-14T10:00:01"), record(2)],
        "record time",
        id="time-iso",
    ),
    pytest.param(
        lambda o, lim: [record(0), record(1, upload_time={"date": "2026-01-14"}), record(2)],
        "record time",
        id="time-obj",
    ),
    pytest.param(
        lambda o, lim: [record(0), record(1, upload_time=None), record(2)],
        "upload_time",
        id="time-null",
    ),
    pytest.param(lambda o, lim: None, "total_items", id="data-null-with-rows"),
    pytest.param(lambda o, lim: good(o, lim)[:1], "total_items", id="short-page"),
]


@pytest.mark.parametrize(("make", "needle"), HOSTILE_DATA)
def test_records_of_the_wrong_shape_fail_cleanly_and_write_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make: Callable[[int, int], Any], needle: str
) -> None:
    target = previous(tmp_path)
    with ScriptedAPI(pages(make)) as server:
        conn_id = set_conn(monkeypatch, "uis_hostile", server.url, timezone=TZ)
        with pytest.raises(UISError) as error:
            land(conn_id, target)
        assert needle in str(error.value)
    assert_untouched(target)


@pytest.mark.parametrize(
    ("total", "needle"),
    [("three", "total_items"), (None, "total_items"), (True, "total_items"), (-3, "total_items")],
)
def test_a_broken_total_items_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, total: Any, needle: str
) -> None:
    target = previous(tmp_path)

    def handler(request: dict[str, Any]) -> Answer:
        return rpc_result(request, {"data": good(0, 3), "metadata": {"total_items": total}})

    with ScriptedAPI(handler) as server:
        conn_id = set_conn(monkeypatch, "uis_hostile", server.url, timezone=TZ)
        with pytest.raises(UISError, match=needle):
            land(conn_id, target)
    assert_untouched(target)


RAW_BODIES = [
    pytest.param(
        b'{"jsonrpc":"2.0","id":"x","result":{"data":[],"metadata":{"total_items":0}}}',
        "belongs to request",
        id="wrong-id",
    ),
    pytest.param(b'{"jsonrpc":"2.0","result":"ok"}', "neither an error nor a result", id="result-string"),
    pytest.param(b'{"jsonrpc":"2.0","error":"boom"}', "error member is not an object", id="error-string"),
    pytest.param(b'{"jsonrpc":"1.0","result":{}}', "not a JSON-RPC 2.0", id="jsonrpc-1"),
    pytest.param(b"[" + b'{"jsonrpc":"2.0"},' * 3 + b"{}]", "not a JSON-RPC 2.0", id="batch"),
    pytest.param(b'{"jsonrpc":"2.0","result":{"data":[' + b"9" * 100_000 + b"]}}", "not valid JSON", id="huge-number"),
    pytest.param(b"\xff\xfe{not utf-8}", "not valid JSON", id="not-utf8"),
    pytest.param(b"", "not valid JSON", id="empty"),
]


@pytest.mark.parametrize(("body", "needle"), RAW_BODIES)
def test_bodies_that_are_not_a_usable_answer_fail_cleanly_after_bounded_retries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: bytes, needle: str
) -> None:
    target = previous(tmp_path)
    with ScriptedAPI(lambda request: (200, body)) as server:
        conn_id = set_conn(monkeypatch, "uis_hostile", server.url, timezone=TZ)
        with pytest.raises(UISError) as error:
            land(conn_id, target)
        assert needle in str(error.value)
        assert len(server.requests) == FAST.max_retries + 1
    assert_untouched(target)


def test_parquet_output_refuses_a_record_of_the_wrong_type_as_a_uis_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = previous(tmp_path, "part-0.parquet")
    target.write_bytes(OLD)
    wrong = pages(lambda o, lim: [record(0), record(1, wait_duration="forty"), record(2)])
    with ScriptedAPI(wrong) as server:
        conn_id = set_conn(monkeypatch, "uis_hostile", server.url, timezone=TZ)
        with pytest.raises(UISError, match="wait_duration"):
            land(conn_id, target, file_format="parquet")
    assert_untouched(target)


def test_an_error_answer_with_hostile_members_still_maps_by_mnemonic(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def handler(request: dict[str, Any]) -> Answer:
        return rpc_error(
            request,
            "invalid_parameter_value",
            message="x" * 10_000,
            field=["not", "a", "string"],
            value={"deep": [[[[1]]]]},
            params="not an object",
            metadata={"limits": "none"},
        )

    target = previous(tmp_path)
    with ScriptedAPI(handler) as server:
        conn_id = set_conn(monkeypatch, "uis_hostile", server.url, timezone=TZ)
        with pytest.raises(UISError) as error:
            land(conn_id, target)
        assert error.value.mnemonic == "invalid_parameter_value"
        assert len(server.requests) == 1
        assert len(str(error.value)) < 12_000
    assert_untouched(target)
    json.dumps(error.value.params)
