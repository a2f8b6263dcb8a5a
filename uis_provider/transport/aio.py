"""Run a protocol flow over ``httpx.AsyncClient`` — the transport of the deferrable sensor's trigger."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Generator
from typing import TypeVar

import httpx

from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.jsonrpc import CONTENT_TYPE
from uis_provider.protocol.session import Effect, Reply, Send, Sleep
from uis_provider.transport.failures import causes, unanswered
from uis_provider.transport.sync import (
    MAX_BODY_BYTES,
    declared_too_large,
    oversized,
    tls_refused,
    warn_if_unverified,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def new_http_client(settings: ConnectionSettings | None = None) -> httpx.AsyncClient:
    """An async HTTP client trusting the same CAs and using the same proxy as the sync transport.

    Verification is on unless the connection says ``verify: false``; timeouts come per request from the flow.
    """
    headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
    if settings is None:
        return httpx.AsyncClient(headers=headers)
    trust = settings.tls_trust(os.environ)
    verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=trust) if isinstance(trust, str) else trust
    warn_if_unverified(settings)
    return httpx.AsyncClient(headers=headers, verify=verify, proxy=settings.proxy or None)


async def post(http: httpx.AsyncClient, endpoint: str, effect: Send) -> Reply:
    """POST one request; network failures become a :class:`Reply` with ``failure`` set, never an exception."""
    try:
        async with http.stream("POST", endpoint, content=effect.body, timeout=effect.timeout) as response:
            if declared_too_large(response.headers):
                return Reply(failure=oversized(effect.method))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Reply(failure=oversized(effect.method))
                chunks.append(chunk)
            return Reply(status=response.status_code, body=b"".join(chunks))
    except httpx.TimeoutException:
        return Reply(failure=f"timed out after {effect.timeout:g} s waiting for {effect.method}")
    except httpx.TransportError as exc:
        if _caused_by_tls(exc):
            return tls_refused(effect.method, exc)
        return unanswered(effect.method, endpoint, exc)
    except httpx.HTTPError as exc:
        return Reply(failure=f"HTTP failure during {effect.method} ({type(exc).__name__})")


def _caused_by_tls(error: BaseException) -> bool:
    """True when an httpx transport error comes from a refused TLS handshake (httpx wraps ``ssl.SSLError``)."""
    return any(isinstance(cause, ssl.SSLError) for cause in causes(error))


async def run(flow: Generator[Effect, Reply | None, T], http: httpx.AsyncClient, endpoint: str) -> T:
    """Drive a flow to its end asynchronously: the same flows the sync transport runs."""
    try:
        effect = next(flow)
        while True:
            if isinstance(effect, Sleep):
                log.log(effect.level, "UIS: %s", effect.reason)
                await asyncio.sleep(effect.seconds)
                effect = flow.send(None)
            else:
                reply = await post(http, endpoint, effect)
                effect = flow.send(reply)
    except StopIteration as stop:
        return stop.value
