"""Tests of the bundled UIS emulator, spoken to with plain ``requests`` over loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from uis_provider.testing import UISEmulator
from uis_provider.testing.emulator import HUGE_BYTES

KEY = "key-valid"
LOGIN, PASSWORD = "analyst", "pa55-word"
REPO = Path(__file__).resolve().parents[2]
ALL_COLUMNS = {
    "ext_id",
    "ext_request_id",
    "upload_time",
    "direction",
    "calling_phone_number",
    "called_phone_number",
    "start_time",
    "finish_time",
    "is_lost",
    "is_transfer",
    "wait_duration",
    "talk_duration",
    "visitor_session_id",
    "campaign_id",
    "source_id",
    "site_id",
    "comment",
    "record_type",
    "status",
    "error_code",
    "call_session_id",
    "callback",
    "tags",
    "records",
}
FMT = "%Y-%m-%d %H:%M:%S"


def make(**overrides: Any) -> UISEmulator:
    """A small emulator with the test credentials (not started)."""
    settings: dict[str, Any] = {
        "calls": 400,
        "seed": 3,
        "start": "2026-01-01",
        "days": 4,
        "api_keys": {KEY: "valid", "key-expired": "expired", "key-blocked": "blocked"},
        "users": {LOGIN: PASSWORD},
    }
    settings.update(overrides)
    return UISEmulator(**settings)


@pytest.fixture
def api() -> Iterator[UISEmulator]:
    with make() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def big() -> Iterator[UISEmulator]:
    """A read-only emulator shared by the query tests (budget large enough never to interfere)."""
    with make(calls=3000, seed=11, days=10, minute_limit=10**9, day_limit=10**9) as emulator:
        yield emulator


def rpc(url: str, method: str, params: dict[str, Any] | None = None, call_id: Any = 1, **kwargs: Any) -> Any:
    """POST one JSON-RPC request and return the decoded answer."""
    body = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params or {}}
    response = requests.post(url, json=body, timeout=kwargs.pop("timeout", 30), **kwargs)
    assert response.status_code == 200
    return response.json()


def result(url: str, method: str, params: dict[str, Any]) -> Any:
    """The ``result`` of a call that must succeed."""
    answer = rpc(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]


def error(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` of a call that must fail."""
    answer = rpc(url, method, params)
    assert "result" not in answer, answer
    return answer["error"]


def window(start: str, till: str, **params: Any) -> dict[str, Any]:
    return {"access_token": KEY, "date_from": start, "date_till": till, **params}


