"""``get.communications_report``: every call, chat, goal and offline message, one row each, under the same id.

A row's ``id`` is the ``communication_id`` of the call, chat, goal or offline message it stands for (each of which
equals its own ``id``), its ``date_time`` that record's start; its visitor and marketing columns are the record's.
Calls still in progress are not in it. Ordered by (date_time, type, the type's own order). A ref is
``source ref << 2 | type``.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from uis_provider.testing.chats import Chats
from uis_provider.testing.daily import DailyTable
from uis_provider.testing.reports import CallsReport

TYPES = ("call", "chat", "goal", "offline_message")
_CALL, _CHAT, _GOAL, _OFFLINE = range(4)
#: Columns a communications row has of its own; the others are the source record's.
_OWN = frozenset({"id", "communication_type", "date_time"})


@dataclass(eq=False)
class Communications:
    """The four kinds of communication as one report."""

    calls: CallsReport
    chats: Chats
    goals: DailyTable
    offline_messages: DailyTable
    _: KW_ONLY
    columns: tuple[str, ...]
    visitor_types: tuple[str, ...]
    #: The calls report prints visitor types in other words: map them by position.
    _call_visitor_types: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._call_visitor_types = dict(zip(self.calls.visitor_types, self.visitor_types, strict=True))

    def window(self, lo: int, hi: int, now: float) -> list[int]:
        """Refs of the communications dated in local ``[lo, hi)``, in natural order."""
        timed: list[tuple[int, int, int, int]] = []
        sources = (
            (_CALL, self.calls.timed_window(lo, hi, now)),
            (_CHAT, self.chats.table.timed_window(lo, hi)),
            (_GOAL, self.goals.timed_window(lo, hi)),
            (_OFFLINE, self.offline_messages.timed_window(lo, hi)),
        )
        for kind, rows in sources:
            timed.extend((moment, kind, position, ref << 2 | kind) for position, (moment, ref) in enumerate(rows))
        timed.sort()
        return [ref for _moment, _kind, _position, ref in timed]

    def materialize(self, ref: int, now: float) -> dict[str, Any]:
        """The communications row of ``ref``."""
        source_ref, kind = ref >> 2, ref & 3
        if kind == _CALL:
            source = self.calls.materialize(source_ref, now)
        elif kind == _CHAT:
            source = self.chats.table.row(source_ref)
        elif kind == _GOAL:
            source = self.goals.row(source_ref)
        else:
            source = self.offline_messages.row(source_ref)
        row = {name: source[name] for name in self.columns if name not in _OWN}
        row["id"] = source["communication_id"]
        row["communication_type"] = TYPES[kind]
        row["date_time"] = source["start_time"] if kind == _CALL else source["date_time"]
        if kind == _CALL:
            row["visitor_type"] = self._call_visitor_types[source["visitor_type"]]
        return row
