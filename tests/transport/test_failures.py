"""Requests that get no answer: the error names the URL tried and the reason, and what cannot succeed is not retried.

Name resolution is faked for the two names used here (so no query leaves the machine); everything else is real
sockets on loopback: a port nothing listens on, the emulator spoken to in TLS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import conn_json
from uis_provider.exceptions import UISTransportError
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Send
from uis_provider.testing import UISEmulator
from uis_provider.transport import aio

UNRESOLVABLE = ("nosuchhost.invalid", "dataapi.uiscom.ru")
FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.01)


@pytest.fixture(autouse=True)
def no_such_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """``getaddrinfo`` answers EAI_NONAME for :data:`UNRESOLVABLE`, as a resolver does for a name with no address."""
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hook_for(monkeypatch: pytest.MonkeyPatch, host: str) -> UISHook:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_FAILING", conn_json(host))
    return UISHook("uis_failing", retry_policy=FAST)


def test_a_host_name_that_does_not_resolve_is_named_and_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = hook_for(monkeypatch, "http://nosuchhost.invalid/v2.0")
    with pytest.raises(UISTransportError) as error:
        hook.call("get.account")
    text = str(error.value)
    assert "cannot reach http://nosuchhost.invalid/v2.0 for get.account" in text
    assert "the host name 'nosuchhost.invalid' does not resolve (Name or service not known)" in text
    assert not error.value.retryable
    assert hook.session.stats.retries == 0


def test_a_refused_connection_names_the_port_and_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    hook = hook_for(monkeypatch, f"http://127.0.0.1:{port}/v2.0")
    with pytest.raises(UISTransportError) as error:
        hook.call("get.account")
    assert f"cannot reach http://127.0.0.1:{port}/v2.0 for get.account: connection refused" in str(error.value)
    assert f"nothing listens on 127.0.0.1 port {port}" in str(error.value)
    assert hook.session.stats.retries == FAST.max_retries


def test_an_empty_host_says_the_default_host_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = hook_for(monkeypatch, "").test_connection()
    assert not ok
    assert "cannot reach https://dataapi.uiscom.ru/v2.0 for get.account" in message
    assert "the connection's host is empty, so the default https://dataapi.uiscom.ru/v2.0 was used" in message


def test_a_host_without_a_scheme_says_https_was_assumed(monkeypatch: pytest.MonkeyPatch, emulator: UISEmulator) -> None:
    bare = emulator.url.removeprefix("http://")
    ok, message = hook_for(monkeypatch, bare).test_connection()
    assert not ok
    assert "TLS handshake failed during get.account" in message
    assert f"the connection's host '{bare}' has no scheme, so https:// was assumed" in message
    assert f"write http://{bare}" in message


def test_the_trigger_transport_names_the_url_and_does_not_retry_what_cannot_resolve() -> None:
    async def post(endpoint: str) -> Any:
        async with httpx.AsyncClient() as client:
            return await aio.post(client, endpoint, Send("get.uploaded_calls", b"{}", 5.0))

    unresolved = asyncio.run(post("http://nosuchhost.invalid/v2.0"))
    assert unresolved.permanent
    assert "the host name 'nosuchhost.invalid' does not resolve" in (unresolved.failure or "")
    port = closed_port()
    refused = asyncio.run(post(f"http://127.0.0.1:{port}/v2.0"))
    assert not refused.permanent
    assert f"nothing listens on 127.0.0.1 port {port}" in (refused.failure or "")
