"""Calls and their legs: ``get.calls_report`` (the account's own calls plus every processed uploaded call),
``get.call_legs_report`` and ``get.financial_call_legs_report`` (the legs of the account's own calls).

Calls are ordered by (start_time, id). The history part is indexed once, on first use, as sorted integer keys
``start << 32 | kind << 31 | number`` (kind 0 = processed history upload, 1 = native call), so a window is two
bisections; processed calls uploaded while running are merged in when read. A native call whose start has
passed on the emulator's clock but whose end has not is in progress: it is left out unless asked for
(``include_ongoing_calls``), with the columns an unfinished call cannot have yet set to null, and its legs appear
when it ends.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from typing import Any
from zoneinfo import ZoneInfo

from uis_provider.testing.calls import (
    LEGS_PER_ID,
    MAX_NATIVE_SECONDS,
    NativeCall,
    call_row,
    financial_row,
    leg_offsets,
    legs,
    native_call,
    ongoing,
    upload_row,
)
from uis_provider.testing.data import spread_moments
from uis_provider.testing.memo import LRU
from uis_provider.testing.store import UploadedCalls
from uis_provider.testing.timefmt import epoch_to_local

_NATIVE = 1 << 31
_NUMBER = _NATIVE - 1


class CallsReport:
    """The ``get.calls_report`` table; refs are history indices, extra refs, or ``-(n + 1)`` for native call n."""

    def __init__(
        self, uploads: UploadedCalls, *, native_calls: int, timezone: ZoneInfo, visitor_types: tuple[str, ...]
    ) -> None:
        self.uploads = uploads
        self.native_calls = native_calls
        self.timezone = timezone
        self.visitor_types = visitor_types
        self._keys: list[int] | None = None
        self._native_starts: list[int] = []
        self._calls: LRU[int, NativeCall] = LRU(50_000)
        self._rows: LRU[int, dict[str, Any]] = LRU(20_000)

    def _index(self) -> list[int]:
        if self._keys is None:
            history = self.uploads.history
            keys = []
            for index in range(history.size):
                status, start = history.timeline(index)
                if status == "processed":
                    keys.append(start << 32 | index)
            rng = random.Random(f"{history.seed}:native")
            span = max(history.span, 1)
            self._native_starts = spread_moments(rng, self.native_calls, history.start, span)
            keys.extend(start << 32 | _NATIVE | number for number, start in enumerate(self._native_starts))
            keys.sort()
            self._keys = keys
        return self._keys

    def local(self, now: float) -> int:
        """Emulator time ``now`` (Unix seconds) as the account's local seconds."""
        return epoch_to_local(now, self.timezone)

    def native(self, number: int) -> NativeCall:
        """Native call ``number``."""
        self._index()
        history = self.uploads.history
        return self._calls.get_or_make(
            number, lambda: native_call(history.key, history.virtual_numbers, number, self._native_starts[number])
        )

    def natives(self, lo: int, hi: int) -> list[int]:
        """Numbers of the native calls that started in local ``[lo, hi)``, in start order."""
        keys = self._index()
        first, last = bisect_left(keys, lo << 32), bisect_left(keys, hi << 32)
        return [key & _NUMBER for key in keys[first:last] if key & _NATIVE]

    def in_progress(self, now: float) -> frozenset[int]:
        """Numbers of the native calls in progress at emulator time ``now``."""
        moment = self.local(now)
        return frozenset(
            number
            for number in self.natives(moment - MAX_NATIVE_SECONDS, moment + 1)
            if self.native(number).finish > moment
        )

    def timed_window(self, lo: int, hi: int, now: float, include_ongoing: bool = False) -> list[tuple[int, int]]:
        """``(start, ref)`` of the calls that started in local ``[lo, hi)``, in natural order."""
        keys = self._index()
        first = bisect_left(keys, lo << 32)
        last = bisect_left(keys, hi << 32)
        skip = frozenset() if include_ongoing else self.in_progress(now)
        rows = [
            (key >> 32, -((key & _NUMBER) + 1) if key & _NATIVE else key & _NUMBER)
            for key in keys[first:last]
            if not (key & _NATIVE and key & _NUMBER in skip)
        ]
        extras = []
        for ref in self.uploads.current_extras():
            if self.uploads.status_at(ref, now) != "processed":
                continue
            record = self.uploads.materialize(ref, now)
            start, _finish = self.uploads.start_and_finish(record)
            if lo <= start < hi:
                extras.append((start, int(record["call_session_id"]), ref))
        if not extras:
            return rows
        extras.sort()
        merged: list[tuple[int, int]] = []
        done = 0
        for start, _call_id, ref in extras:
            position = bisect_left(rows, (start, 1 << 62), lo=done)
            merged.extend(rows[done:position])
            merged.append((start, ref))
            done = max(done, position)
        merged.extend(rows[done:])
        return merged

    def window(self, lo: int, hi: int, now: float, include_ongoing: bool = False) -> list[int]:
        """Refs of the calls that started in local ``[lo, hi)``, in natural order."""
        return [ref for _start, ref in self.timed_window(lo, hi, now, include_ongoing)]

    def materialize(self, ref: int, now: float) -> dict[str, Any]:
        """The report row of ``ref`` at emulator time ``now`` (shared: do not change it)."""
        if ref < 0:
            number = -ref - 1
            call = self.native(number)
            row = self._rows.get_or_make(number, lambda: call_row(call, self.uploads.history.key, self.visitor_types))
            return ongoing(row) if call.start <= self.local(now) < call.finish else row
        record = self.uploads.materialize(ref, now)
        start, finish = self.uploads.start_and_finish(record)
        return upload_row(record, start, finish, self.uploads.history.key, self.visitor_types)


