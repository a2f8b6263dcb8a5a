"""Tests of ``get.calls_report``, ``get.call_legs_report`` and ``get.financial_call_legs_report``: the calls, calls
in progress on the emulator's clock, and legs and charges that belong to the calls."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.testing.conftest import FMT, KEY, error, fetch_all, make, result, window
from uis_provider.protocol.catalog import catalog
from uis_provider.testing import UISEmulator

CALLS = list(catalog()["get.calls_report"].column_names)
LEGS = list(catalog()["get.call_legs_report"].column_names)
CHARGES = list(catalog()["get.financial_call_legs_report"].column_names)
DAY = ("2026-01-02 00:00:00", "2026-01-02 23:59:59")


@pytest.fixture(scope="module")
def calls() -> Iterator[UISEmulator]:
    with make(calls=600, report_calls=900, minute_limit=10**9, day_limit=10**9) as emulator:
        yield emulator


def test_calls_report_pages_a_window_selected_by_start_time(calls: UISEmulator) -> None:
    rows, total = fetch_all(calls.url, "get.calls_report", window(*DAY, fields=CALLS), 60)
    truth = calls.rows("get.calls_report", "2026-01-02", "2026-01-03")
    assert total == len(truth) == len(rows) > 60
    assert rows == truth
    assert all(DAY[0] <= row["start_time"] <= DAY[1] for row in rows)
    assert {row["source"] for row in rows} >= {"upload_calls", "call_tracking", "va"}
    edge = truth[10]["start_time"]
    till = result(calls.url, "get.calls_report", window(DAY[0], edge, fields=["id"], limit=10_000))["data"]
    assert [row["id"] for row in till] == [row["id"] for row in truth if row["start_time"] <= edge]


def test_processed_uploads_are_calls_with_source_upload_calls(calls: UISEmulator) -> None:
    rows = calls.rows("get.calls_report", "2026-01-01", "2026-01-05")
    uploads = {r["call_session_id"]: r for r in calls.records() if r["status"] == "processed"}
    from_uploads = {row["id"]: row for row in rows if row["source"] == "upload_calls"}
    in_window = {session for session, r in uploads.items() if "2026-01-01" <= r["start_time"] < "2026-01-05"}
    assert set(from_uploads) == in_window and len(in_window) > 300
    for call_id, row in from_uploads.items():
        record = uploads[call_id]
        assert (row["ext_id"], row["communication_id"]) == (record["ext_id"], call_id)
        assert (row["start_time"], row["is_lost"], row["direction"]) == (
            record["start_time"],
            record["is_lost"],
            record["direction"],
        )
        assert (row["campaign_id"], row["site_id"]) == (record["campaign_id"], record["site_id"])


def _ongoing_emulator() -> tuple[UISEmulator, dict[str, Any]]:
    """An emulator whose history starts tomorrow, its clock moved into a long call of its own telephony."""
    zone = ZoneInfo("Europe/Moscow")
    tomorrow = (datetime.now(zone) + timedelta(days=1)).date()
    api = make(start=tomorrow, days=1, calls=50, report_calls=200).start()
    native = [row for row in api.rows("get.calls_report") if row["source"] != "upload_calls"]
    target = next(row for row in native if row["total_duration"] > 300)
    started = datetime.strptime(target["start_time"], FMT).replace(tzinfo=zone)
    api.clock.advance((started - api.clock.now()).total_seconds() + 60)
    return api, target


def test_include_ongoing_calls_brings_calls_in_progress_on_the_clock() -> None:
    api, target = _ongoing_emulator()
    try:
        date = target["start_time"][:10]
        day = window(f"{date} 00:00:00", f"{date} 23:59:59", fields=CALLS, limit=10_000)
        without = {row["id"]: row for row in result(api.url, "get.calls_report", day)["data"]}
        that_day = [row for row in api.rows("get.calls_report") if row["start_time"][:10] == date]
        assert target["id"] not in without and set(without) == {row["id"] for row in that_day} and len(without) > 50
        with_ongoing = result(api.url, "get.calls_report", {**day, "include_ongoing_calls": True})["data"]
        ongoing = {row["id"]: row for row in with_ongoing if row["finish_time"] is None}
        assert target["id"] in ongoing and set(ongoing) == set({row["id"] for row in with_ongoing}) - set(without)
        row = ongoing[target["id"]]
        assert (row["start_time"], row["contact_phone_number"]) == (
            target["start_time"],
            target["contact_phone_number"],
        )
        assert row["finish_reason"] is row["talk_duration"] is row["total_duration"] is row["is_lost"] is None
        assert row["call_records"] == []
        everything = api.rows("get.calls_report", include_ongoing_calls=True)
        assert [row for row in everything if row["start_time"][:10] == date] == with_ongoing
        for method, key in (
            ("get.call_legs_report", "call_session_id"),
            ("get.financial_call_legs_report", "call_session_id"),
            ("get.communications_report", "id"),
        ):
            rows = result(api.url, method, {**day, "fields": [key]})["data"]
            assert rows and target["id"] not in {row[key] for row in rows}, method
        flag = error(api.url, "get.calls_report", {**day, "include_ongoing_calls": "yes"})
        assert (flag["data"]["mnemonic"], flag["data"]["field"]) == ("data_type_error", "include_ongoing_calls")
        api.clock.advance(target["total_duration"])
        finished = {row["id"]: row for row in result(api.url, "get.calls_report", day)["data"]}
        assert finished[target["id"]] == {name: target[name] for name in CALLS}
        legs = result(api.url, "get.call_legs_report", {**day, "fields": ["call_session_id"]})["data"]
        assert target["id"] in {row["call_session_id"] for row in legs}
    finally:
        api.stop()


def test_legs_and_charges_belong_to_the_calls(calls: UISEmulator) -> None:
    legs, total = fetch_all(calls.url, "get.call_legs_report", window(*DAY, fields=LEGS), 500)
    assert total == len(legs) > 300 and len({leg["id"] for leg in legs}) == len(legs)
    assert legs == calls.rows("get.call_legs_report", "2026-01-02", "2026-01-03")
    assert [(leg["start_time"], leg["id"]) for leg in legs] == sorted((leg["start_time"], leg["id"]) for leg in legs)
    by_call: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for leg in calls.rows("get.call_legs_report"):
        by_call[leg["call_session_id"]].append(leg)
    reported = {row["id"]: row for row in calls.rows("get.calls_report")}
    assert {leg["call_session_id"] for leg in legs} <= set(reported)
    for call_id, call_legs in by_call.items():
        call = reported[call_id]
        assert call["source"] != "upload_calls", "uploaded calls did not go through the account's telephony"
        assert all(call["start_time"] <= leg["start_time"] <= call["finish_time"] for leg in call_legs)
        assert {leg["direction"] for leg in call_legs} == {call["direction"]}
        assert {leg["virtual_phone_number"] for leg in call_legs} == {call["virtual_phone_number"]}
        staff = [leg["employee_id"] for leg in call_legs if leg["is_operator"]]
        assert sorted(staff) == sorted(employee["employee_id"] for employee in call["employees"])
        talked = {leg["employee_id"] for leg in call_legs if leg["is_operator"] and leg["is_talked"]}
        assert talked == {e["employee_id"] for e in call["employees"] if e["is_talked"]}
        client = [leg for leg in call_legs if not leg["is_operator"]]
        assert len(client) == 1 and call["contact_phone_number"] in (
            client[0]["calling_phone_number"],
            client[0]["called_phone_number"],
        )
    native = [row for row in reported.values() if row["source"] != "upload_calls"]
    assert {row["id"] for row in native} == set(by_call)
    charges, _total = fetch_all(calls.url, "get.financial_call_legs_report", window(*DAY, fields=CHARGES), 500)
    leg_by_id = {leg["id"]: leg for leg in legs}
    assert sorted(charge["leg_id"] for charge in charges) == sorted(leg_by_id)
    for charge in charges:
        leg = leg_by_id[charge["leg_id"]]
        assert (charge["call_session_id"], charge["start_time"], charge["duration"]) == (
            leg["call_session_id"],
            leg["start_time"],
            leg["duration"],
        )
        assert charge["chargeable_duration"] % 60 == 0 and charge["chargeable_duration"] >= charge["duration"]
        assert charge["total_charge"] == round(charge["chargeable_duration"] / 60 * charge["cost_per_minute"], 2)


def test_the_leg_key_pages_the_charges_without_a_skip_or_a_repeat(calls: UISEmulator) -> None:
    """leg_id is sortable and unique: sorted by it, offset pages land every charge once."""
    params = window(*DAY, fields=["leg_id"], sort=[{"field": "leg_id"}])
    rows, total = fetch_all(calls.url, "get.financial_call_legs_report", params, 97)
    assert [row["leg_id"] for row in rows] == sorted(row["leg_id"] for row in rows) and len(rows) == total > 300
    assert len({row["leg_id"] for row in rows}) == total


def test_call_windows_are_limited_to_90_days(calls: UISEmulator) -> None:
    for method in ("get.calls_report", "get.call_legs_report", "get.financial_call_legs_report"):
        err = error(calls.url, method, window("2026-01-01 00:00:00", "2026-04-01 00:00:01"))
        assert err["data"]["mnemonic"] == "date_interval_limit_reached"
        assert result(calls.url, method, {**window("2026-01-01 00:00:00", "2026-04-01 00:00:00"), "limit": 1})


def test_a_call_report_without_access_token_or_with_a_bad_window_is_refused(calls: UISEmulator) -> None:
    err = error(calls.url, "get.calls_report", {"date_from": DAY[0], "date_till": DAY[1]})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("required_parameter_missed", "access_token")
    err = error(calls.url, "get.calls_report", {"access_token": KEY, "date_from": DAY[1], "date_till": DAY[0]})
    assert err["data"]["mnemonic"] == "invalid_parameters_combination"
