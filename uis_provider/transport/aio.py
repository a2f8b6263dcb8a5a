"""Run a protocol flow over ``httpx.AsyncClient`` — the transport of the deferrable sensor's trigger."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar

import httpx

from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.session import Effect, Reply, Send, Sleep
from uis_provider.transport.collector import decoding
from uis_provider.transport.common import HEADERS, declared_too_large, grown, oversized, warn_if_unverified
from uis_provider.transport.failures import client_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


def new_http_client(settings: ConnectionSettings | None = None) -> httpx.AsyncClient:
    """An async HTTP client trusting the same CAs and using the same proxy as the sync transport's
    :func:`uis_provider.transport.sync.new_http_client`.

    Verification is on unless the connection says ``verify: false``; timeouts come per request from the flow.
    """
    if settings is None:
        return httpx.AsyncClient(headers=HEADERS)
    trust = settings.tls_trust(os.environ)
    verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=trust) if isinstance(trust, str) else trust
    warn_if_unverified(settings)
    return httpx.AsyncClient(headers=HEADERS, verify=verify, proxy=settings.proxy or None)


async def post(http: httpx.AsyncClient, endpoint: str, effect: Send) -> Reply:
    """POST one request; network failures become a :class:`Reply` with ``failure`` set, never an exception."""
    try:
        async with http.stream("POST", endpoint, content=effect.body, timeout=effect.timeout) as response:
            if declared_too_large(response.headers):
                return Reply(failure=oversized(effect.method))
            body = bytearray()
            async for chunk in response.aiter_bytes():
                if not grown(body, chunk):
                    return Reply(failure=oversized(effect.method))
            return Reply(status=response.status_code, body=body)
    except httpx.HTTPError as exc:
        return client_failure(effect, endpoint, exc, timeout=httpx.TimeoutException, connection=httpx.TransportError)


async def run(
    flow: Generator[Effect, Reply | None, T],
    http: httpx.AsyncClient,
    endpoint: str,
    *,
    after_step: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """Drive a flow to its end asynchronously: the same flows the sync transport runs.

    ``after_step`` is awaited each time the flow has moved on, before its next effect is carried out (the async
    hook masks there the secrets the flow has just learned, as the sync hook does within the step).
    """
    try:
        effect = next(flow)
        while True:
            if after_step is not None:
                await after_step()
            if isinstance(effect, Sleep):
                log.log(effect.level, "UIS: %s", effect.reason)
                await asyncio.sleep(effect.seconds)
                effect = flow.send(None)
            else:
                reply = await post(http, endpoint, effect)
                with decoding(reply):
                    effect = flow.send(reply)
    except StopIteration as stop:
        return stop.value
    finally:
        if after_step is not None:
            await after_step()
