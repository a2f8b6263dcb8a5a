"""The httpx transport of triggers: what it loads, how it reads an answer, how it drives a flow."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_KEY
from uis_provider.protocol.jsonrpc import build_request, parse_response
from uis_provider.protocol.session import Effect, Reply, Send, Sleep
from uis_provider.testing import UISEmulator
from uis_provider.transport import aio, common

ROOT = Path(__file__).resolve().parents[2]


def test_the_triggerer_transport_loads_neither_the_sync_transport_nor_requests() -> None:
    script = (
        "import sys, uis_provider.transport.aio\n"
        "print(sorted(m for m in ('uis_provider.transport.sync', 'requests') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def post(url: str, send: Send) -> Reply:
    async def once() -> Reply:
        async with aio.new_http_client() as client:
            return await aio.post(client, url, send)

    return asyncio.run(once())


def test_an_answer_is_read_into_one_buffer_and_parses(emulator: UISEmulator) -> None:
    body = build_request("get.account", {"access_token": API_KEY}, "r1")
    reply = post(emulator.url, Send("get.account", body, 10.0))
    assert reply.failure is None and reply.status == 200
    assert isinstance(reply.body, bytearray), "grown in place, not joined from chunks"
    assert parse_response("get.account", "r1", reply.status, reply.body)["data"]


def test_an_answer_declared_larger_than_the_bound_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(common.MAX_BODY_BYTES + 1)}, content=b"")

    async def once() -> Reply:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await aio.post(client, "http://uis.test/v2.0", Send("get.calls_report", b"{}", 5.0))

    reply = asyncio.run(once())
    assert reply.failure == common.oversized("get.calls_report")


def test_a_flow_is_driven_through_its_sleeps_and_after_step_runs_after_each_step() -> None:
    steps: list[str] = []

    def flow() -> Generator[Effect, Reply | None, str]:
        steps.append("start")
        yield Sleep(0.0, "a pause")
        steps.append("slept")
        reply = yield Send("get.account", b"{}", 5.0)
        assert reply is not None
        steps.append(f"answered {reply.status}")
        return "done"

    async def after_step() -> None:
        steps.append("after")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}")

    async def drive() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await aio.run(flow(), client, "http://uis.test/v2.0", after_step=after_step)

    assert asyncio.run(drive()) == "done"
    assert steps == ["start", "after", "slept", "after", "answered 200", "after"]
