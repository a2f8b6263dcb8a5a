"""Tests of ``get.chats_report`` and ``get.chat_messages_report``: messages belong to chats, and are selected by
``chat_id`` / ``chat_ids``, by a window of at most 30 days, or by both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.testing.conftest import KEY, error, fetch_all, make, result, window
from uis_provider.protocol.catalog import catalog
from uis_provider.testing import UISEmulator

CHATS = list(catalog()["get.chats_report"].column_names)
MESSAGES = list(catalog()["get.chat_messages_report"].column_names)
DAY = ("2026-01-02 00:00:00", "2026-01-02 23:59:59")


@pytest.fixture(scope="module")
def chats() -> Iterator[UISEmulator]:
    with make(calls=50, chats_per_day=40, minute_limit=10**9, day_limit=10**9) as emulator:
        yield emulator


def messages(api: UISEmulator, **params: Any) -> list[dict[str, Any]]:
    rows, _total = fetch_all(api.url, "get.chat_messages_report", {"access_token": KEY, **params}, 150)
    return rows


def test_a_day_holds_the_configured_number_of_chats(chats: UISEmulator) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-04"):
        answer = result(chats.url, "get.chats_report", window(f"{day} 00:00:00", f"{day} 23:59:59", limit=1))
        assert answer["metadata"]["total_items"] == 40
    assert result(chats.url, "get.chats_report", window("2026-01-05 00:00:00", "2026-01-05 23:59:59"))["data"] == []
    with make(chats_per_day=0) as none:
        assert result(none.url, "get.chats_report", window(*DAY))["data"] == []
        assert result(none.url, "get.chat_messages_report", window(*DAY))["data"] == []


def test_every_chat_holds_the_messages_the_report_counts(chats: UISEmulator) -> None:
    day = result(chats.url, "get.chats_report", window(*DAY, fields=CHATS, limit=10_000))["data"]
    assert len(day) == 40
    for chat in day:
        rows = messages(chats, chat_id=chat["id"], fields=MESSAGES)
        assert len(rows) == chat["messages_count"] > 0
        assert Counter(row["source"] for row in rows)["operator"] == chat["employee_messages_count"]
        assert {(row["chat_id"], row["channel_id"], row["channel_type"]) for row in rows} == {
            (chat["id"], chat["chat_channel_id"], chat["chat_channel_type"])
        }
        assert rows[0]["date_time"] == chat["date_time"]
        assert [row["date_time"] for row in rows] == sorted(row["date_time"] for row in rows), "sending order"
        assert {row["visitor_id"] for row in rows if row["source"] == "visitor"} <= {chat["visitor_id"]}
        assert {row["employee_id"] for row in rows if row["source"] == "operator"} <= {chat["employee_id"]}
        assert {row["is_group_chat"] for row in rows} == {chat["is_group_chat"]}


def test_chat_ids_select_several_chats_and_combine_with_chat_id_and_a_window(chats: UISEmulator) -> None:
    day = chats.rows("get.chats_report", "2026-01-02", "2026-01-03")
    first, second, third = (chat["id"] for chat in day[:3])
    one = messages(chats, chat_id=first, fields=["id", "chat_id"])
    several = messages(chats, chat_ids=[second, third], fields=["id", "chat_id"])
    assert {row["chat_id"] for row in several} == {second, third}
    both = messages(chats, chat_id=first, chat_ids=[second, third], fields=["id", "chat_id"])
    assert sorted(row["id"] for row in both) == sorted(row["id"] for row in one + several)
    long_chat = next(chat for chat in day if chat["messages_count"] > 2)
    every = messages(chats, chat_id=long_chat["id"], fields=["id", "date_time"])
    since = every[2]["date_time"]
    late = messages(chats, chat_id=long_chat["id"], date_from=since, date_till=DAY[1], fields=["id", "date_time"])
    assert late == [row for row in every if since <= row["date_time"] <= DAY[1]] and len(late) < len(every)
    assert messages(chats, chat_id=1) == []


def test_a_window_selects_messages_by_their_date_time(chats: UISEmulator) -> None:
    rows = messages(chats, date_from=DAY[0], date_till=DAY[1], fields=MESSAGES)
    truth = chats.rows("get.chat_messages_report", "2026-01-02", "2026-01-03")
    assert rows == truth and len(rows) > 100
    assert all(DAY[0] <= row["date_time"] <= DAY[1] for row in rows)
    assert [(row["date_time"], row["id"]) for row in rows] == sorted((row["date_time"], row["id"]) for row in rows)


@pytest.mark.parametrize(
    ("params", "mnemonic", "field"),
    [
        ({}, "required_parameter_missed", "date_from"),
        ({"date_from": DAY[0]}, "required_parameter_missed", "date_till"),
        ({"chat_id": 5_000_000_001, "date_from": DAY[0]}, "required_parameter_missed", "date_till"),
        (
            {"date_from": "2026-01-01 00:00:00", "date_till": "2026-01-31 00:00:01"},
            "date_interval_limit_reached",
            "date_till",
        ),
        (
            {"chat_id": 5_000_000_001, "date_from": "2026-01-01 00:00:00", "date_till": "2026-02-15 00:00:00"},
            "date_interval_limit_reached",
            "date_till",
        ),
        ({"chat_id": "5000000001"}, "data_type_error", "chat_id"),
        ({"chat_ids": 5_000_000_001}, "data_type_error", "chat_ids"),
        ({"chat_ids": []}, "invalid_parameter_value", "chat_ids"),
        ({"chat_id": 5_000_000_001, "sort": [{"field": "id"}]}, "sort_prohibited", "sort"),
        (
            {"chat_id": 5_000_000_001, "filter": {"field": "text", "operator": "like", "value": "%"}},
            "filter_prohibited",
            "filter",
        ),
    ],
)
def test_chat_messages_refusals(chats: UISEmulator, params: dict[str, Any], mnemonic: str, field: str) -> None:
    err = error(chats.url, "get.chat_messages_report", {"access_token": KEY, **params})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, field)


def test_thirty_days_of_messages_are_one_window(chats: UISEmulator) -> None:
    params = {"date_from": "2026-01-01 00:00:00", "date_till": "2026-01-31 00:00:00", "limit": 1}
    assert result(chats.url, "get.chat_messages_report", {"access_token": KEY, **params})["metadata"][
        "total_items"
    ] == len(chats.rows("get.chat_messages_report"))
