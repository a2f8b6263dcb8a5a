"""What a request that got no answer failed on, in the user's terms: the URL tried, the reason, whether to retry.

Both transports wrap the socket's error several layers deep (requests in urllib3's, httpx in httpcore's); the reason
that matters (a refused TLS handshake, the host name does not resolve, nothing listens on the port, no route) is at
the bottom, and is found the same way for both. A certificate that is not trusted does not become trusted on a retry,
nor does a name that does not resolve, so both are permanent; a refused or unreachable connection may be a server
restarting, so it is retried.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import SplitResult, urlsplit

from uis_provider.protocol.session import Reply, Send

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


def client_failure(effect: Send, endpoint: str, error: BaseException, *, timeout: type, connection: type) -> Reply:
    """The failure of ``effect`` on an error of the HTTP client: a ``timeout``, a ``connection`` error, or another."""
    if isinstance(error, timeout):
        return timed_out(effect.method, effect.timeout)
    if isinstance(error, connection):
        return connection_failure(effect.method, endpoint, error)
    return http_failure(effect.method, error)


def timed_out(method: str, timeout: float) -> Reply:
    """The failure of a request that got no answer within ``timeout`` seconds (retried)."""
    return Reply(failure=f"timed out after {timeout:g} s waiting for {method}")


def http_failure(method: str, error: BaseException) -> Reply:
    """The failure of a request the HTTP client gave up on for another reason than the connection (retried)."""
    return Reply(failure=f"HTTP failure during {method} ({type(error).__name__})")


def tls_refused(method: str, error: BaseException) -> Reply:
    """The permanent failure of a TLS handshake refused (an untrusted certificate does not become trusted on retry)."""
    return Reply(
        failure=f"TLS handshake failed during {method} ({type(error).__name__}): the server's certificate is not "
        "trusted or does not match the host. Fix the connection's host, or trust its CA: set the connection's "
        "'CA bundle' field (extra 'ca_bundle') to the PEM file of the CA that signed it (behind a TLS-inspecting "
        "proxy: the proxy's CA)",
        permanent=True,
    )


def refused_by_tls(error: BaseException) -> bool:
    """True when a connection error comes from a refused TLS handshake (both HTTP clients wrap ``ssl.SSLError``)."""
    return any(isinstance(cause, ssl.SSLError) for cause in causes(error))


def connection_failure(method: str, endpoint: str, error: BaseException) -> Reply:
    """The failure of a request to ``endpoint`` whose connection failed with ``error``: a TLS refusal, or no answer."""
    if refused_by_tls(error):
        return tls_refused(method, error)
    return unanswered(method, endpoint, error)


def unanswered(method: str, endpoint: str, error: BaseException) -> Reply:
    """The failure of a request to ``endpoint`` that got no answer because of ``error`` (a connection error)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or endpoint
    where = f"cannot reach {endpoint} for {method}"
    chain = list(causes(error))
    reply = _unresolved(where, host, chain) or _refused(where, host, parts, chain)
    if reply is not None:
        return reply
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return Reply(failure=f"no answer from {endpoint} to {method}: {cause.strerror}")
    described = [cause for cause in chain if str(cause)]
    reason = f"{type(described[-1]).__name__}: {described[-1]}" if described else type(error).__name__
    return Reply(failure=f"no answer from {endpoint} to {method}: {reason}")


def _unresolved(where: str, host: str, chain: list[BaseException]) -> Reply | None:
    """The failure when the host name did not resolve: permanent when it has no address, else retried."""
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            if cause.errno in _UNRESOLVABLE:
                return Reply(
                    failure=f"{where}: the host name {host!r} does not resolve ({cause.strerror}). Check the "
                    "connection's host; retrying cannot help",
                    permanent=True,
                )
            return Reply(failure=f"{where}: resolving {host!r} failed for now ({cause.strerror})")
    return None


def _refused(where: str, host: str, parts: SplitResult, chain: list[BaseException]) -> Reply | None:
    """The failure when nothing listens on the endpoint's port (retried: a server may be restarting)."""
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return Reply(failure=f"{where}: connection refused (nothing listens on {host} port {port})")
    return None
