"""Tests of the emulator's native calls (``uis_provider.testing.calls``): one timeline per call, from which the
``get.calls_report`` row, the legs and their charges are derived, so the three reports agree with each other and
with the catalog's columns."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from uis_provider.protocol.catalog import catalog
from uis_provider.testing.attribution import COLUMNS as ATTRIBUTION
from uis_provider.testing.calls import (
    LEGS_PER_ID,
    MAX_NATIVE_SECONDS,
    ONGOING_EMPTY,
    ONGOING_NULLS,
    NativeCall,
    call_row,
    financial_row,
    leg_offsets,
    legs,
    native_call,
    ongoing,
)
from uis_provider.testing.directory import EMPLOYEE_PHONES
from uis_provider.testing.timefmt import format_local

KEY = b"calls-test-key"
VIRTUAL = ("74951112233", "78001112233", "79161112233")
VISITORS = ("new", "returning", "unknown")
#: A local moment well inside a day (seconds), the start of every call here.
START = 20_454 * 86_400 + 10 * 3_600
#: Enough calls that every branch (inbound/outbound, lost, transferred, several rings) is drawn.
CALLS = 600


@pytest.fixture(scope="module")
def calls() -> list[NativeCall]:
    return [native_call(KEY, VIRTUAL, number, START) for number in range(CALLS)]


def kinds(calls: list[NativeCall]) -> Iterator[str]:
    for call in calls:
        yield call.direction
        if call.is_lost:
            yield f"lost {call.direction}"
        if call.is_transfer:
            yield "transfer"
        if len(call.attempts) > 1 and not call.is_transfer:
            yield "several rings"


def test_the_sample_draws_every_kind_of_call(calls: list[NativeCall]) -> None:
    assert set(kinds(calls)) == {"in", "out", "lost in", "lost out", "transfer", "several rings"}


def test_a_call_is_drawn_from_its_key_and_number_alone() -> None:
    assert native_call(KEY, VIRTUAL, 7, START) == native_call(KEY, VIRTUAL, 7, START)
    others = [native_call(b"another key", VIRTUAL, number, START) for number in range(20)]
    ours = [native_call(KEY, VIRTUAL, number, START) for number in range(20)]
    assert [call.id for call in others] != [call.id for call in ours]


def test_the_timeline_adds_up(calls: list[NativeCall]) -> None:
    for call in calls:
        assert call.start < call.finish <= call.start + MAX_NATIVE_SECONDS
        assert call.virtual in VIRTUAL
        talk = sum(attempt.talk for attempt in call.attempts)
        assert talk == call.talk, "the talk is split between the employees who answered"
        if call.is_lost:
            assert call.talk == 0 and not any(attempt.answered for attempt in call.attempts)
        else:
            assert call.attempts[-1].answered
        if call.direction == "in":
            employees = [attempt.employee_id for attempt in call.attempts]
            assert len(set(employees)) == len(employees), "no employee is rung twice in one call"
            offsets = [attempt.offset for attempt in call.attempts]
            assert offsets == sorted(offsets)
        else:
            assert len(call.attempts) == 1 and not call.is_transfer


def test_the_report_row_agrees_with_the_timeline_and_has_every_documented_column(calls: list[NativeCall]) -> None:
    columns = set(catalog()["get.calls_report"].column_names)
    # the attribution block is the one get.communications_report shows too, which documents two more UTM columns;
    # an answer is projected onto the request's fields, checked against the catalog, so they are never served here
    shared = set(ATTRIBUTION) & set(catalog()["get.communications_report"].column_names)
    for call in calls:
        row = call_row(call, KEY, VISITORS)
        assert columns <= set(row)
        assert set(row) - columns <= shared
        assert row["start_time"] == format_local(call.start)
        assert row["finish_time"] == format_local(call.finish)
        assert row["total_duration"] == call.finish - call.start
        assert row["total_wait_duration"] == call.wait + call.transfer_wait
        assert row["talk_duration"] == call.talk >= row["clean_talk_duration"]
        assert row["is_transfer"] is call.is_transfer
        answering = [attempt for attempt in call.attempts if attempt.answered]
        expected_operator = EMPLOYEE_PHONES[answering[-1].employee_id] if answering else None
        assert row["operator_phone_number"] == expected_operator
        if call.is_lost:
            assert "lost" in row["attributes"]


def test_an_ongoing_call_shows_nothing_known_only_at_its_end(calls: list[NativeCall]) -> None:
    row = call_row(calls[0], KEY, VISITORS)
    shown = ongoing(row)
    assert set(shown) == set(row)
    assert all(shown[name] is None for name in ONGOING_NULLS)
    assert all(shown[name] == [] for name in ONGOING_EMPTY)
    assert shown["start_time"] == row["start_time"] and shown["id"] == row["id"]


def test_legs_are_the_client_and_each_employee_rung_in_start_order(calls: list[NativeCall]) -> None:
    columns = set(catalog()["get.call_legs_report"].column_names)
    for call in calls:
        rows = legs(call, KEY)
        assert len(rows) == 1 + len(call.attempts)
        assert all(set(row) == columns for row in rows)
        assert [row["start_time"] for row in rows] == sorted(row["start_time"] for row in rows)
        by_index = {row["id"] - call.id * LEGS_PER_ID: row for row in rows}
        assert sorted(by_index) == list(range(len(rows)))
        starts = [by_index[index]["start_time"] for index in range(len(rows))]
        assert starts == [format_local(call.start + offset) for offset in leg_offsets(call)]
        employees = [by_index[index] for index in range(1, len(rows))]
        assert [leg["employee_id"] for leg in employees] == [attempt.employee_id for attempt in call.attempts]
        assert sum(leg["duration"] for leg in employees) == call.talk
        assert by_index[0]["is_operator"] is False and all(leg["is_operator"] for leg in employees)
        assert sum(1 for leg in employees if leg["is_transfered"]) == int(call.is_transfer)
        assert all(row["call_session_id"] == call.id for row in rows)


def test_a_leg_is_charged_by_the_started_minute(calls: list[NativeCall]) -> None:
    columns = set(catalog()["get.financial_call_legs_report"].column_names)
    charged = 0
    for call in calls:
        for leg in legs(call, KEY):
            charge = financial_row(call, leg, KEY)
            assert set(charge) == columns
            assert (charge["leg_id"], charge["call_session_id"]) == (leg["id"], call.id)
            duration = charge["duration"]
            assert charge["chargeable_duration"] == 60 * math.ceil(duration / 60)
            assert charge["total_charge"] == round(charge["chargeable_duration"] / 60 * charge["cost_per_minute"], 2)
            assert 0 <= charge["bonuses_charge"] <= charge["total_charge"]
            if not leg["is_operator"] and call.direction == "in" and not call.virtual.startswith("7800"):
                assert charge["total_charge"] == 0, "the caller's leg to an ordinary number is free"
            charged += charge["total_charge"] > 0
    assert charged > 0
