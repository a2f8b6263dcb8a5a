"""What both transports share: the request headers, the bound on an answer's size, TLS settings and their failures.

Kept apart from :mod:`uis_provider.transport.sync` so that the async transport (loaded by the triggerer) imports
neither ``requests`` nor ``mmap``.
"""

from __future__ import annotations

import logging
from typing import Any

from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.jsonrpc import CONTENT_TYPE

log = logging.getLogger(__name__)

#: The headers of every request: one JSON-RPC call as JSON, a JSON answer expected.
HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"}
#: Largest answer body accepted. A 10 000-record page is about 8 MB with typical records and can reach a few tens of
#: MB with long comments, tags and recording lists; anything past this bound is no UIS page. A padded answer under
#: it that claims fewer records than total_items promises is caught by the paginator's page-size check instead.
MAX_BODY_BYTES = 128 * 1024 * 1024


def oversized(method: str) -> str:
    """The failure text for an answer larger than :data:`MAX_BODY_BYTES` (declared or received)."""
    return (
        f"the answer to {method} is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB, far more than a 10 000-record "
        "page; if the records really are that large, lower page_size"
    )


def declared_length(headers: Any) -> int | None:
    """The answer's ``Content-Length`` as a number, or ``None`` when it is missing or not one."""
    declared = str(headers.get("Content-Length") or "")
    return int(declared) if declared.isdigit() else None


def declared_too_large(headers: Any) -> bool:
    """True when the answer's ``Content-Length`` already exceeds :data:`MAX_BODY_BYTES`."""
    length = declared_length(headers)
    return length is not None and length > MAX_BODY_BYTES


def grown(body: bytearray, chunk: bytes) -> bool:
    """Append ``chunk`` to ``body`` in place (one copy of a page in memory); False once past :data:`MAX_BODY_BYTES`."""
    body += chunk
    return len(body) <= MAX_BODY_BYTES


def warn_if_unverified(settings: ConnectionSettings | None) -> None:
    """Say so in the log whenever a client is made for a connection with ``verify: false``."""
    if settings is not None and not settings.verify and settings.endpoint.startswith("https://"):
        log.warning(
            "UIS: TLS certificate verification is OFF for %s (connection extra verify=false)", settings.endpoint
        )
