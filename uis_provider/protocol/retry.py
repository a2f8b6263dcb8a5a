"""Which failures are worth another try, and how long to wait before it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from uis_provider.exceptions import UISConfigurationError, UISError, UISRateLimitError


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for transient failures.

    A per-minute refusal is no retry: the session waits it out as back-pressure (:mod:`uis_provider.protocol.budget`),
    ``limit_margin`` seconds past its reset. Auth errors are not retried here (the session re-logs in once); caller
    errors and the daily limit never are.

    :param max_retries: retries after the first attempt (0 = none); the same request id is sent on each.
    :param backoff_base: seconds before the first retry; each further one waits twice as long.
    :param backoff_max: the longest wait between two tries, in seconds.
    :param limit_margin: seconds past the minute budget's reset before a refused call is sent again.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    limit_margin: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise UISConfigurationError(
                f"RetryPolicy max_retries must be a whole number >= 0, got {self.max_retries!r}"
            )
        for name in ("backoff_base", "backoff_max", "limit_margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise UISConfigurationError(f"RetryPolicy {name} must be a number of seconds >= 0, got {value!r}")

    def should_retry(self, error: UISError, attempt: int) -> bool:
        """True when ``error`` is transient and fewer than ``max_retries`` retries were made."""
        return bool(error.retryable) and attempt < self.max_retries

    def delay(self, error: UISError, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if isinstance(error, UISRateLimitError):
            reset = error.reset_seconds
            return (reset if reset is not None else 60.0) + self.limit_margin
        return min(self.backoff_max, self.backoff_base * (2**attempt))
