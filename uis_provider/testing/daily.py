"""A table of communications that arrive a fixed number a day (chats, goals, offline messages) and their rows.

Row ``ref`` is the ``ref % per_day``-th of day ``ref // per_day`` of the history; a day's moments are drawn (mostly
in business hours) the first time a window touches it, so a long history costs nothing until it is read. Refs,
and the ids made from them, grow with time: the natural order of a window is its refs in order.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from uis_provider.testing.data import spread_moments
from uis_provider.testing.memo import LRU
from uis_provider.testing.timefmt import DAY

#: Makes the row of ``(ref, id, moment)``.
MakeRow = Callable[[int, int, int], dict[str, Any]]


class DailyTable:
    """``per_day`` rows on each of ``days`` days from local midnight ``start``; ``id = base_id + ref``."""

    def __init__(
        self, *, name: str, per_day: int, seed: int, start: int, days: int, base_id: int, make_row: MakeRow
    ) -> None:
        if per_day < 0:
            raise ValueError(f"{name} per day must be >= 0")
        self.name = name
        self.per_day = per_day
        self.seed = seed
        self.start = start
        self.days = max(days, 0) if per_day else 0
        self.base_id = base_id
        self._make_row = make_row
        self._days: LRU[int, array[int]] = LRU(512)
        self._rows: LRU[int, dict[str, Any]] = LRU(20_000)

    @property
    def size(self) -> int:
        """Rows in the whole history."""
        return self.per_day * self.days

    def day_moments(self, day: int) -> array[int]:
        """The sorted local moments of day ``day``'s rows."""

        def draw() -> array[int]:
            rng = random.Random(f"{self.seed}:{self.name}:{day}")
            return array("q", spread_moments(rng, self.per_day, self.start + day * DAY, DAY))

        return self._days.get_or_make(day, draw)

    def moment(self, ref: int) -> int:
        """Local moment of row ``ref``."""
        day, number = divmod(ref, self.per_day)
        return self.day_moments(day)[number]

    def timed_window(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """``(moment, ref)`` of the rows in local ``[lo, hi)``, in natural order."""
        if not self.per_day or hi <= lo:
            return []
        first = max(0, (lo - self.start) // DAY)
        last = min(self.days - 1, (hi - 1 - self.start) // DAY)
        rows: list[tuple[int, int]] = []
        for day in range(first, last + 1):
            moments = self.day_moments(day)
            begin, end = bisect_left(moments, lo), bisect_left(moments, hi)
            rows.extend((moments[number], day * self.per_day + number) for number in range(begin, end))
        return rows

    def window(self, lo: int, hi: int) -> list[int]:
        """Refs of the rows in local ``[lo, hi)``, in natural order."""
        return [ref for _moment, ref in self.timed_window(lo, hi)]

    def id_of(self, ref: int) -> int:
        """The API id of row ``ref``."""
        return self.base_id + ref

    def ref_of(self, row_id: int) -> int | None:
        """The ref of the row with API id ``row_id``, or ``None`` when there is no such row."""
        ref = row_id - self.base_id
        return ref if 0 <= ref < self.size else None

    def row(self, ref: int) -> dict[str, Any]:
        """The report row of ``ref`` (shared: do not change it)."""
        return self._rows.get_or_make(ref, lambda: self._make_row(ref, self.id_of(ref), self.moment(ref)))
