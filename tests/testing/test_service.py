"""Tests of the JSON-RPC core: request shape, keys and sessions, point budgets, disabled methods, blocked IPs."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.testing.conftest import KEY, LOGIN, PASSWORD, error, make, result, window
from uis_provider.testing import UISEmulator


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