def fetch_all(url: str, method: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every row of a query, paged by total_items."""
    rows: list[dict[str, Any]] = []
    offset, total = 0, None
    while total is None or offset < total:
        answer = result(url, method, {**params, "limit": limit, "offset": offset})
        total = answer["metadata"]["total_items"]
        rows.extend(answer["data"])
        offset += limit
    assert total is not None
    return rows, total


def plus_second(text: str) -> str:
    return (datetime.strptime(text, FMT) + timedelta(seconds=1)).strftime(FMT)


# -- protocol ------------------------------------------------------------------------------------------------


def test_non_post_is_405_and_post_answers_json_with_charset(api: UISEmulator) -> None:
    assert requests.get(api.url, timeout=10).status_code == 405
    response = requests.post(
        api.url,
        json={"jsonrpc": "2.0", "id": "a-1", "method": "get.account", "params": {"access_token": KEY}},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.json()["id"] == "a-1"


@pytest.mark.parametrize(
    ("body", "mnemonic", "code"),
    [
        (b"{not json", "parse_error", -32700),
        (b'[{"jsonrpc":"2.0","id":1,"method":"get.account","params":{}}]', "batch_opreations_not_supported", -32099),
        (b'{"jsonrpc":"2.0","method":"get.account","params":{}}', "notifications_not_supported", -32099),
        (b'{"jsonrpc":"1.0","id":1,"method":"get.account","params":{}}', "invalid_request", -32600),
        (b'{"jsonrpc":"2.0","id":1,"params":{}}', "invalid_request", -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"get.nothing","params":{}}', "method_not_found", -32601),
    ],
)
def test_request_shape_errors(api: UISEmulator, body: bytes, mnemonic: str, code: int) -> None:
    response = requests.post(api.url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    err = response.json()["error"]
    assert (err["data"]["mnemonic"], err["code"]) == (mnemonic, code)
    assert set(err["data"]) == {"mnemonic", "field", "value", "params", "extended_helper", "metadata"}
    assert "limits" in err["data"]["metadata"]


def test_keep_alive_serves_several_requests_on_one_connection(api: UISEmulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    sockets = []
    try:
        for call_id in (1, 2, 3):
            body = json.dumps(
                {"jsonrpc": "2.0", "id": call_id, "method": "get.account", "params": {"access_token": KEY}}
            )
            connection.request("POST", "/v2.0", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            assert json.loads(response.read())["id"] == call_id
            assert not response.will_close
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert sockets[0] is sockets[1] is sockets[2]
    assert api.count("get.account") == 3


# -- authentication ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "mnemonic", "code"),
    [
        ({"access_token": "key-expired"}, "access_token_expired", -32001),
        ({"access_token": "key-blocked"}, "access_token_blocked", -32001),
        ({"access_token": "who-knows"}, "access_token_invalid", -32001),
        ({}, "required_parameter_missed", -32602),
    ],
)
def test_api_key_errors(api: UISEmulator, params: dict[str, Any], mnemonic: str, code: int) -> None:
    err = error(api.url, "get.account", params)
    assert (err["data"]["mnemonic"], err["code"]) == (mnemonic, code)
    if mnemonic == "required_parameter_missed":
        assert err["data"]["field"] == "access_token"


def test_get_account_reports_the_time_zone_and_accepts_user_id(api: UISEmulator) -> None:
    data = result(api.url, "get.account", {"access_token": KEY, "user_id": 700101})["data"]
    assert data[0]["timezone"] == "Europe/Moscow"
    assert set(data[0]) == {"app_id", "name", "timezone"}
    assert error(api.url, "get.account", {"access_token": KEY, "user_id": "x"})["data"]["field"] == "user_id"


def test_login_session_lifecycle(api: UISEmulator) -> None:
    assert error(api.url, "login.user", {"login": LOGIN, "password": "wrong"})["data"]["mnemonic"] == "auth_error"
    session = result(api.url, "login.user", {"login": LOGIN, "password": PASSWORD})["data"]
    assert set(session) == {"access_token", "expire_at", "app_id"}
    assert session["expire_at"] == pytest.approx(api.clock.now().timestamp() + 3600, abs=5)
    token = session["access_token"]
    assert result(api.url, "get.account", {"access_token": token})["data"]
    assert result(api.url, "logout.user", {"access_token": token}) == {"data": {}}
    assert error(api.url, "get.account", {"access_token": token})["data"]["mnemonic"] == "access_token_invalid"


def test_session_expires_on_the_emulator_clock(api: UISEmulator) -> None:
    token = result(api.url, "login.user", {"login": LOGIN, "password": PASSWORD})["data"]["access_token"]
    api.clock.advance(3599)
    assert "data" in result(api.url, "get.account", {"access_token": token})
    api.clock.advance(2)
    assert error(api.url, "get.account", {"access_token": token})["data"]["mnemonic"] == "access_token_invalid"


def test_expire_sessions_now_and_every_n_calls(api: UISEmulator) -> None:
    token = result(api.url, "login.user", {"login": LOGIN, "password": PASSWORD})["data"]["access_token"]
    api.expire_sessions()
    assert error(api.url, "get.account", {"access_token": token})["data"]["mnemonic"] == "access_token_invalid"
    api.expire_sessions_every(2)
    token = result(api.url, "login.user", {"login": LOGIN, "password": PASSWORD})["data"]["access_token"]
    for _ in range(2):
        result(api.url, "get.account", {"access_token": token})
    assert error(api.url, "get.account", {"access_token": token})["data"]["mnemonic"] == "access_token_invalid"
    assert result(api.url, "get.account", {"access_token": KEY})["data"], "API keys are not sessions"


# -- get.uploaded_calls: paging, window, params --------------------------------------------------------------


def test_paging_reaches_every_record_in_natural_order(big: UISEmulator) -> None:
    start, till = "2026-01-02 00:00:00", "2026-01-04 23:59:59"
    rows, total = fetch_all(big.url, "get.uploaded_calls", window(start, till), limit=250)
    truth = big.records("2026-01-02", "2026-01-05")
    assert total == len(truth) == len(rows) > 500
    assert [row["ext_id"] for row in rows] == [record["ext_id"] for record in truth]
    assert rows == truth
    keys = [(row["upload_time"], row["ext_id"]) for row in rows]
    assert keys == sorted(keys)


def test_default_limit_and_key_order_is_shuffled(big: UISEmulator) -> None:
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-10 23:59:59"))
    assert answer["metadata"]["total_items"] == 3000
    assert len(answer["data"]) == 1000
    assert all(set(row) == ALL_COLUMNS for row in answer["data"])
    assert len({tuple(row) for row in answer["data"]}) > 1
    limits = answer["metadata"]["limits"]
    assert set(limits) == {
        "day_limit",
        "day_remaining",
        "day_reset",
        "minute_limit",
        "minute_remaining",
        "minute_reset",
    }


@pytest.mark.parametrize(
    ("extra", "mnemonic", "field"),
    [
        ({"limit": 10_001}, "invalid_parameter_value", "limit"),
        ({"limit": 0}, "invalid_parameter_value", "limit"),
        ({"offset": 100_001}, "invalid_parameter_value", "offset"),
        ({"offset": -1}, "invalid_parameter_value", "offset"),
        ({"limit": "10"}, "data_type_error", "limit"),
        ({"fields": ["ext_id", "no_such_field"]}, "unexpected_parameters", "fields"),
        ({"page": 2}, "unexpected_parameters", "page"),
        ({"date_from": "2026-01-01T00:00:00"}, "invalid_parameter_value", "date_from"),
        ({"date_till": "2026-01-31"}, "invalid_parameter_value", "date_till"),
        ({"date_from": "2026-02-30 00:00:00"}, "invalid_parameter_value", "date_from"),
        ({"date_from": "2026-01-05 00:00:00"}, "invalid_parameters_combination", "date_from"),
    ],
)
def test_parameter_errors(big: UISEmulator, extra: dict[str, Any], mnemonic: str, field: str) -> None:
    params = {**window("2026-01-01 00:00:00", "2026-01-03 00:00:00"), **extra}
    err = error(big.url, "get.uploaded_calls", params)
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, field)
    assert err["code"] == -32602
    if mnemonic == "unexpected_parameters" and field == "fields":
        assert err["data"]["value"] == "no_such_field"


def test_dates_are_required_and_report_id_is_accepted(big: UISEmulator) -> None:
    err = error(big.url, "get.uploaded_calls", {"access_token": KEY, "date_from": "2026-01-01 00:00:00"})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("required_parameter_missed", "date_till")
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-01 23:59:59", report_id=7))
    assert answer["metadata"]["total_items"] == len(big.records("2026-01-01", "2026-01-02"))


def test_fields_narrow_the_records(big: UISEmulator) -> None:
    params = window("2026-01-01 00:00:00", "2026-01-02 00:00:00", fields=["status", "ext_id"], limit=20)
    rows = result(big.url, "get.uploaded_calls", params)["data"]
    assert rows and all(set(row) == {"ext_id", "status"} for row in rows)


@pytest.mark.parametrize("inclusive", [True, False])
def test_date_till_inclusive_or_exclusive(inclusive: bool) -> None:
    with make(till_inclusive=inclusive) as api:
        edge = api.records()[50]["upload_time"]
        answer = result(api.url, "get.uploaded_calls", window("2026-01-01 00:00:00", edge, limit=10_000))
        uploaded = {row["upload_time"] for row in answer["data"]}
        assert (edge in uploaded) is inclusive
        expected = api.records("2026-01-01", plus_second(edge) if inclusive else edge)
        assert answer["metadata"]["total_items"] == len(expected)


# -- filters and sort ----------------------------------------------------------------------------------------

FILTER_CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"field": "status", "operator": "=", "value": "error"}, lambda r: r["status"] == "error"),
    ({"field": "direction", "operator": "!=", "value": "in"}, lambda r: r["direction"] != "in"),
    ({"field": "talk_duration", "operator": ">=", "value": 600}, lambda r: r["talk_duration"] >= 600),
    ({"field": "wait_duration", "operator": "<", "value": "10"}, lambda r: r["wait_duration"] < 10),
    ({"field": "is_lost", "operator": "=", "value": True}, lambda r: r["is_lost"] is True),
    ({"field": "campaign_id", "operator": "in", "value": [101, 102]}, lambda r: r["campaign_id"] in (101, 102)),
    ({"field": "site_id", "operator": "not_in", "value": [25187]}, lambda r: r["site_id"] not in (None, 25187)),
    ({"field": "campaign_id", "operator": "is_null"}, lambda r: r["campaign_id"] is None),
    ({"field": "comment", "operator": "is_not_null"}, lambda r: r["comment"] is not None),
    (
        {"field": "comment", "operator": "ilike", "value": "%ДОСТАВК%"},
        lambda r: r["comment"] is not None and "доставк" in r["comment"].lower(),
    ),
    (
        {"field": "comment", "operator": "not_ilike", "value": "%заказ%"},
        lambda r: r["comment"] is not None and "заказ" not in r["comment"].lower(),
    ),
    (
        {"field": "ext_id", "operator": "like", "value": "ext-00000001_0"},
        lambda r: r["ext_id"].startswith("ext-00000001") and r["ext_id"].endswith("0"),
    ),
    (
        {"field": "called_phone_number", "operator": "not_like", "value": "7495%"},
        lambda r: not r["called_phone_number"].startswith("7495"),
    ),
    (
        {"field": "calling_phone_number", "operator": "regexp", "value": "^79[0-3]"},
        lambda r: r["calling_phone_number"][:3] in ("790", "791", "792", "793"),
    ),
    (
        {"field": "start_time", "operator": "<", "value": "2026-01-02 00:00:00"},
        lambda r: r["start_time"] < "2026-01-02 00:00:00",
    ),
]


@pytest.mark.parametrize(("flt", "check"), FILTER_CASES, ids=[case[0]["operator"] for case in FILTER_CASES])
def test_filter_operators_match_ground_truth(
    big: UISEmulator, flt: dict[str, Any], check: Callable[[dict[str, Any]], bool]
) -> None:
    rows, total = fetch_all(
        big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-04 23:59:59", filter=flt), 5000
    )
    expected = [r["ext_id"] for r in big.records("2026-01-01", "2026-01-05") if check(r)]
    assert expected, "the case must select something to be meaningful"
    assert total == len(expected)
    assert [row["ext_id"] for row in rows] == expected


def test_two_level_filter_tree(big: UISEmulator) -> None:
    tree = {
        "condition": "and",
        "filters": [
            {
                "condition": "or",
                "filters": [
                    {"field": "status", "operator": "=", "value": "error"},
                    {"field": "is_lost", "operator": "=", "value": True},
                ],
            },
            {"field": "direction", "operator": "=", "value": "in"},
        ],
    }
    answer = result(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-10 23:59:59", filter=tree))
    expected = [
        r["ext_id"] for r in big.records() if (r["status"] == "error" or r["is_lost"]) and r["direction"] == "in"
    ]
    assert answer["metadata"]["total_items"] == len(expected) > 0
    assert [row["ext_id"] for row in answer["data"]] == expected[:1000]


@pytest.mark.parametrize(
    ("flt", "mnemonic"),
    [
        (
            {"filters": [{"filters": [{"filters": [{"field": "status", "operator": "=", "value": "new"}]}]}]},
            "invalid_parameter_value",
        ),
        ({"field": "status", "operator": "~~", "value": "new"}, "invalid_parameter_value"),
        ({"field": "status", "operator": "overlap", "value": ["new"]}, "invalid_parameter_value"),
        ({"field": "status", "operator": "jsquery", "value": "x"}, "invalid_parameter_value"),
        ({"field": "talk_duration", "operator": "in", "value": 5}, "invalid_parameter_value"),
        ({"field": "upload_time", "operator": ">", "value": "2026-01-01 00:00:00"}, "filter_prohibited"),
        ({"field": "tags", "operator": "is_null"}, "filter_prohibited"),
        ({"field": "records", "operator": "is_null"}, "filter_prohibited"),
        ({"field": "callback", "operator": "is_null"}, "filter_prohibited"),
    ],
)
def test_filter_errors(big: UISEmulator, flt: dict[str, Any], mnemonic: str) -> None:
    err = error(big.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-02 00:00:00", filter=flt))
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, "filter")


@pytest.mark.parametrize(
    "sort",
    [
        [{"field": "direction"}],
        [{"field": "status", "order": "desc"}, {"field": "is_lost", "order": "asc"}],
        [{"field": "campaign_id", "order": "desc"}],
    ],
)
def test_sort_is_stable_and_total_across_pages(big: UISEmulator, sort: list[dict[str, str]]) -> None:
    rows, total = fetch_all(
        big.url, "get.uploaded_calls", window("2026-01-03 00:00:00", "2026-01-04 23:59:59", sort=sort), limit=97
    )
    expected = big.records("2026-01-03", "2026-01-05")
    for item in reversed(sort):
        name, desc = item["field"], item.get("order") == "desc"
        present = [r for r in expected if r[name] is not None]
        missing = [r for r in expected if r[name] is None]
        present.sort(key=lambda r, name=name: r[name], reverse=desc)
        expected = missing + present if desc else present + missing
    assert total == len(expected) == len(rows)
    assert [row["ext_id"] for row in rows] == [r["ext_id"] for r in expected]


@pytest.mark.parametrize("name", ["upload_time", "records", "tags", "callback"])
def test_sort_prohibited(big: UISEmulator, name: str) -> None:
    params = window("2026-01-01 00:00:00", "2026-01-02 00:00:00", sort=[{"field": name}])
    assert error(big.url, "get.uploaded_calls", params)["data"]["mnemonic"] == "sort_prohibited"


# -- budgets --------------------------------------------------------------------------------------------------


def test_minute_budget_runs_out_and_refills_on_the_clock() -> None:
    with make(minute_limit=5, minute_window=1.0) as api:
        for spent in range(1, 6):
            limits = result(api.url, "get.account", {"access_token": KEY})["metadata"]["limits"]
            assert limits["minute_remaining"] == 5 - spent
        err = error(api.url, "get.account", {"access_token": KEY})
        assert (err["code"], err["data"]["mnemonic"]) == (-32029, "limit_exceeded")
        assert err["data"]["params"] == {"limit_type": "minute", "limit_max_value": 5}
        assert err["message"] == "Limit per minute has been exceeded. Value of current limit per minute is 5"
        limits = err["data"]["metadata"]["limits"]
        assert limits["minute_remaining"] == 0 and limits["minute_reset"] >= 1
        api.clock.advance(1.5)
        assert result(api.url, "get.account", {"access_token": KEY})["metadata"]["limits"]["minute_remaining"] == 4


def test_day_budget_and_weights() -> None:
    with make(day_limit=8) as api:
        result(api.url, "login.user", {"login": LOGIN, "password": PASSWORD})
        upload = {"access_token": KEY, "calls": [{"ext_id": "w-1", "is_lost": True}]}
        limits = result(api.url, "upload.calls", upload)["metadata"]["limits"]
        assert limits["day_remaining"] == 3, "login is free, upload.calls weighs 5"
        bad = error(api.url, "get.uploaded_calls", {"access_token": KEY})
        assert bad["data"]["metadata"]["limits"]["day_remaining"] == 3, "failed calls cost nothing"
        err = error(api.url, "upload.calls", {**upload, "calls": [{"ext_id": "w-2", "is_lost": True}]})
        assert err["data"]["params"] == {"limit_type": "day", "limit_max_value": 8}
        assert [entry["points"] for entry in api.requests] == [0, 5, 0, 0]
        assert api.records()[-1]["ext_id"] != "w-2" and "w-2" not in api.pending_uploads()


# -- upload.calls ---------------------------------------------------------------------------------------------


def call(ext: str, /, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ext_id": ext,
        "is_lost": False,
        "direction": "in",
        "calling_phone_number": "79161234567",
        "called_phone_number": "74951234567",
        "start_time": "2026-01-10 10:00:00",
        "finish_time": "2026-01-10 10:02:00",
        "talk_duration": 110,
        "wait_duration": 10,
        "tags": [{"tag_name": "Загружен"}],
        "wav_records": [
            {"employee_name": "Оператор", "employee_channel": "left", "record_url": "https://r.example/1.wav"}
        ],
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


@pytest.mark.parametrize(
    ("bad", "mnemonic", "field"),
    [
        ({"finish_time": "2026-01-10 09:59:59"}, "invalid_parameter_value", "calls[0].finish_time"),
        ({"start_time": "2026-01-10T10:00:00"}, "invalid_parameter_value", "calls[0].start_time"),
        ({"calling_phone_number": "+79161234567"}, "invalid_parameter_value", "calls[0].calling_phone_number"),
        ({"called_phone_number": "7495123"}, "invalid_parameter_value", "calls[0].called_phone_number"),
        ({"direction": "inbound"}, "invalid_parameter_value", "calls[0].direction"),
        (
            {"wav_records": [{"employee_id": 1, "employee_channel": "left", "record_url": "http://r.example/1.wav"}]},
            "invalid_parameter_value",
            "calls[0].wav_records[0].record_url",
        ),
        (
            {"wav_records": [{"employee_id": 1, "employee_channel": "middle", "record_url": "https://r/1.wav"}]},
            "invalid_parameter_value",
            "calls[0].wav_records[0].employee_channel",
        ),
        (
            {"mp3_records": [{"record_url": "https://r.example/1.mp3"}]},
            "invalid_parameter_value",
            "calls[0].mp3_records",
        ),
        ({"is_lost": None}, "required_parameter_missed", "calls[0].is_lost"),
        ({"ext_id": None}, "required_parameter_missed", "calls[0].ext_id"),
        ({"is_lost": "no"}, "invalid_parameter_value", "calls[0].is_lost"),
        ({"talk_duration": -1}, "invalid_parameter_value", "calls[0].talk_duration"),
        ({"colour": "red"}, "unexpected_parameters", "calls[0]"),
    ],
)
def test_upload_validation(api: UISEmulator, bad: dict[str, Any], mnemonic: str, field: str) -> None:
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": [call("v-1", **bad)]})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == (mnemonic, field)
    assert api.pending_uploads() == []


def test_upload_size_limits(api: UISEmulator) -> None:
    many = [call(f"m-{n}") for n in range(51)]
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": many})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("invalid_parameter_value", "calls")
    fat = [call(f"f-{n}", comment="x" * 11_000) for n in range(50)]
    err = error(api.url, "upload.calls", {"access_token": KEY, "calls": fat})
    assert (err["data"]["mnemonic"], err["data"]["field"]) == ("invalid_parameter_value", "calls")
    assert result(api.url, "upload.calls", {"access_token": KEY, "calls": many[:50]})["data"] == {"success": True}


def test_upload_status_progresses_on_the_clock(api: UISEmulator) -> None:
    day = "2000-01-01 00:00:00", "2099-12-31 23:59:59"
    before = result(api.url, "get.uploaded_calls", window(*day, limit=1))["metadata"]["total_items"]
    sent_at = api.clock.now().astimezone(api.timezone).strftime(FMT)
    answer = rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [call("u-1"), call("u-2")]}, call_id="req-77")
    answered_at = api.clock.now().astimezone(api.timezone).strftime(FMT)
    assert answer["result"]["data"] == {"success": True}

    def uploaded() -> dict[str, dict[str, Any]]:
        flt = {"field": "ext_request_id", "operator": "=", "value": "req-77"}
        rows = result(api.url, "get.uploaded_calls", window(*day, filter=flt))["data"]
        return {row["ext_id"]: row for row in rows}

    rows = uploaded()
    assert set(rows) == {"u-1", "u-2"}
    assert {row["status"] for row in rows.values()} == {"new"}
    assert sent_at <= rows["u-1"]["upload_time"] <= answered_at  # the clock runs: the upload's own second
    assert rows["u-1"]["record_type"] == "wav" and rows["u-1"]["records"][0]["employee_channel"] == "left"
    assert rows["u-1"]["call_session_id"] is None
    assert result(api.url, "get.uploaded_calls", window(*day, limit=1))["metadata"]["total_items"] == before + 2
    assert sorted(api.pending_uploads()) == ["u-1", "u-2"]
    api.clock.advance(2.5)
    assert {row["status"] for row in uploaded().values()} == {"in_process"}
    api.clock.advance(3)
    rows = uploaded()
    assert {row["status"] for row in rows.values()} == {"processed"}
    assert rows["u-1"]["call_session_id"] != rows["u-2"]["call_session_id"]
    assert api.pending_uploads() == []
    report = result(
        api.url,
        "get.calls_report",
        window(
            "2026-01-10 00:00:00",
            "2026-01-10 23:59:59",
            filter={"field": "source", "operator": "=", "value": "upload_calls"},
        ),
    )["data"]
    assert {row["id"] for row in report} == {rows["u-1"]["call_session_id"], rows["u-2"]["call_session_id"]}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {"wav_records": [{"employee_id": 5, "employee_channel": "right", "record_url": "https://x/missing.wav"}]},
            "http_status_download_error",
        ),
        ({"wav_records": None, "mp3_records": [{"record_url": "https://x/slow.mp3"}]}, "timeout_download_error"),
        ({"finish_time": "2026-01-10 10:00:15"}, "wav_min_duration_processing_error"),
    ],
)
def test_upload_errors_are_deterministic(api: UISEmulator, fields: dict[str, Any], code: str) -> None:
    result(api.url, "upload.calls", {"access_token": KEY, "calls": [call("e-1", **fields)]})
    api.clock.advance(10)
    record = next(r for r in api.records() if r["ext_id"] == "e-1")
    assert (record["status"], record["error_code"], record["call_session_id"]) == ("error", code, None)


def test_upload_dedupe_processed_and_three_failures(api: UISEmulator) -> None:
    def upload(ext_id: str, call_id: str, **fields: Any) -> None:
        rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [call(ext_id, **fields)]}, call_id=call_id)
        api.clock.advance(10)

    def current(ext_id: str) -> list[dict[str, Any]]:
        return [r for r in api.records() if r["ext_id"] == ext_id]

    upload("d-1", "first")
    upload("d-1", "second")
    assert [(r["ext_request_id"], r["status"]) for r in current("d-1")] == [("first", "processed")]
    broken = {"wav_records": [{"employee_id": 5, "employee_channel": "left", "record_url": "https://x/missing.wav"}]}
    upload("d-2", "try-1", **broken)
    upload("d-2", "try-2", **broken)
    assert [(r["ext_request_id"], r["status"]) for r in current("d-2")] == [("try-2", "error")]
    upload("d-2", "try-3", **broken)
    upload("d-2", "try-4")
    assert [(r["ext_request_id"], r["status"]) for r in current("d-2")] == [("try-3", "error")]


def test_generated_history_ext_ids_follow_the_same_dedupe(api: UISEmulator) -> None:
    history = api.records()
    processed = next(r for r in history if r["status"] == "processed")
    failed = next(r for r in history if r["status"] == "error")
    for record in (processed, failed):
        rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [call(record["ext_id"])]}, call_id="again")
    api.clock.advance(10)
    after = {r["ext_id"]: r for r in api.records()}
    assert after[processed["ext_id"]] == processed
    assert after[failed["ext_id"]]["ext_request_id"] == "again"
    assert after[failed["ext_id"]]["status"] == "processed"
    assert len(after) == len(history)


# -- other methods, switches ----------------------------------------------------------------------------------


def test_calls_report_window_paging_and_interval_limit(api: UISEmulator) -> None:
    rows, total = fetch_all(api.url, "get.calls_report", window("2026-01-01 00:00:00", "2026-01-02 23:59:59"), 60)
    truth = api.report_rows("2026-01-01", "2026-01-03")
    assert total == len(truth) == len(rows) > 60
    assert rows == truth
    assert {row["source"] for row in rows} >= {"upload_calls", "calltracking"}
    assert all(row["start_time"] < "2026-01-03 00:00:00" for row in rows)
    err = error(api.url, "get.calls_report", window("2026-01-01 00:00:00", "2026-04-01 00:00:01"))
    assert err["data"]["mnemonic"] == "date_interval_limit_reached"
    assert result(api.url, "get.calls_report", window("2026-01-01 00:00:00", "2026-04-01 00:00:00"))


def test_customer_users_is_a_small_list(api: UISEmulator) -> None:
    answer = result(api.url, "get.customer_users", {"access_token": KEY, "sort": [{"field": "id", "order": "desc"}]})
    ids = [row["id"] for row in answer["data"]]
    assert ids == sorted(ids, reverse=True) and answer["metadata"]["total_items"] == len(ids) > 1


def test_method_component_disabled_uses_code_32602(api: UISEmulator) -> None:
    api.disable_method("get.uploaded_calls")
    err = error(api.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-01 01:00:00"))
    assert (err["code"], err["data"]["mnemonic"]) == (-32602, "method_component_disabled")
    assert result(api.url, "get.account", {"access_token": KEY})
    api.disable_method("get.uploaded_calls", False)
    assert result(api.url, "get.uploaded_calls", window("2026-01-01 00:00:00", "2026-01-01 01:00:00"))


def test_block_ip(api: UISEmulator) -> None:
    api.block_ip(True)
    for method, params in (
        ("get.account", {"access_token": KEY}),
        ("login.user", {"login": LOGIN, "password": PASSWORD}),
    ):
        err = error(api.url, method, params)
        assert (err["code"], err["data"]["mnemonic"]) == (-32003, "ip_not_whitelisted")
    api.block_ip(False)
    assert result(api.url, "get.account", {"access_token": KEY})


def test_add_calls_changes_total_items(api: UISEmulator) -> None:
    params = window("2026-01-02 00:00:00", "2026-01-02 23:59:59", limit=1)
    before = result(api.url, "get.uploaded_calls", params)["metadata"]["total_items"]
    ext_ids = api.add_calls(30, "2026-01-02 10:00:00", "2026-01-02 12:00:00", status="processed")
    after = result(api.url, "get.uploaded_calls", params)["metadata"]["total_items"]
    assert after == before + 30
    added = [r for r in api.records("2026-01-02 10:00:00", "2026-01-02 12:00:00") if r["ext_id"] in set(ext_ids)]
    assert len(added) == 30 and {r["status"] for r in added} == {"processed"}
    assert min(ext_ids) > max(r["ext_id"] for r in api.records() if r["ext_id"] not in set(ext_ids))
    rows, _total = fetch_all(api.url, "get.uploaded_calls", window("2026-01-02 00:00:00", "2026-01-02 23:59:59"), 40)
    assert [row["ext_id"] for row in rows] == [r["ext_id"] for r in api.records("2026-01-02", "2026-01-03")]


def test_same_seed_same_data_other_seed_other_data() -> None:
    with make(seed=5) as one, make(seed=5) as two, make(seed=6) as three:
        assert one.records() == two.records()
        assert one.records() != three.records()
    first = one.records()
    assert len({r["ext_id"] for r in first}) == len(first) == 400
    statuses = [r["status"] for r in first]
    assert statuses.count("processed") > 300 and statuses.count("error") > 5
    assert all(r["ext_request_id"] for r in first)
    assert len({r["ext_request_id"] for r in first}) < len(first), "batches share a request id"


def test_request_log(api: UISEmulator) -> None:
    rpc(api.url, "get.account", {"access_token": KEY}, call_id=9)
    rpc(api.url, "get.account", {"access_token": "nope"}, call_id=10)
    requests.get(api.url, timeout=10)
    log = api.requests
    assert [(e["method"], e["id"], e["error"], e["points"], e["http_status"]) for e in log] == [
        ("get.account", 9, None, 1, 200),
        ("get.account", 10, "access_token_invalid", 0, 200),
        (None, None, None, 0, 405),
    ]
    assert log[0]["params"] == {"access_token": KEY}
    assert api.count() == 2 and api.count("login.user") == 0
    api.reset_log()
    assert api.requests == [] and api.count() == 0


# -- faults --------------------------------------------------------------------------------------------------


def post(api: UISEmulator, **kwargs: Any) -> requests.Response:
    body = {"jsonrpc": "2.0", "id": 5, "method": "get.account", "params": {"access_token": KEY}}
    return requests.post(api.url, json=body, timeout=kwargs.pop("timeout", 30), **kwargs)


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503"])
def test_http_status_faults(api: UISEmulator, kind: str) -> None:
    api.faults.script([kind])
    assert post(api).status_code == int(kind[-3:])
    assert post(api).json()["result"]["data"], "the script is used up"
    assert api.faults.injected == 1


def test_drop_and_timeout_close_without_answer(api: UISEmulator) -> None:
    api.faults.timeout_delay = 0.2
    body = {"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {"access_token": KEY}}
    with requests.Session() as session:
        assert session.post(api.url, json=body, timeout=10).status_code == 200
        api.faults.script(["drop", "timeout", "timeout"])
        with pytest.raises(requests.ConnectionError):
            session.post(api.url, json=body, timeout=10)
    with pytest.raises(requests.ConnectionError):
        post(api)
    with pytest.raises(requests.Timeout):
        post(api, timeout=0.05)
    assert [e["fault"] for e in api.requests] == [None, "drop", "timeout", "timeout"]
    assert [e["points"] for e in api.requests] == [1, 0, 0, 0]


def test_slow_still_answers(api: UISEmulator) -> None:
    api.faults.timeout_delay = 0.1
    api.faults.script(["slow"])
    assert post(api).json()["result"]["metadata"]["limits"]["minute_remaining"] == 2999
    assert api.requests[0]["fault"] == "slow"


def test_body_faults(api: UISEmulator) -> None:
    api.faults.script(["malformed", "not_jsonrpc", "deep", "huge"])
    response = post(api)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    assert post(api).json() == {"ok": 1}
    deep = post(api)
    assert deep.status_code == 200
    with pytest.raises(RecursionError):
        json.loads(deep.text)
    with post(api, stream=True) as huge:
        assert int(huge.headers["Content-Length"]) == HUGE_BYTES
        assert next(huge.iter_content(64)).startswith(b'{"jsonrpc":"2.0"')
    assert post(api).json()["result"]["data"]


@pytest.mark.parametrize(("kind", "limit_type"), [("limit_minute", "minute"), ("limit_day", "day")])
def test_limit_faults(api: UISEmulator, kind: str, limit_type: str) -> None:
    api.faults.script([kind])
    err = post(api).json()["error"]
    assert (err["code"], err["data"]["mnemonic"]) == (-32029, "limit_exceeded")
    assert err["data"]["params"]["limit_type"] == limit_type
    limits = err["data"]["metadata"]["limits"]
    assert limits[f"{limit_type}_remaining"] == 0 and limits[f"{limit_type}_reset"] >= 1


def test_internal_error_fault_changes_no_state(api: UISEmulator) -> None:
    api.faults.script(["internal_error"])
    answer = rpc(api.url, "upload.calls", {"access_token": KEY, "calls": [call("f-1")]})
    assert (answer["error"]["code"], answer["error"]["data"]["mnemonic"]) == (-32603, "internal_error")
    assert api.pending_uploads() == [] and api.limits["minute_remaining"] == 3000
    assert api.count("upload.calls") == 1 and api.requests[0]["error"] == "internal_error"


def test_random_faults_are_seeded() -> None:
    outcomes = []
    for _ in range(2):
        with make() as api:
            api.faults.random(rate=0.5, kinds=["http_502", "internal_error"], seed=3)
            seen = []
            for _ in range(20):
                response = post(api)
                seen.append("502" if response.status_code == 502 else response.json().get("error", {}).get("code", 0))
            outcomes.append(seen)
            assert 0 < api.faults.injected < 20
            assert api.faults.injected == sum(1 for item in seen if item != 0)
            api.faults.clear()
            assert "result" in post(api).json()
    assert outcomes[0] == outcomes[1]
    with pytest.raises(ValueError):
        make().faults.script(["meteor"])


# -- scale, lifecycle, CLI -----------------------------------------------------------------------------------


def test_large_history_pages_by_index() -> None:
    with make(calls=200_000, days=30) as api:
        answer = result(
            api.url,
            "get.uploaded_calls",
            window("2026-01-10 00:00:00", "2026-01-19 23:59:59", limit=10_000, offset=20_000),
        )
        truth = api.records("2026-01-10", "2026-01-20")
        assert answer["metadata"]["total_items"] == len(truth) > 30_000
        assert [row["ext_id"] for row in answer["data"]] == [r["ext_id"] for r in truth[20_000:30_000]]


def test_stop_closes_the_port() -> None:
    api = make().start()
    port = api.port
    assert post(api).status_code == 200
    api.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_sigterm() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uis_provider.testing.emulator",
            "--port",
            str(port),
            "--calls",
            "300",
            "--api-key",
            "cli-key",
            "other-key",
            "--timezone",
            "Asia/Novosibirsk",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"UIS emulator listening on http://127.0.0.1:{port}/v2.0"
        answer = rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "cli-key"})
        assert answer["result"]["data"][0]["timezone"] == "Asia/Novosibirsk"
        assert "result" in rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "other-key"})
        assert "error" in rpc(f"http://127.0.0.1:{port}/v2.0", "get.account", {"access_token": "test-api-key"})
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "RuntimeWarning" not in err


def test_cli_start_lines_say_how_to_connect_and_what_is_served() -> None:
    """Issue 21 item 13: the key, the login, the data range and the time zone are printed, and they are the truth."""
    command = [sys.executable, "-m", "uis_provider.testing.emulator", "--port", "0", "--calls", "400"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(6)]
        url = lines[0].rsplit(" ", 1)[-1]
        fields = dict(line.strip().split(":", 1) for line in lines[1:])
        key = fields["API key(s)"].split()[0]
        login, password = (part.strip() for part in fields["login.user"].split("/"))
        assert "400 uploaded calls, upload times from 2026-01-01 00:00 to 2026-02-01 00:00" in fields["data"]
        assert fields["time zone"].split()[0] == "Europe/Moscow"
        account = rpc(url, "get.account", {"access_token": key})["result"]["data"][0]
        assert account["timezone"] == "Europe/Moscow"
        assert "access_token" in rpc(url, "login.user", {"login": login, "password": password})["result"]["data"]
        params = {"access_token": key, "date_from": "2026-01-01 00:00:00", "date_till": "2026-02-01 00:00:00"}
        total = rpc(url, "get.uploaded_calls", {**params, "limit": 1})["result"]["metadata"]["total_items"]
        assert total == 400, "every generated call lies in the announced range"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_cli_help_shows_the_defaults() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "uis_provider.testing.emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    for default in ("(default: 8765)", "(default: 5000)", "(default: 31)", "(default: Europe/Moscow)"):
        assert default in " ".join(help_text.split()), default
    assert "none given: test-api-key" in help_text


def test_cli_budget_flags_behave_as_the_reference_says() -> None:
    """``--minute-limit/--minute-window/--day-limit``: points for successful calls only, ``metadata.limits`` in every
    answer and error, a minute refusal that says when it resets and refills then, a day refusal that does not."""
    command = [sys.executable, "-m", "uis_provider.testing.emulator", "--port", "0", "--calls", "50"]
    command += ["--api-key", "cli-key", "--minute-limit", "3", "--minute-window", "2", "--day-limit", "5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        params = {"access_token": "cli-key"}
        remaining = [rpc(url, "get.account", params)["result"]["metadata"]["limits"] for _ in range(3)]
        assert [limits["minute_remaining"] for limits in remaining] == [2, 1, 0]
        assert [limits["day_remaining"] for limits in remaining] == [4, 3, 2]
        assert all(limits["minute_limit"] == 3 and limits["day_limit"] == 5 for limits in remaining)
        assert all(1 <= limits["minute_reset"] <= 2 for limits in remaining), "the 2-second window"
        refused = rpc(url, "get.account", params)["error"]
        assert refused["code"] == -32029 and refused["data"]["mnemonic"] == "limit_exceeded"
        assert refused["data"]["params"] == {"limit_type": "minute", "limit_max_value": 3}
        limits = refused["data"]["metadata"]["limits"]
        assert limits["minute_remaining"] == 0 and limits["day_remaining"] == 2, "a refused call costs nothing"
        bad = rpc(url, "get.uploaded_calls", params)["error"]  # no dates: refused for its parameters, for free
        assert bad["data"]["metadata"]["limits"]["day_remaining"] == 2
        deadline = time.monotonic() + 30
        while "error" in (answer := rpc(url, "get.account", params)):  # the minute refills after its reset
            assert answer["error"]["data"]["params"]["limit_type"] == "minute" and time.monotonic() < deadline
            time.sleep(answer["error"]["data"]["metadata"]["limits"]["minute_reset"] or 0.2)
        assert answer["result"]["metadata"]["limits"]["day_remaining"] == 1
        assert "result" in rpc(url, "get.account", params)
        day = rpc(url, "get.account", params)["error"]
        assert day["data"]["params"] == {"limit_type": "day", "limit_max_value": 5}
        limits = day["data"]["metadata"]["limits"]
        assert limits["day_remaining"] == 0 and 86_000 < limits["day_reset"] <= 86_400
        assert limits["minute_remaining"] > 0, "the day refusal is not a minute one"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
