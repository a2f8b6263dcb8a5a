"""Rows of ``get.calls_report``: the account's own calls plus every processed uploaded call.

Ordered by (start_time, id). The history part is indexed once, on first use, as sorted integer keys
``start << 32 | kind << 31 | number`` (kind 0 = processed history upload, 1 = native call), so a window is two
bisections; processed calls uploaded while running are merged in when read.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from typing import Any

from uis_provider.testing.data import report_row_from_upload, spread_moments
from uis_provider.testing.store import UploadedCalls

_NATIVE = 1 << 31
_NUMBER = _NATIVE - 1


class CallsReport:
    """The ``get.calls_report`` table; refs are history indices, extra refs, or ``-(n + 1)`` for native call n."""

    def __init__(self, uploads: UploadedCalls, *, native_calls: int) -> None:
        self.uploads = uploads
        self.native_calls = native_calls
        self._keys: list[int] | None = None
        self._native_starts: list[int] = []

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

    def window(self, lo: int, hi: int, now: float) -> list[int]:
        """Refs of the calls that started in local ``[lo, hi)``, in natural order."""
        keys = self._index()
        first = bisect_left(keys, lo << 32)
        last = bisect_left(keys, hi << 32)
        refs = [-((key & _NUMBER) + 1) if key & _NATIVE else key & _NUMBER for key in keys[first:last]]
        extras = []
        for ref in self.uploads.current_extras():
            if self.uploads.status_at(ref, now) != "processed":
                continue
            record = self.uploads.materialize(ref, now)
            start, _finish = self.uploads.start_and_finish(record)
            if lo <= start < hi:
                extras.append((start, int(record["call_session_id"]), ref))
        if not extras:
            return refs
        extras.sort()
        merged: list[int] = []
        done = 0
        for start, _call_id, ref in extras:
            position = bisect_left(keys, start << 32 | _NATIVE, first, last) - first
            merged.extend(refs[done:position])
            merged.append(ref)
            done = max(done, position)
        merged.extend(refs[done:])
        return merged

    def materialize(self, ref: int, now: float) -> dict[str, Any]:
        """The report row of ``ref`` at emulator time ``now``."""
        if ref < 0:
            number = -ref - 1
            self._index()
            return self.uploads.history.native_call(number, self._native_starts[number])
        record = self.uploads.materialize(ref, now)
        start, finish = self.uploads.start_and_finish(record)
        return report_row_from_upload(record, start, finish)
