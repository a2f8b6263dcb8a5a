"""What a request that got no answer failed on, in the user's terms: the URL tried, the reason, whether to retry.

Both transports wrap the socket's error several layers deep (requests in urllib3's, httpx in httpcore's); the reason
that matters (the host name does not resolve, nothing listens on the port, no route) is at the bottom. A name that
does not resolve cannot resolve on a retry, so it is permanent; a refused or unreachable connection may be a server
restarting, so it is retried.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from uis_provider.protocol.session import Reply

#: ``getaddrinfo`` errors that mean the name has no address (as opposed to ``EAI_AGAIN``, a resolver not answering).
_UNRESOLVABLE = frozenset(
    code for code in (getattr(socket, name, None) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL")) if code
)


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps: exception chains, urllib3's ``reason`` and exceptions passed as arguments."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending and len(seen) < 32:  # chains are short; the bound guards against cycles
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        inner = [current.__cause__, current.__context__, reason, *current.args]
        pending.extend(item for item in inner if isinstance(item, BaseException))


def unanswered(method: str, endpoint: str, error: BaseException) -> Reply:
    """The failure of a request to ``endpoint`` that got no answer because of ``error`` (a connection error)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    where = f"cannot reach {endpoint} for {method}"
    chain = list(causes(error))
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            if cause.errno in _UNRESOLVABLE:
                return Reply(
                    failure=f"{where}: the host name {host!r} does not resolve ({cause.strerror}). Check the "
                    "connection's host; retrying cannot help",
                    permanent=True,
                )
            return Reply(failure=f"{where}: resolving {host!r} failed for now ({cause.strerror})")
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return Reply(failure=f"{where}: connection refused (nothing listens on {host} port {port})")
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return Reply(failure=f"no answer from {endpoint} to {method}: {cause.strerror}")
    described = [cause for cause in chain if str(cause)]
    reason = f"{type(described[-1]).__name__}: {described[-1]}" if described else type(error).__name__
    return Reply(failure=f"no answer from {endpoint} to {method}: {reason}")
