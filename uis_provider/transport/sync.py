"""Run a protocol flow over ``requests`` — the transport of the hook, the operators and poke-mode sensors."""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any, TypeVar

import requests

from uis_provider.protocol.jsonrpc import CONTENT_TYPE
from uis_provider.protocol.session import Effect, Reply, Send, Sleep

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Largest answer body accepted; a 10 000-row page is about 10 MB, anything near this is hostile.
MAX_BODY_BYTES = 256 * 1024 * 1024


def new_http_session() -> requests.Session:
    """A ``requests`` session with keep-alive; TLS verification stays on (there is no option to turn it off)."""
    http = requests.Session()
    http.headers.update({"Content-Type": CONTENT_TYPE, "Accept": "application/json"})
    return http


def post(http: requests.Session, endpoint: str, effect: Send) -> Reply:
    """POST one request; network failures become a :class:`Reply` with ``failure`` set, never an exception."""
    try:
        with http.post(endpoint, data=effect.body, timeout=effect.timeout, stream=True) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Reply(failure=f"the answer to {effect.method} exceeds {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
            return Reply(status=response.status_code, body=b"".join(chunks))
    except requests.Timeout:
        return Reply(failure=f"timed out after {effect.timeout:g} s waiting for {effect.method}")
    except requests.ConnectionError as exc:
        return Reply(failure=f"connection failed during {effect.method} ({type(exc).__name__})")
    except requests.RequestException as exc:
        return Reply(failure=f"HTTP failure during {effect.method} ({type(exc).__name__})")


def run(
    flow: Generator[Effect, Reply | None, T], http: requests.Session, endpoint: str, *, sleep: Any = time.sleep
) -> T:
    """Drive a flow to its end: send each request, sleep when told, return the flow's value."""
    try:
        effect = next(flow)
        while True:
            if isinstance(effect, Sleep):
                log.info("UIS: %s", effect.reason)
                sleep(effect.seconds)
                effect = flow.send(None)
            else:
                reply = post(http, endpoint, effect)
                effect = flow.send(reply)
    except StopIteration as stop:
        return stop.value
