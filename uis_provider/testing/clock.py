"""The emulator's clock: real time plus an offset tests can move forward (sessions, budgets, upload status)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class EmulatorClock:
    """Wall-clock time shifted by ``advance()``; thread-safe and never moving backwards on request."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Unix seconds on the emulator clock."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        """The emulator's current moment as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=timezone.utc)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (expires sessions, refills budgets, progresses uploads)."""
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += float(seconds)

    def __repr__(self) -> str:
        return f"EmulatorClock(offset={self._offset:.3f}s)"
