"""Fault injection: scripted or seeded-random failures that replace the emulator's real answers."""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable

KINDS: tuple[str, ...] = (
    "http_500",
    "http_502",
    "http_503",
    "drop",
    "timeout",
    "slow",
    "malformed",
    "not_jsonrpc",
    "internal_error",
    "limit_minute",
    "limit_day",
    "huge",
    "deep",
    "short_page",
)


def _checked(kinds: Iterable[str]) -> list[str]:
    result = list(kinds)
    unknown = sorted(set(result) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; known: {', '.join(KINDS)}")
    return result


class Faults:
    """What the next requests suffer: a script first, then seeded random faults; thread-safe.

    ``timeout_delay`` is how long ``timeout`` waits before dropping and ``slow`` waits before answering.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._rate = 0.0
        self._kinds: list[str] = []
        self._rng = random.Random(7)
        self._injected = 0
        self.timeout_delay = 3.0

    def script(self, kinds: Iterable[str]) -> None:
        """The next requests get these faults, in order (replaces any previous script)."""
        checked = _checked(kinds)
        with self._lock:
            self._script = deque(checked)

    def random(self, rate: float = 0.2, kinds: Iterable[str] | None = None, seed: int = 7) -> None:
        """From now on each request suffers a fault with probability ``rate``, kind drawn from ``kinds``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        checked = _checked(kinds if kinds is not None else ("http_502", "http_503", "drop", "internal_error"))
        if rate and not checked:
            raise ValueError("random faults need at least one kind")
        with self._lock:
            self._rate = rate
            self._kinds = checked
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """No more faults (the ``injected`` count is kept)."""
        with self._lock:
            self._script.clear()
            self._rate = 0.0
            self._kinds = []

    @property
    def injected(self) -> int:
        """How many faults have been injected so far."""
        with self._lock:
            return self._injected

    @property
    def scripted(self) -> int:
        """How many scripted faults are still waiting."""
        with self._lock:
            return len(self._script)

    def next(self) -> str | None:
        """The fault for the request being served now, if any."""
        with self._lock:
            kind = None
            if self._script:
                kind = self._script.popleft()
            elif self._rate and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
            if kind is not None:
                self._injected += 1
            return kind

    def __repr__(self) -> str:
        return f"Faults(scripted={len(self._script)}, rate={self._rate}, injected={self._injected})"
