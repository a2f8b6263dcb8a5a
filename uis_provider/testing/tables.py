"""Every table the emulator's read methods answer from, built together so their cross references hold: legs
belong to calls, messages to chats, communications are the calls, chats, goals and offline messages."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from uis_provider.protocol.catalog import method_spec
from uis_provider.testing.chats import Chats
from uis_provider.testing.communications import Communications
from uis_provider.testing.daily import DailyTable
from uis_provider.testing.reports import CallLegs, CallsReport
from uis_provider.testing.site_events import GOAL_BASE_ID, OFFLINE_BASE_ID, goal_row, offline_message_row
from uis_provider.testing.store import UploadedCalls
from uis_provider.testing.timefmt import DAY


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
    goal_words = visitor_types("get.goals_report")
    goals = DailyTable(
        name="goals",
        per_day=goals_per_day,
        seed=history.seed,
        start=history.start,
        days=days,
        base_id=GOAL_BASE_ID,
        make_row=lambda ref, row_id, moment: goal_row(key, ref, row_id, moment, goal_words),
    )
    offline_words = visitor_types("get.offline_messages_report")
    offline_messages = DailyTable(
        name="offline_messages",
        per_day=offline_messages_per_day,
        seed=history.seed,
        start=history.start,
        days=days,
        base_id=OFFLINE_BASE_ID,
        make_row=lambda ref, row_id, moment: offline_message_row(key, ref, row_id, moment, offline_words),
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
