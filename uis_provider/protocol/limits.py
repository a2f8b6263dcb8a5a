"""The API's point budgets as reported in ``metadata.limits``, and how long to wait before the next call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Points each method costs (the reference: ``upload.calls`` 5, everything else 1).
METHOD_WEIGHTS: dict[str, int] = {"upload.calls": 5, "login.user": 0, "logout.user": 0}


def method_weight(method: str) -> int:
    """Points one successful call of ``method`` costs."""
    return METHOD_WEIGHTS.get(method, 1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class RateLimits:
    """One reading of ``metadata.limits`` and the clock time (seconds) when it was taken."""

    taken_at: float
    minute_limit: float | None = None
    minute_remaining: float | None = None
    minute_reset: float | None = None
    day_limit: float | None = None
    day_remaining: float | None = None
    day_reset: float | None = None

    @classmethod
    def parse(cls, limits: Any, taken_at: float) -> RateLimits | None:
        """Read a ``metadata.limits`` object; ``None`` when the answer carried none (numbers may be strings)."""
        if not isinstance(limits, dict) or not limits:
            return None
        return cls(
            taken_at=taken_at,
            minute_limit=_number(limits.get("minute_limit")),
            minute_remaining=_number(limits.get("minute_remaining")),
            minute_reset=_number(limits.get("minute_reset")),
            day_limit=_number(limits.get("day_limit")),
            day_remaining=_number(limits.get("day_remaining")),
            day_reset=_number(limits.get("day_reset")),
        )

    def wait_before(self, weight: int, now: float) -> float:
        """Seconds to wait before a call of ``weight`` points so it does not hit the per-minute budget.

        Uses the minute *remaining* (not the limit): when fewer points remain than the call costs, wait until the
        minute budget resets, counted from when this reading was taken.
        """
        if weight <= 0 or self.minute_remaining is None or self.minute_remaining >= weight:
            return 0.0
        reset = self.minute_reset if self.minute_reset is not None else 60.0
        return max(0.0, self.taken_at + reset - now)

    def minute_expired(self, now: float) -> bool:
        """True once the minute budget this reading saw has reset: what it said no longer holds."""
        return self.minute_reset is not None and now >= self.taken_at + self.minute_reset
