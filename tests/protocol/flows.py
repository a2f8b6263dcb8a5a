"""Drive sans-IO flows in memory: a clock that moves only when a flow sleeps, and answers made from each request.

Shared by the tests of the session, the budget, auth and retries: no socket, no wall-clock wait.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from uis_provider.protocol.auth import ConnectionSettings, settings_for
from uis_provider.protocol.budget import BudgetDeadline
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Reply, Send, Sleep, UISSession

#: A ``metadata.limits`` of a small minute budget (12 points per 4 s) and a day budget far from used up.
LIMITS = {"minute_limit": 12, "minute_remaining": 0, "minute_reset": 4, "day_limit": 100, "day_reset": 50_000}
ENDPOINT = "http://127.0.0.1:1/v2.0"

#: What answers one request: "ok", a refusal by the "minute" or "day" budget, or a function of the request.
Answer = str | Callable[[Send], Reply]


class Clock:
    """A clock that only moves when a flow sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def request_of(send: Send) -> dict[str, Any]:
    """The JSON-RPC request a :class:`Send` carries."""
    return json.loads(send.body)


def result(request: bytes, data: Any = (), limits: dict[str, Any] | None = None, **metadata: Any) -> Reply:
    """A successful answer to ``request`` carrying ``data`` and, when given, ``metadata.limits`` and any other
    ``metadata`` members (``total_items=None`` sends a null)."""
    if limits is not None:
        metadata["limits"] = limits
    body = {"jsonrpc": "2.0", "id": json.loads(request)["id"], "result": {"data": data, "metadata": metadata}}
    return Reply(status=200, body=json.dumps(body).encode())


def error(request: bytes, mnemonic: str, message: str = "refused", **data: Any) -> Reply:
    """A JSON-RPC error answer to ``request`` with ``data.mnemonic`` and any other ``data`` members."""
    member = {"code": -32000, "message": message, "data": {"mnemonic": mnemonic, **data}}
    body = {"jsonrpc": "2.0", "id": json.loads(request)["id"], "error": member}
    return Reply(status=200, body=json.dumps(body).encode())


def answer(request: bytes, limits: dict[str, Any], *, refused: str | None = None) -> Reply:
    """An empty page with ``limits``, or a refusal by the ``minute`` or ``day`` budget carrying them."""
    if refused is None:
        return result(request, [], limits)
    return error(
        request,
        "limit_exceeded",
        f"Limit per {refused} has been exceeded",
        params={"limit_type": refused, "limit_max_value": 12},
        metadata={"limits": limits},
    )


def api_key_settings(login: str | None = None, secret: str = "key-123") -> ConnectionSettings:
    """Settings of a connection to an endpoint nothing listens on (flows here never reach it)."""
    return settings_for("uis_test", ENDPOINT, login, secret, None)


def session(clock: Clock, deadline: BudgetDeadline | None = None, **kwargs: Any) -> UISSession:
    """An API-key session on ``clock`` with two retries, four pages in flight and a seeded random source."""
    options: dict[str, Any] = {"policy": RetryPolicy(max_retries=2), "in_flight": 4, "rng": random.Random(5)}
    return UISSession(api_key_settings(), clock=clock, budget_deadline=deadline, **{**options, **kwargs})


def reply_to(effect: Send, kind: Answer) -> Reply:
    """The reply ``kind`` makes for ``effect``."""
    if callable(kind):
        return kind(effect)
    if kind == "ok":
        return answer(effect.body, {**LIMITS, "minute_remaining": 11, "day_remaining": 50})
    remaining = 0 if kind == "day" else 50
    return answer(effect.body, {**LIMITS, "day_remaining": remaining}, refused=kind)


def drive(flow: Any, clock: Clock, replies: list[Answer] | Callable[[Send], Reply]) -> tuple[Any, list[Any]]:
    """Run ``flow``, answering its sends from ``replies`` in order (or every send with ``replies`` when it is a
    function); returns its value and every effect it yielded."""
    effects: list[Any] = []
    try:
        effect = next(flow)
        while True:
            effects.append(effect)
            if isinstance(effect, Sleep):
                clock.now += effect.seconds
                effect = flow.send(None)
                continue
            assert isinstance(effect, Send)
            effect = flow.send(reply_to(effect, replies.pop(0) if isinstance(replies, list) else replies))
    except StopIteration as stop:
        return stop.value, effects
