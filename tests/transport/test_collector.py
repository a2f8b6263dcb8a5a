"""The garbage-collector pause: the transports pause it while a flow decodes a large answer, and only then."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from uis_provider.protocol.session import Effect, Reply, Send
from uis_provider.transport import aio, collector, sync


def flow_seeing_the_collector() -> Generator[Effect, Reply | None, bool]:
    """Send once; return whether the collector was on when the answer came back (where the flow decodes it)."""
    yield Send("get.account", b"{}", 1.0)
    return gc.isenabled()


def answering(body: bytes) -> Any:
    def post(*_args: Any) -> Reply:
        return Reply(status=200, body=body)

    return post


@pytest.mark.parametrize(("size", "paused"), [(collector.GC_PAUSE_BYTES, True), (collector.GC_PAUSE_BYTES - 1, False)])
def test_the_sync_transport_pauses_the_collector_while_a_large_answer_is_handed_to_the_flow(
    monkeypatch: pytest.MonkeyPatch, size: int, paused: bool
) -> None:
    monkeypatch.setattr(sync, "post", answering(b" " * size))
    assert gc.isenabled()
    enabled = sync.run(flow_seeing_the_collector(), None, "http://127.0.0.1:1/v2.0")  # type: ignore[arg-type]
    assert enabled is not paused
    assert gc.isenabled(), "restored once the flow has the answer"


def test_the_async_transport_pauses_it_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    async def post(*_args: Any) -> Reply:
        return Reply(status=200, body=bytearray(collector.GC_PAUSE_BYTES))

    monkeypatch.setattr(aio, "post", post)

    async def drive() -> bool:
        async with httpx.AsyncClient() as client:
            return await aio.run(flow_seeing_the_collector(), client, "http://127.0.0.1:1/v2.0")

    assert asyncio.run(drive()) is False
    assert gc.isenabled()


def test_pauses_nest_across_threads_and_restore_the_state_they_found() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with collector.collector_paused():
            inside.set()
            leave.wait(5.0)

    worker = threading.Thread(target=hold)
    worker.start()
    assert inside.wait(5.0)
    with collector.collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled(), "still paused: the other thread is decoding"
    leave.set()
    worker.join(5.0)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.collector_paused():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()


def test_the_protocol_core_leaves_the_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from uis_provider.protocol.jsonrpc import decode_json

    paused: list[bool] = []
    monkeypatch.setattr(gc, "disable", lambda: paused.append(True))
    assert len(decode_json(b"[" + b"{}," * 50_000 + b"{}]")) == 50_001
    assert paused == []
