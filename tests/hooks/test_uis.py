"""UISHook against the emulator over real loopback HTTP: auth, errors, retries, pacing, paging, secrets."""

from __future__ import annotations

import logging
import math

import pytest

from tests.conftest import API_KEY, LOGIN, PASSWORD, conn_json
from uis_provider.exceptions import (
    UISAuthError,
    UISConfigurationError,
    UISInvalidParamsError,
    UISPermissionError,
    UISRateLimitError,
    UISServerError,
    UISTransportError,
)
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import MAX_RELOGINS
from uis_provider.testing import UISEmulator

FAST = RetryPolicy(max_retries=5, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)
WINDOW = {"date_from": "2026-01-10 00:00:00", "date_till": "2026-01-12 00:00:00"}


def _tokens_seen(api: UISEmulator) -> set[str]:
    return {r["params"].get("access_token") for r in api.requests if isinstance(r.get("params"), dict)} - {None}


def test_api_key_auth_injects_token_and_user_id(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_AGENT", conn_json(emulator.url, user_id=42))
    with UISHook("uis_agent") as hook:
        result = hook.call("get.account")
    assert result["data"][0]["timezone"] == "Europe/Moscow"
    sent = emulator.requests[-1]
    assert sent["method"] == "get.account"
    assert sent["params"]["access_token"] == API_KEY
    assert sent["params"]["user_id"] == 42
    assert emulator.count("login.user") == 0


def test_login_session_reused_then_logged_out(emulator: UISEmulator, uis_login_conn: str) -> None:
    hook = UISHook(uis_login_conn)
    for _ in range(3):
        hook.call("get.account")
    assert emulator.count("login.user") == 1
    assert emulator.count("get.account") == 3
    hook.close()
    assert emulator.count("logout.user") == 1
    token = emulator.requests[-1]["params"]["access_token"]
    assert token not in (API_KEY, PASSWORD)


def test_relogin_when_session_expires_mid_run(emulator: UISEmulator, uis_login_conn: str) -> None:
    with UISHook(uis_login_conn) as hook:
        hook.call("get.account")
        emulator.expire_sessions()
        result = hook.call("get.account")
        assert result["data"]
        assert hook.session.stats.logins == 2
    errors = [r["error"] for r in emulator.requests if r["error"]]
    assert errors == ["access_token_invalid"]
    assert emulator.count("login.user") == 2


def test_a_session_refused_right_after_every_login_gives_up_after_a_few_logins(
    emulator: UISEmulator, uis_login_conn: str
) -> None:
    emulator.expire_sessions_every(0)  # every session token is refused at its first use
    with pytest.raises(UISAuthError) as info:
        UISHook(uis_login_conn, retry_policy=FAST).call("get.account")
    assert info.value.mnemonic == "access_token_invalid"
    assert emulator.count("login.user") == 1 + MAX_RELOGINS
    assert emulator.count("get.account") == 1 + MAX_RELOGINS


def test_session_expiring_on_its_clock_is_renewed_before_use(
    uis_login_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with UISEmulator(users={LOGIN: PASSWORD}, session_ttl=60) as api:
        monkeypatch.setenv("AIRFLOW_CONN_UIS_LOGIN", conn_json(api.url, login=LOGIN, password=PASSWORD))
        with UISHook("uis_login") as hook:
            hook.call("get.account")
            api.clock.advance(3600)
            hook.call("get.account")
        assert api.count("login.user") == 2


def test_wrong_password_fails_once_with_clear_message(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_BAD", conn_json(emulator.url, login=LOGIN, password="wrong-password-123"))
    with pytest.raises(UISAuthError) as info:
        UISHook("uis_bad", retry_policy=FAST).call("get.account")
    assert info.value.mnemonic == "auth_error"
    assert "login and password" in str(info.value)
    assert "wrong-password-123" not in str(info.value)
    assert emulator.count("login.user") == 1


@pytest.mark.parametrize(
    ("key", "mnemonic", "advice"),
    [("expired-key", "access_token_expired", "end date"), ("blocked-key", "access_token_blocked", "blocked")],
)
def test_expired_or_blocked_key(
    emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch, key: str, mnemonic: str, advice: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_KEY", conn_json(emulator.url, password=key))
    with pytest.raises(UISAuthError) as info:
        UISHook("uis_key", retry_policy=FAST).call("get.account")
    assert info.value.mnemonic == mnemonic
    assert advice in str(info.value)
    assert key not in str(info.value)
    assert emulator.count() == 1


def test_component_disabled_with_params_code_maps_by_mnemonic(emulator: UISEmulator, uis_conn: str) -> None:
    emulator.disable_method("get.uploaded_calls")
    with pytest.raises(UISPermissionError) as info:
        UISHook(uis_conn, retry_policy=FAST).call("get.uploaded_calls", WINDOW)
    assert info.value.code == -32602
    assert info.value.mnemonic == "method_component_disabled"
    assert emulator.count("get.uploaded_calls") == 1


def test_invalid_parameter_fails_at_once_naming_field(emulator: UISEmulator, uis_conn: str) -> None:
    with pytest.raises(UISInvalidParamsError) as info:
        UISHook(uis_conn, retry_policy=FAST).call("get.uploaded_calls", {**WINDOW, "date_from": "2026-13-01 00:00:00"})
    assert info.value.field == "date_from"
    assert "date_from" in str(info.value)
    assert emulator.count() == 1


def test_transient_failures_are_retried(emulator: UISEmulator, uis_conn: str) -> None:
    emulator.faults.script(["http_502", "drop", "malformed", "internal_error", "not_jsonrpc"])
    hook = UISHook(uis_conn, retry_policy=FAST)
    result = hook.call("get.account")
    assert result["data"]
    assert hook.session.stats.retries == 5
    assert emulator.count("get.account") == 6


def test_retries_are_bounded(emulator: UISEmulator, uis_conn: str) -> None:
    emulator.faults.script(["http_503"] * 10)
    with pytest.raises(UISTransportError, match="HTTP 503"):
        UISHook(uis_conn, retry_policy=RetryPolicy(max_retries=2, backoff_base=0.01)).call("get.account")
    assert emulator.count() == 3


def test_internal_error_exhausted_raises_server_error(emulator: UISEmulator, uis_conn: str) -> None:
    emulator.faults.script(["internal_error"] * 3)
    with pytest.raises(UISServerError):
        UISHook(uis_conn, retry_policy=RetryPolicy(max_retries=1, backoff_base=0.01)).call("get.account")


def test_timeout_is_retried(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_T", conn_json(emulator.url, timeout=1))
    emulator.faults.timeout_delay = 2.0
    emulator.faults.script(["timeout"])
    hook = UISHook("uis_t", retry_policy=FAST)
    assert hook.call("get.account")["data"]
    assert hook.session.stats.retries == 1


def test_paces_itself_by_minute_remaining(make_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_emulator(minute_limit=3, minute_window=1.5)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    hook = UISHook(retry_policy=FAST)
    for _ in range(7):
        hook.call("get.uploaded_calls", {**WINDOW, "limit": 1})
    assert [r["error"] for r in api.requests if r["error"]] == []
    assert api.count("get.uploaded_calls") == 7
    assert hook.session.stats.waited > 0
    assert hook.session.limits is not None and hook.session.limits.minute_limit == 3


def test_a_task_after_another_in_the_same_minute_is_not_held_back_by_its_spending(
    make_emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two tasks one after the other within one minute window: the second finds 60 of 200 points gone by the first
    api = make_emulator(minute_limit=200, minute_window=600.0)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    params = {**WINDOW, "sort": [{"field": "ext_id", "order": "asc"}]}
    for task in ("first", "second"):
        with UISHook(retry_policy=FAST) as hook:
            pages = list(hook.paginate("get.uploaded_calls", params, page_size=5))
            assert len(pages) > 30
            stats = hook.session.stats
            assert (stats.budget_waited, stats.refusals) == (0.0, 0), f"the {task} task waited on the budget"
            assert hook.session.share.sharers == 1.0, "the first task's points are the past, not a client alongside"
    assert [r["error"] for r in api.requests if r["error"]] == []


def test_minute_limit_refusal_waits_for_reset_without_using_a_retry(
    make_emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_emulator(minute_window=1.0)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    api.faults.script(["limit_minute"])
    hook = UISHook(retry_policy=FAST)
    assert hook.call("get.account")["data"]
    assert hook.session.stats.retries == 0
    assert hook.session.stats.refusals == 1
    assert hook.session.stats.budget_waited >= 1.0  # the reset the refusal announced
    assert [r["error"] for r in api.requests] == ["limit_exceeded", None]


def test_daily_limit_fails_fast(make_emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_emulator(day_limit=2)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    hook = UISHook(retry_policy=FAST)
    hook.call("get.account")
    hook.call("get.account")
    with pytest.raises(UISRateLimitError) as info:
        hook.call("get.account")
    assert info.value.limit_type == "day"
    assert "daily point budget" in str(info.value)
    assert "refills in" in str(info.value)
    assert api.count() == 3


def test_paginate_by_total_items_with_fewest_calls(emulator: UISEmulator, uis_conn: str) -> None:
    # the emulator reads date_till as inclusive (as public clients assume): the truth includes the end second
    truth = sorted(r["ext_id"] for r in emulator.records("2026-01-10 00:00:00", "2026-01-12 00:00:01"))
    assert len(truth) > 100
    hook = UISHook(uis_conn)
    params = {**WINDOW, "sort": [{"field": "ext_id", "order": "asc"}]}
    pages = list(hook.paginate("get.uploaded_calls", params, page_size=37))
    got = [r["ext_id"] for page in pages for r in page.records]
    assert got == truth
    assert [p.offset for p in pages] == list(range(0, len(truth), 37))
    assert emulator.count("get.uploaded_calls") == math.ceil(len(truth) / 37)


def test_timezone_from_account_once_or_from_extra(
    emulator: UISEmulator, uis_conn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = UISHook(uis_conn)
    with caplog.at_level(logging.INFO):
        assert hook.get_timezone() == "Europe/Moscow"
        assert hook.get_timezone() == "Europe/Moscow"
    assert emulator.count("get.account") == 1
    hints = [r.getMessage() for r in caplog.records if "no 'timezone' extra" in r.getMessage()]
    assert len(hints) == 1 and "'Europe/Moscow'" in hints[0]
    caplog.clear()
    monkeypatch.setenv("AIRFLOW_CONN_UIS_TZ", conn_json(emulator.url, timezone="Asia/Yekaterinburg"))
    with caplog.at_level(logging.INFO):
        assert UISHook("uis_tz").get_timezone() == "Asia/Yekaterinburg"
    assert emulator.count("get.account") == 1
    assert not [r for r in caplog.records if "timezone" in r.getMessage()]


def test_test_connection_reports_api_message(
    emulator: UISEmulator, uis_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = UISHook(uis_conn).test_connection()
    assert ok
    assert "Europe/Moscow" in message
    monkeypatch.setenv("AIRFLOW_CONN_UIS_BAD", conn_json(emulator.url, login=LOGIN, password="nope-nope"))
    ok, message = UISHook("uis_bad").test_connection()
    assert not ok
    assert "auth_error" in message
    assert "nope-nope" not in message


@pytest.mark.parametrize(
    ("extra", "password", "needle"),
    [
        ({}, "", "no API key or password"),
        ({"user_id": "abc"}, API_KEY, "'user_id' must be a positive whole number"),
        ({"timezone": "Mars/Olympus"}, API_KEY, "not an IANA time zone"),
        ({"timeout": -3}, API_KEY, "'timeout' must be a positive number"),
        ({"verify": "no"}, API_KEY, "'verify' must be true or false, got 'no'"),
        ({"ca_bundle": "ca.pem"}, API_KEY, "'ca_bundle' must be the absolute path of a PEM file"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, API_KEY, "is not a readable file on this machine"),
        ({"ca_bundle": "/etc/hostname", "verify": False}, API_KEY, "contradict each other"),
        ({"proxy": "socks5://u:hunter2@proxy:1080"}, API_KEY, "got 'socks5://proxy:1080'"),
        ({"proxy": "proxy.corp:3128"}, API_KEY, "'proxy' must be an http:// or https:// proxy URL"),
    ],
)
def test_bad_connection_refused_before_any_call(
    emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch, extra: dict, password: str, needle: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_X", conn_json(emulator.url, password=password, **extra))
    with pytest.raises(UISConfigurationError, match=needle):
        UISHook("uis_x").call("get.account")
    assert emulator.count() == 0


def test_test_connection_makes_one_attempt_and_names_a_wrong_path(
    emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 5: a connection test fails fast (no retries) and a 404 hints at the host or path."""
    monkeypatch.setenv("AIRFLOW_CONN_UIS_FLAKY", conn_json(emulator.url))
    emulator.faults.script(["http_502", "http_502"])
    ok, message = UISHook("uis_flaky").test_connection()
    assert not ok
    assert "HTTP 502" in message
    assert emulator.count() == 1  # a task's hook would have retried up to 5 times

    monkeypatch.setenv("AIRFLOW_CONN_UIS_WRONG_PATH", conn_json(emulator.url.replace("/v2.0", "/v1")))
    ok, message = UISHook("uis_wrong_path").test_connection()
    assert not ok
    assert "HTTP 404 from the API" in message
    assert "wrong host or path?" in message


def test_test_connection_to_a_closed_port_fails_at_the_first_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_UIS_CLOSED", conn_json(f"http://127.0.0.1:{port}/v2.0"))
    hook = UISHook("uis_closed")
    retries: list[str] = []
    monkeypatch.setattr("uis_provider.transport.sync.log.info", lambda *args: retries.append(str(args)))
    ok, message = hook.test_connection()
    assert not ok
    assert "cannot reach http://127.0.0.1:" in message and "connection refused" in message
    assert retries == []  # no "retry n/5" sleep was taken


def test_missing_connection_is_named_with_the_ways_that_work_in_a_script() -> None:
    """Issue 15 item 2: a plain script sees no metadata-DB connections; the error says what does work."""
    with pytest.raises(UISConfigurationError, match="uis_conn_id='no_such_conn'") as caught:
        UISHook("no_such_conn").call("get.account")
    message = str(caught.value)
    assert "Inside an Airflow task" in message
    assert "AIRFLOW_CONN_NO_SUCH_CONN" in message
    assert "secrets backend" in message
    assert "airflow connections get no_such_conn" in message


def test_secrets_absent_from_logs_errors_and_repr(
    emulator: UISEmulator, uis_login_conn: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator.faults.script(["http_502", "internal_error"])
    hook = UISHook(uis_login_conn, retry_policy=FAST)
    hook.call("get.account")
    emulator.expire_sessions()
    hook.call("get.account")
    texts = [caplog.text, repr(hook), repr(hook.session), repr(hook.settings)]
    emulator.disable_method("get.uploaded_calls")
    with pytest.raises(UISPermissionError) as info:
        hook.call("get.uploaded_calls", WINDOW)
    texts.append(str(info.value))
    hook.close()
    monkeypatch.setenv("AIRFLOW_CONN_UIS_K", conn_json(emulator.url, password="blocked-key"))
    with pytest.raises(UISAuthError) as info2:
        UISHook("uis_k").call("get.account")
    texts.append(str(info2.value))
    secrets = _tokens_seen(emulator) | {PASSWORD, "blocked-key"}
    assert len(secrets) >= 4  # password, blocked key and two session tokens
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_provider_info_matches_airflow_schema() -> None:
    import json
    from importlib.resources import files

    import jsonschema

    from uis_provider.get_provider_info import get_provider_info

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    conn = info["connection-types"][0]
    assert conn["connection-type"] == UISHook.conn_type
    assert conn["hook-class-name"] == f"{UISHook.__module__}.{UISHook.__qualname__}"
    assert set(conn["conn-fields"]) == {"user_id", "timezone", "timeout", "ca_bundle", "verify", "proxy"}
    from importlib import import_module

    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                import_module(module)
