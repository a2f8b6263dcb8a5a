"""The session's call flow, driven in memory: auth, retries, re-logins, the login shared by concurrent calls,
secrets kept out of errors, and the points booked for a call released however it ends."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.protocol.flows import Clock, api_key_settings, drive, error, request_of, result
from uis_provider.exceptions import UISAuthError, UISInvalidParamsError, UISServerError, UISTransportError
from uis_provider.protocol.auth import settings_for
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import (
    CONCURRENCY_POLL,
    MAX_RELOGINS,
    SESSION_REFRESH_LEAD,
    Reply,
    Send,
    Sleep,
    UISSession,
)


def login_session(clock: Clock, secrets: list[str] | None = None, retries: int = 2) -> UISSession:
    settings = api_key_settings(login="analyst", secret="pa55")
    return UISSession(
        settings,
        policy=RetryPolicy(max_retries=retries),
        clock=clock,
        on_secret=(secrets.append if secrets is not None else None),
        rng=random.Random(1),
    )


def logged_in(token: str, expire: float | None = None) -> Any:
    """The answer of a ``login.user`` that hands out ``token``."""

    def reply(send: Send) -> Reply:
        data: dict[str, Any] = {"access_token": token}
        if expire is not None:
            data["expire_at"] = expire
        return result(send.body, data)

    return reply


def ok(send: Send) -> Reply:
    return result(send.body, [{"id": 1}])


def failing(mnemonic: str, **data: Any) -> Any:
    return lambda send: error(send.body, mnemonic, **data)


def sends(effects: list[Any]) -> list[dict[str, Any]]:
    return [request_of(effect) for effect in effects if isinstance(effect, Send)]


def test_an_api_key_goes_as_access_token_and_the_agent_user_id_with_methods_that_take_it() -> None:
    clock = Clock()
    settings = settings_for("uis_test", "http://127.0.0.1:1/v2.0", None, "key-123", '{"user_id": 77}')
    api = UISSession(settings, clock=clock)
    value, effects = drive(api.call("get.calls_report", {"limit": 5}), clock, [ok])
    assert value["data"] == [{"id": 1}]
    (request,) = sends(effects)
    assert request["params"] == {"access_token": "key-123", "user_id": 77, "limit": 5}
    _, effects = drive(api.call("get.customer_users"), clock, [ok])
    assert "user_id" not in sends(effects)[0]["params"], "a method without user_id is sent none"
    assert api.stats.calls == 2 and api.stats.retries == 0


def test_a_transient_failure_is_retried_with_the_same_request_id_and_growing_backoff() -> None:
    clock = Clock()
    api = UISSession(api_key_settings(), policy=RetryPolicy(max_retries=2), clock=clock)
    value, effects = drive(
        api.call("get.account", request_id="mine"), clock, [failing("internal_error"), failing("internal_error"), ok]
    )
    assert value["data"] == [{"id": 1}]
    assert [request["id"] for request in sends(effects)] == ["mine"] * 3
    sleeps = [effect for effect in effects if isinstance(effect, Sleep)]
    assert [sleep.seconds for sleep in sleeps] == [1.0, 2.0]
    assert sleeps[1].reason == "retry 2/2 of get.account after internal_error"
    assert (api.stats.retries, api.stats.waited, api.stats.calls) == (2, 3.0, 3)
    with pytest.raises(UISServerError):
        drive(api.call("get.account"), clock, [failing("internal_error")] * 3)


def test_a_caller_error_fails_at_once_and_a_permanent_transport_failure_is_not_retried() -> None:
    clock = Clock()
    api = UISSession(api_key_settings(), clock=clock)
    with pytest.raises(UISInvalidParamsError, match="field=limit"):
        drive(api.call("get.account"), clock, [failing("invalid_parameter_value", field="limit")])
    with pytest.raises(UISTransportError, match="does not resolve") as info:
        drive(api.call("get.account"), clock, [lambda _send: Reply(failure="does not resolve", permanent=True)])
    assert not info.value.retryable and api.stats.retries == 0


def test_a_refused_session_token_is_dropped_and_renewed_at_most_a_few_times() -> None:
    clock = Clock()
    secrets: list[str] = []
    api = login_session(clock, secrets)
    value, effects = drive(
        api.call("get.account"), clock, [logged_in("tok-1"), failing("access_token_expired"), logged_in("tok-2"), ok]
    )
    assert value["data"] == [{"id": 1}]
    methods = [(request["method"], request["params"].get("access_token")) for request in sends(effects)]
    assert methods == [("login.user", None), ("get.account", "tok-1"), ("login.user", None), ("get.account", "tok-2")]
    assert secrets == ["pa55", "tok-1", "tok-2"], "every secret is handed to the masker as it is learned"
    assert api.stats.logins == 2
    again = [logged_in("tok"), failing("access_token_invalid")] * (1 + MAX_RELOGINS)
    with pytest.raises(UISAuthError):
        drive(api.call("get.account"), clock, [failing("access_token_invalid"), *again[1:]])


def test_a_token_is_renewed_before_it_expires_and_a_wrong_password_fails_once() -> None:
    clock = Clock()
    api = login_session(clock)
    drive(api.call("get.account"), clock, [logged_in("tok-1", expire=clock.now + 3600), ok])
    clock.now += 3600 - SESSION_REFRESH_LEAD
    _, effects = drive(api.call("get.account"), clock, [logged_in("tok-2"), ok])
    assert [request["method"] for request in sends(effects)] == ["login.user", "get.account"]
    wrong = login_session(Clock(), retries=5)
    with pytest.raises(UISAuthError, match="auth_error") as info:
        drive(wrong.call("get.account"), clock, [failing("auth_error", params={"login": "analyst"})])
    assert "pa55" not in str(info.value) and wrong.stats.retries == 0


def test_a_secret_echoed_in_an_error_is_scrubbed() -> None:
    clock = Clock()
    api = UISSession(api_key_settings(secret="key-SECRET"), clock=clock)
    with pytest.raises(UISInvalidParamsError) as info:
        drive(
            api.call("get.account"),
            clock,
            [failing("invalid_parameter_value", field="access_token", value="key-SECRET")],
        )
    assert "key-SECRET" not in str(info.value) and info.value.value == "***"


def test_calls_of_one_session_wait_quietly_while_another_logs_in_for_all() -> None:
    clock = Clock()
    api = login_session(clock)
    first, second = api.call("get.account"), api.call("get.account")
    login = next(first)
    assert isinstance(login, Send) and login.method == "login.user"
    polled = next(second)
    assert isinstance(polled, Sleep) and polled.quiet and polled.seconds == CONCURRENCY_POLL
    call = first.send(logged_in("tok-1")(login))
    assert isinstance(call, Send) and request_of(call)["params"]["access_token"] == "tok-1"
    other = second.send(None)
    assert isinstance(other, Send) and other.method == "get.account", "no second login"
    assert api.stats.logins == 1


def test_the_points_of_a_call_are_released_when_it_is_answered_or_cancelled() -> None:
    clock = Clock()
    api = UISSession(api_key_settings(), clock=clock)
    flow = api.call("upload.calls", {"calls": []})
    assert isinstance(next(flow), Send)
    assert api.gate.in_flight_points == 5
    flow.close()
    assert api.gate.in_flight_points == 0
    drive(api.call("upload.calls", {"calls": []}), clock, [ok])
    assert api.gate.in_flight_points == 0


def test_logout_ends_the_session_and_a_failure_only_drops_the_token() -> None:
    clock = Clock()
    api = login_session(clock)
    drive(api.call("get.account"), clock, [logged_in("tok-1"), ok])
    assert api.logged_in
    _, effects = drive(api.logout(), clock, [lambda _send: Reply(failure="connection reset")])
    assert [request["params"] for request in sends(effects)] == [{"access_token": "tok-1"}]
    assert not api.logged_in
    assert drive(api.logout(), clock, []) == (None, []), "nothing to end"


def test_a_logout_the_minute_budget_refuses_is_dropped_not_waited_out_or_counted() -> None:
    clock = Clock()
    api = login_session(clock)
    drive(api.call("get.account"), clock, [logged_in("tok-1"), ok])
    before = clock.now
    _, effects = drive(api.logout(), clock, ["minute"])
    assert len(sends(effects)) == 1 and not [e for e in effects if isinstance(e, Sleep)], "one try, no wait"
    assert clock.now == before
    assert api.stats.refusals == 0 and api.stats.retries == 0
    assert not api.logged_in


def test_an_assumed_endpoint_is_named_in_a_failure_to_reach_it() -> None:
    clock = Clock()
    settings = settings_for("uis_test", "dataapi.example", None, "key", None)
    api = UISSession(settings, policy=RetryPolicy(max_retries=0), clock=clock)
    with pytest.raises(UISTransportError, match="has no scheme, so https:// was assumed"):
        drive(api.call("get.account"), clock, [lambda _send: Reply(failure="cannot reach")])
