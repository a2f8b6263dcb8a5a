"""Every table the emulator's read methods answer from, built together so their cross references hold: legs
belong to calls, messages to chats, communications are the calls, chats, goals and offline messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from uis_provider.protocol.catalog import method_spec
from uis_provider.testing.chats import Chats
from uis_provider.testing.communications import Communications
from uis_provider.testing.daily import DailyTable
from uis_provider.testing.data import CallHistory
from uis_provider.testing.reports import CallLegs, CallsReport
from uis_provider.testing.site_events import GOAL_BASE_ID, OFFLINE_BASE_ID, goal_row, offline_message_row
from uis_provider.testing.store import UploadedCalls
from uis_provider.testing.timefmt import DAY

#: Makes a goal or offline-message row from ``(key, ref, id, moment, visitor type words)``.
SiteRow = Callable[[bytes, int, int, int, tuple[str, ...]], dict[str, Any]]


def visitor_types(method: str) -> tuple[str, ...]:
    """The words ``method`` prints for a new, a returning and an unknown visitor (the catalog's values)."""
    spec = method_spec(method)
    assert spec is not None
    return spec.by_name["visitor_type"].values


@dataclass
class Tables:
    """The emulator's data, one table per read method family."""

    uploads: UploadedCalls
    calls: CallsReport
    legs: CallLegs
    chats: Chats
    goals: DailyTable
    offline_messages: DailyTable
    communications: Communications


def build_tables(
    uploads: UploadedCalls,
    *,
    native_calls: int,
    chats_per_day: int,
    goals_per_day: int,
    offline_messages_per_day: int,
    timezone: ZoneInfo,
) -> Tables:
    """The tables over the uploads' history: its seed, key, first day and number of days."""
    history = uploads.history
    days = history.span // DAY
    key = history.key
    calls = CallsReport(
        uploads, native_calls=native_calls, timezone=timezone, visitor_types=visitor_types("get.calls_report")
    )
    chats = Chats(
        per_day=chats_per_day,
        seed=history.seed,
        start=history.start,
        days=days,
        key=key,
        visitor_types=visitor_types("get.chats_report"),
    )
    goals = _site_events(history, "get.goals_report", goals_per_day, GOAL_BASE_ID, goal_row)
    offline_messages = _site_events(
        history, "get.offline_messages_report", offline_messages_per_day, OFFLINE_BASE_ID, offline_message_row
    )
    communications_spec = method_spec("get.communications_report")
    assert communications_spec is not None
    communications = Communications(
        calls,
        chats,
        goals,
        offline_messages,
        columns=communications_spec.column_names,
        visitor_types=visitor_types("get.communications_report"),
    )
    return Tables(uploads, calls, CallLegs(calls), chats, goals, offline_messages, communications)


def _site_events(history: CallHistory, method: str, per_day: int, base_id: int, make: SiteRow) -> DailyTable:
    """The goals or offline messages of the history's days, ``per_day`` a day, rows made by ``make``."""
    key, words = history.key, visitor_types(method)
    return DailyTable(
        name=method,
        per_day=per_day,
        seed=history.seed,
        start=history.start,
        days=history.span // DAY,
        base_id=base_id,
        make_row=lambda ref, row_id, moment: make(key, ref, row_id, moment, words),
    )
