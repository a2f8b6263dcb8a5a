"""Ground truth of ``get.uploaded_calls``: the generated history plus calls added or uploaded while running.

Records are addressed by integer refs: ``0 .. history.size - 1`` are generated history calls, larger refs are
"extras" (calls added with ``add_calls`` or uploaded with ``upload.calls``). Uploads move through
``new`` -> ``in_process`` -> ``processed``/``error`` on the emulator clock, computed when read.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Any

from uis_provider.testing.data import CallHistory, ext_id_for, index_for_ext_id, spread_moments
from uis_provider.testing.timefmt import format_local, parse_api_datetime

STATUSES = ("new", "in_process", "cancelled", "processed", "error", "not_processed")
TERMINAL = frozenset({"cancelled", "processed", "error", "not_processed"})
UPLOADED_SESSION_BASE = 2_900_000_000
MAX_FAILURES = 3


@dataclass
class _Extra:
    """A call that is not part of the generated history."""

    record: dict[str, Any]
    upload: int
    uploaded_at: float | None = None
    final_status: str = "processed"
    error_code: str | None = None
    session_id: int | None = None


class UploadedCalls:
    """Every uploaded call the emulator knows, in the natural order (upload_time, ext_id); not thread-safe."""

    def __init__(self, history: CallHistory, *, new_seconds: float, process_seconds: float) -> None:
        self.history = history
        self.new_seconds = new_seconds
        self.process_seconds = process_seconds
        self.version = 0
        self._extras: list[_Extra] = []
        self._visible: list[tuple[int, str, int]] = []
        self._hidden: list[int] = []
        self._hidden_set: set[int] = set()
        self._current: dict[str, int] = {}
        self._attempts: dict[str, list[int]] = {}
        self._next_index = history.size
        self._next_batch = history.batches
        self._next_session = UPLOADED_SESSION_BASE
        self._added = 0

    def _extra(self, ref: int) -> _Extra:
        return self._extras[ref - self.history.size]

    def ref_for(self, ext_id: str) -> int | None:
        """The current ref of ``ext_id``, or ``None`` if no such call is known."""
        ref = self._current.get(ext_id)
        if ref is not None:
            return ref
        index = index_for_ext_id(ext_id)
        if index is not None and index < self.history.size and index not in self._hidden_set:
            return index
        return None

    def status_at(self, ref: int, now: float) -> str:
        """The status call ``ref`` has at emulator time ``now`` (Unix seconds)."""
        if ref < self.history.size:
            return self.history.timeline(ref)[0]
        extra = self._extra(ref)
        if extra.uploaded_at is None:
            return str(extra.record["status"])
        elapsed = now - extra.uploaded_at
        if elapsed < self.new_seconds:
            return "new"
        if elapsed < self.process_seconds:
            return "in_process"
        return extra.final_status

    def materialize(self, ref: int, now: float) -> dict[str, Any]:
        """The full record of call ``ref`` as ``get.uploaded_calls`` would show it at time ``now``."""
        if ref < self.history.size:
            return self.history.record(ref)
        extra = self._extra(ref)
        record = dict(extra.record)
        if extra.uploaded_at is not None:
            status = self.status_at(ref, now)
            record["status"] = status
            record["error_code"] = extra.error_code if status == "error" else None
            record["call_session_id"] = extra.session_id if status == "processed" else None
        return record

    def ext_id_of(self, ref: int) -> str:
        """The ``ext_id`` of call ``ref``, without building its record (sorting a window by it stays cheap)."""
        if ref < self.history.size:
            return ext_id_for(ref)
        return str(self._extra(ref).record["ext_id"])

    def _base_key(self, index: int) -> tuple[int, str]:
        return self.history.upload_secs(index), ext_id_for(index)

    def window(self, lo: int, hi: int) -> list[int]:
        """Refs of the calls uploaded in local ``[lo, hi)``, in natural order."""
        first, last = self.history.index_range(lo, hi)
        hidden_from = bisect_left(self._hidden, first)
        if hidden_from < len(self._hidden) and self._hidden[hidden_from] < last:
            base = [ref for ref in range(first, last) if ref not in self._hidden_set]
        else:
            base = list(range(first, last))
        extras = self._visible[bisect_left(self._visible, (lo,)) : bisect_left(self._visible, (hi,))]
        if not extras:
            return base
        merged: list[int] = []
        done = 0
        for upload, ext_id, ref in extras:
            position = bisect_left(base, (upload, ext_id), lo=done, key=self._base_key)
            merged.extend(base[done:position])
            merged.append(ref)
            done = position
        merged.extend(base[done:])
        return merged

    def _insert(self, extra: _Extra) -> int:
        ref = self.history.size + len(self._extras)
        self._extras.append(extra)
        ext_id = str(extra.record["ext_id"])
        insort(self._visible, (extra.upload, ext_id, ref))
        self._current[ext_id] = ref
        self._attempts.setdefault(ext_id, []).append(ref)
        self.version += 1
        return ref

    def _retire(self, ref: int) -> None:
        if ref < self.history.size:
            insort(self._hidden, ref)
            self._hidden_set.add(ref)
            return
        extra = self._extra(ref)
        self._visible.remove((extra.upload, str(extra.record["ext_id"]), ref))

    def add_generated(self, count: int, lo: int, hi: int, status: str | None = None) -> list[str]:
        """Add ``count`` generated calls uploaded in local ``[lo, hi)``; returns their ext_ids."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if count < 0 or hi <= lo:
            raise ValueError("need count >= 0 and a non-empty [start, end) range")
        self._added += 1
        rng = random.Random(f"{self.history.seed}:add:{self._added}")
        ext_ids = []
        for offset, moment in enumerate(spread_moments(rng, count, lo, hi - lo)):
            if offset % 50 == 0:
                request_id = self.history.request_id(self._next_batch)
                self._next_batch += 1
            index = self._next_index
            self._next_index += 1
            record = self.history.generate(index, moment, request_id, status=status)
            self._insert(_Extra(record=record, upload=moment))
            ext_ids.append(ext_id_for(index))
        return ext_ids

    def failures(self, ext_id: str, now: float) -> int:
        """How many upload attempts of ``ext_id`` ended in ``error`` so far."""
        refs = list(self._attempts.get(ext_id, []))
        index = index_for_ext_id(ext_id)
        if index is not None and index < self.history.size:
            refs.append(index)
        return sum(1 for ref in refs if self.status_at(ref, now) == "error")

    def upload(self, calls: list[dict[str, Any]], request_id: str, now: float, local_now: int) -> int:
        """Accept validated ``upload.calls`` items; returns how many were taken (others are ignored dupes)."""
        accepted = 0
        for call in calls:
            ext_id = str(call["ext_id"])
            current = self.ref_for(ext_id)
            if current is not None:
                if self.status_at(current, now) == "processed" or self.failures(ext_id, now) >= MAX_FAILURES:
                    continue
                self._retire(current)
            final_status, error_code = processing_outcome(call)
            session_id = None
            if final_status == "processed":
                session_id = self._next_session
                self._next_session += 1
            record = uploaded_record(call, request_id, local_now)
            self._insert(
                _Extra(
                    record=record,
                    upload=local_now,
                    uploaded_at=now,
                    final_status=final_status,
                    error_code=error_code,
                    session_id=session_id,
                )
            )
            accepted += 1
        return accepted

    def current_extras(self) -> list[int]:
        """Refs of the extras currently visible (not superseded by a later upload of the same ext_id)."""
        return [ref for _upload, _ext_id, ref in self._visible]

    def pending(self, now: float) -> list[str]:
        """ext_ids of uploads that are still ``new`` or ``in_process`` at ``now``."""
        return [
            str(self._extra(ref).record["ext_id"])
            for ref in self.current_extras()
            if self.status_at(ref, now) not in TERMINAL
        ]

    def state_token(self, now: float) -> tuple[int, int, int]:
        """Changes whenever any answer could change: new calls, or an upload moving to its next status."""
        moved = 0
        finished = 0
        for extra in self._extras:
            if extra.uploaded_at is not None:
                elapsed = now - extra.uploaded_at
                moved += elapsed >= self.new_seconds
                finished += elapsed >= self.process_seconds
        return self.version, moved, finished

    def start_and_finish(self, record: dict[str, Any]) -> tuple[int, int]:
        """Local start and finish moments of a record (upload moment when the uploader gave none)."""
        upload = parse_api_datetime(record["upload_time"]) or 0
        start = parse_api_datetime(record["start_time"])
        finish = parse_api_datetime(record["finish_time"])
        start = upload if start is None else start
        return start, start if finish is None else finish


