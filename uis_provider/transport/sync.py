"""Run protocol flows over ``requests`` — the transport of the hook, the operators and poke-mode sensors.

:func:`run` drives one flow in the calling thread; :class:`FlowPool` drives several at once on worker threads
(the hook's page prefetch), each thread with its own keep-alive HTTP session.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import requests

from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.session import Effect, Reply, Send, Sleep
from uis_provider.transport.collector import decoding
from uis_provider.transport.common import (
    HEADERS,
    declared_length,
    declared_too_large,
    grown,
    oversized,
    warn_if_unverified,
)
from uis_provider.transport.failures import client_failure

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bodies declared this large or larger are read into an anonymous memory map of their exact length: one allocation,
#: handed back to the OS as soon as the page is decoded. Grown as a bytearray, freed page bodies stay in glibc's
#: per-thread heaps once its dynamic mmap threshold has risen (the peak RSS this saves: ``bench/README.md``).
MAPPED_BODY_BYTES = 1024 * 1024


def new_http_client(settings: ConnectionSettings | None = None) -> requests.Session:
    """A keep-alive ``requests`` session, trusting the CAs and using the proxy of ``settings``.

    Verification is on unless the connection says ``verify: false``; :meth:`ConnectionSettings.tls_trust` decides
    the CA file, the same one the async transport's :func:`uis_provider.transport.aio.new_http_client` uses.
    """
    http = requests.Session()
    http.headers.update(HEADERS)
    if settings is not None:
        http.verify = settings.tls_trust(os.environ)
        if settings.proxy:
            http.proxies = {"http": settings.proxy, "https": settings.proxy}
        warn_if_unverified(settings)
    return http


def post(http: requests.Session, endpoint: str, effect: Send) -> Reply:
    """POST one request; network failures become a :class:`Reply` with ``failure`` set, never an exception."""
    try:
        # verify and proxies per request: requests would otherwise let REQUESTS_CA_BUNDLE / HTTPS_PROXY override them
        with http.post(
            endpoint,
            data=effect.body,
            timeout=effect.timeout,
            stream=True,
            verify=http.verify,
            proxies=http.proxies,
        ) as response:
            if declared_too_large(response.headers):
                return Reply(failure=oversized(effect.method))
            length = _mappable_length(response.headers)
            if length is not None:
                return _mapped_reply(response, length, effect.method)
            body = bytearray()
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                if not grown(body, chunk):
                    return Reply(failure=oversized(effect.method))
            return Reply(status=response.status_code, body=body)
    except requests.RequestException as exc:
        return client_failure(effect, endpoint, exc, timeout=requests.Timeout, connection=requests.ConnectionError)


def _mappable_length(headers: Any) -> int | None:
    """The exact body length to map, when it is declared, large and not content-encoded (then it is what we read)."""
    length = declared_length(headers)
    if length is None or headers.get("Content-Encoding") not in (None, "", "identity"):
        return None
    return length if length >= MAPPED_BODY_BYTES else None


#: An anonymous private map whose pages are made at once (Linux), rather than one page fault per page as the body
#: arrives.
_MAP_FLAGS = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)


def _mapped_reply(response: requests.Response, length: int, method: str) -> Reply:
    """Read a body of the declared ``length`` into an anonymous memory map (freed with its last reference)."""
    body = mmap.mmap(-1, length, flags=_MAP_FLAGS)
    size = 0
    with memoryview(body) as view:
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            end = size + len(chunk)
            if end > length:
                return Reply(failure=f"the answer to {method} ran past its Content-Length of {length} bytes")
            view[size:end] = chunk
            size = end
    if size != length:
        return Reply(failure=f"the answer to {method} ended after {size} of its {length} bytes")
    return Reply(status=response.status_code, body=body)


class FlowCancelledError(Exception):
    """A flow of a :class:`FlowPool` was stopped because the pool closed before it finished."""


def run(
    flow: Generator[Effect, Reply | None, T],
    http: requests.Session,
    endpoint: str,
    *,
    sleep: Any = time.sleep,
    cancel: threading.Event | None = None,
) -> T:
    """Drive a flow to its end: send each request, sleep when told, return the flow's value.

    When ``cancel`` is set the flow stops before its next request or during a sleep
    (:class:`FlowCancelledError`); a request already sent runs to its answer or its timeout.
    """
    try:
        effect = next(flow)
        while True:
            if cancel is not None and cancel.is_set():
                flow.close()
                raise FlowCancelledError("the flow was cancelled")
            if isinstance(effect, Sleep):
                log.log(effect.level, "UIS: %s", effect.reason)
                if cancel is None:
                    sleep(effect.seconds)
                elif cancel.wait(effect.seconds):
                    continue
                effect = flow.send(None)
            else:
                reply = post(http, endpoint, effect)
                with decoding(reply):
                    effect = flow.send(reply)
    except StopIteration as stop:
        return stop.value


class FlowPool:
    """Drive up to ``workers`` flows at once on worker threads, each thread with its own keep-alive session.

    ``requests.Session`` is not shared across threads. :meth:`close` (or leaving the ``with`` block) cancels the
    flows not yet finished, waits for the threads and closes their sessions.
    """

    def __init__(self, endpoint: str, workers: int, settings: ConnectionSettings | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._endpoint = endpoint
        self._settings = settings
        self._cancel = threading.Event()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uis-fetch")

    def submit(self, flow: Generator[Effect, Reply | None, T]) -> Future[T]:
        """Start driving ``flow`` on a free worker (queued while all are busy); its future holds the outcome."""
        return self._executor.submit(self._drive, flow)

    def _drive(self, flow: Generator[Effect, Reply | None, T]) -> T:
        return run(flow, self._http(), self._endpoint, cancel=self._cancel)

    def _http(self) -> requests.Session:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = new_http_client(self._settings)
            self._local.http = http
            with self._sessions_lock:
                self._sessions.append(http)
        return http

    def close(self) -> None:
        """Cancel unfinished flows, wait for the worker threads and close their HTTP sessions."""
        self._cancel.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for http in sessions:
            http.close()

    def __enter__(self) -> FlowPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
