"""Tests of ``get.communications_report`` and the reports it gathers (goals, offline messages): every call, chat,
goal and offline message of a window is one communication with the same id, date and visitor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testing.conftest import fetch_all, make, result, window
from uis_provider.protocol.catalog import catalog
from uis_provider.testing import UISEmulator

COMMUNICATIONS = catalog()["get.communications_report"]
DAY = ("2026-01-03 00:00:00", "2026-01-03 23:59:59")
#: The report each communication type comes from, and the column its date is in.
SOURCES = {
    "call": ("get.calls_report", "start_time"),
    "chat": ("get.chats_report", "date_time"),
    "goal": ("get.goals_report", "date_time"),
    "offline_message": ("get.offline_messages_report", "date_time"),
}
SHARED = ("visitor_id", "person_id", "site_id", "campaign_id", "utm_source", "tags", "segments", "sale_cost", "channel")


@pytest.fixture(scope="module")
def api() -> Iterator[UISEmulator]:
    knobs = {"chats_per_day": 7, "goals_per_day": 11, "offline_messages_per_day": 5}
    with make(calls=300, report_calls=300, minute_limit=10**9, day_limit=10**9, **knobs) as emulator:
        yield emulator


def test_communications_are_the_calls_chats_goals_and_offline_messages(api: UISEmulator) -> None:
    params = window(*DAY, fields=list(COMMUNICATIONS.column_names))
    rows, total = fetch_all(api.url, "get.communications_report", params, 40)
    assert rows == api.rows("get.communications_report", "2026-01-03", "2026-01-04")
    by_type: dict[str, dict[int, dict[str, object]]] = {kind: {} for kind in SOURCES}
    for row in rows:
        by_type[str(row["communication_type"])][int(row["id"])] = row
    assert sum(map(len, by_type.values())) == total == len(rows)
    assert [len(by_type[kind]) for kind in ("chat", "goal", "offline_message")] == [7, 11, 5]
    for kind, (method, date_field) in SOURCES.items():
        sources = api.rows(method, "2026-01-03", "2026-01-04")
        assert {source["communication_id"] for source in sources} == set(by_type[kind]), kind
        for source in sources:
            assert source["id"] == source["communication_id"]
            row = by_type[kind][source["id"]]
            assert row["date_time"] == source[date_field]
            for name in SHARED:
                if name in source:
                    assert row[name] == source[name], (kind, name)
    calls = api.rows("get.calls_report", "2026-01-03", "2026-01-04")
    words = dict(
        zip(
            catalog()["get.calls_report"].by_name["visitor_type"].values,
            COMMUNICATIONS.by_name["visitor_type"].values,
            strict=True,
        )
    )
    assert all(by_type["call"][call["id"]]["visitor_type"] == words[call["visitor_type"]] for call in calls)
    times = [(row["date_time"]) for row in rows]
    assert times == sorted(times)


def test_communications_filter_and_sort_on_their_own_date_time(api: UISEmulator) -> None:
    noon = {"field": "date_time", "operator": ">=", "value": "2026-01-03 12:00:00"}
    params = window(*DAY, filter=noon, sort=[{"field": "date_time", "order": "desc"}], fields=["id", "date_time"])
    rows, total = fetch_all(api.url, "get.communications_report", params, 50)
    truth = [
        row
        for row in api.rows("get.communications_report", "2026-01-03", "2026-01-04")
        if row["date_time"] >= noon["value"]
    ]
    assert total == len(truth) > 0
    assert [row["date_time"] for row in rows] == sorted((row["date_time"] for row in truth), reverse=True)


def test_goals_and_offline_messages_come_the_configured_number_a_day(api: UISEmulator) -> None:
    for method, per_day in (("get.goals_report", 11), ("get.offline_messages_report", 5)):
        for day in ("2026-01-01", "2026-01-04"):
            answer = result(api.url, method, window(f"{day} 00:00:00", f"{day} 23:59:59", fields=["id", "date_time"]))
            assert answer["metadata"]["total_items"] == per_day
            assert all(row["date_time"].startswith(day) for row in answer["data"])