def processing_outcome(call: dict[str, Any]) -> tuple[str, str | None]:
    """Deterministic result of processing an uploaded call (see the emulator docs for the rules)."""
    recordings = call.get("wav_records") or call.get("mp3_records") or []
    urls = [str(item.get("record_url", "")) for item in recordings]
    if any("missing" in url for url in urls):
        return "error", "http_status_download_error"
    if any("slow" in url for url in urls):
        return "error", "timeout_download_error"
    if call.get("wav_records"):
        start = parse_api_datetime(call.get("start_time"))
        finish = parse_api_datetime(call.get("finish_time"))
        if start is not None and finish is not None:
            duration = finish - start
        else:
            duration = int(call.get("wait_duration") or 0) + int(call.get("talk_duration") or 0)
        if duration < 16:
            return "error", "wav_min_duration_processing_error"
    return "processed", None


def uploaded_record(call: dict[str, Any], request_id: str, local_now: int) -> dict[str, Any]:
    """The ``get.uploaded_calls`` record of a freshly uploaded call (status columns filled when read)."""
    wav = call.get("wav_records")
    records = None
    if wav:
        records = [
            {
                "employee_name": item.get("employee_name"),
                "employee_id": item.get("employee_id"),
                "employee_channel": item.get("employee_channel"),
                "record_url": item["record_url"],
            }
            for item in wav
        ]
    return {
        "ext_id": str(call["ext_id"]),
        "ext_request_id": request_id,
        "upload_time": format_local(local_now),
        "direction": call.get("direction", "in"),
        "calling_phone_number": call.get("calling_phone_number"),
        "called_phone_number": call.get("called_phone_number"),
        "start_time": call.get("start_time"),
        "finish_time": call.get("finish_time"),
        "is_lost": call["is_lost"],
        "is_transfer": call.get("is_transfer", False),
        "wait_duration": call.get("wait_duration"),
        "talk_duration": call.get("talk_duration"),
        "visitor_session_id": call.get("visitor_session_id"),
        "campaign_id": call.get("campaign_id"),
        "source_id": call.get("source_id"),
        "site_id": call.get("site_id"),
        "comment": call.get("comment"),
        "record_type": "wav" if wav else "mp3" if call.get("mp3_records") else None,
        "status": "new",
        "error_code": None,
        "call_session_id": None,
        "callback": call.get("callback"),
        "tags": [dict(tag) for tag in call.get("tags") or []],
        "records": records,
    }