class CallLegs:
    """The legs of the finished native calls (``get.call_legs_report``) and their charges
    (``get.financial_call_legs_report``); leg ``ref`` is ``native number * LEGS_PER_ID + leg index``."""

    def __init__(self, calls: CallsReport) -> None:
        self.calls = calls
        self._windows: LRU[tuple[Any, ...], list[int]] = LRU(32)
        self._legs: LRU[int, list[dict[str, Any]]] = LRU(20_000)

    def window(self, lo: int, hi: int, now: float) -> list[int]:
        """Refs of the legs that started in local ``[lo, hi)``, by (start_time, id)."""
        busy = self.calls.in_progress(now)

        def select() -> list[int]:
            found = []
            for number in self.calls.natives(lo - MAX_NATIVE_SECONDS, hi):
                if number in busy:
                    continue
                call = self.calls.native(number)
                for index, offset in enumerate(leg_offsets(call)):
                    start = call.start + offset
                    if lo <= start < hi:
                        found.append((start, call.id * LEGS_PER_ID + index, number * LEGS_PER_ID + index))
            found.sort()
            return [ref for _start, _leg_id, ref in found]

        return list(self._windows.get_or_make((lo, hi, busy), select))

    def _leg(self, ref: int) -> tuple[NativeCall, dict[str, Any]]:
        number, index = divmod(ref, LEGS_PER_ID)
        call = self.calls.native(number)
        leg_id = call.id * LEGS_PER_ID + index
        rows = self._legs.get_or_make(number, lambda: legs(call, self.calls.uploads.history.key))
        row = next(leg for leg in rows if leg["id"] == leg_id)
        return call, row

    def leg(self, ref: int) -> dict[str, Any]:
        """The ``get.call_legs_report`` row of leg ``ref``."""
        return self._leg(ref)[1]

    def charge(self, ref: int) -> dict[str, Any]:
        """The ``get.financial_call_legs_report`` row of leg ``ref``."""
        call, row = self._leg(ref)
        return financial_row(call, row, self.calls.uploads.history.key)
