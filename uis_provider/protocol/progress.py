"""Progress of a long extract as lines for the task log: pages and records done of the total, rate, budget waits, ETA.

Sans-IO: the caller feeds pages and the time waited on the point budget, and logs the lines this returns.
"""

from __future__ import annotations

from collections.abc import Callable

#: A progress line at most every this many pages...
DEFAULT_EVERY_PAGES = 10
#: ...or once this many seconds passed since the last one, whichever comes first.
DEFAULT_EVERY_SECONDS = 30.0


class ProgressMeter:
    """Counts pages and records as they arrive and says when a progress line is due, and what it reads."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        every_pages: int = DEFAULT_EVERY_PAGES,
        every_seconds: float = DEFAULT_EVERY_SECONDS,
    ) -> None:
        self._clock = clock
        self.every_pages = max(1, every_pages)
        self.every_seconds = every_seconds
        self.started = clock()
        self.pages = 0
        self.records = 0
        self.total_pages = 0
        self.total_records = 0
        self._last_line_at = self.started
        self._last_line_pages = 0

    def add_query(self, total_records: int, total_pages: int) -> None:
        """A query's first page told its size: its records and pages join the total."""
        self.total_records += total_records
        self.total_pages += total_pages

    def page(self, records: int, budget_waited: float) -> str | None:
        """Count one page of ``records``; the progress line when one is due, else ``None``."""
        self.pages += 1
        self.records += records
        now = self._clock()
        due = self.pages - self._last_line_pages >= self.every_pages or now - self._last_line_at >= self.every_seconds
        if not due or self.pages >= self.total_pages:
            return None
        self._last_line_at, self._last_line_pages = now, self.pages
        return self.line(budget_waited)

    def line(self, budget_waited: float) -> str:
        """Pages and records done of the total so far, the rate, the time waited on the budget and the time left."""
        elapsed = max(self._clock() - self.started, 1e-9)
        rate = self.records / elapsed
        share = f" ({100 * self.records / self.total_records:.0f}%)" if self.total_records else ""
        left = max(0, self.total_records - self.records)
        eta = f"about {_time_left_in_units(left / rate)} left" if rate > 0 else "time left unknown"
        return (
            f"progress: {self.pages}/{self.total_pages} pages, {self.records}/{self.total_records} records{share}, "
            f"{rate:.0f} records/s, {budget_waited:.1f} s waited on the point budget, {eta}"
        )

    def summary(self, budget_waited: float, refusals: int) -> str:
        """The closing line: what was done, in how long, and what the shared budget cost in waits and refusals."""
        elapsed = self._clock() - self.started
        rate = self.records / elapsed if elapsed > 0 else 0.0
        return (
            f"done: {self.pages} pages, {self.records} records in {elapsed:.1f} s ({rate:.0f} records/s); "
            f"{budget_waited:.1f} s waited on the point budget, {refusals} call(s) refused by the minute budget"
        )


def _time_left_in_units(seconds: float) -> str:
    """``45 s`` / ``12 min`` / ``1.5 h``: an estimate of the time left, in the unit that reads best."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
