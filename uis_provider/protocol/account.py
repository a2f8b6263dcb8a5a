"""What both hooks ask of the account itself: its time zone, and the one-call connection test.

Sans-IO like the rest of ``uis_provider.protocol``: the test is a flow (see :mod:`uis_provider.protocol.session`)
that either transport drives, so that the sync and async hooks test a connection the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Effect, Reply, UISSession

#: Seconds one request of a connection test may take (less when the connection's ``timeout`` is).
TEST_CONNECTION_TIMEOUT = 10.0


def account_of(result: dict[str, Any]) -> dict[str, Any] | None:
    """The account object of a ``get.account`` result (answered as an object or a list of one)."""
    data = result.get("data")
    account = data[0] if isinstance(data, list) and data else data
    return account if isinstance(account, dict) else None


def account_timezone(result: dict[str, Any]) -> str:
    """The IANA time zone of a ``get.account`` result, or an error saying to set the connection's extra."""
    timezone = (account_of(result) or {}).get("timezone")
    if not isinstance(timezone, str) or not timezone:
        raise UISConfigurationError(
            "get.account did not return a time zone; set the connection extra 'timezone' (e.g. Europe/Moscow)"
        )
    return timezone


#: The log line of a hook that asked ``get.account`` for the time zone: the connection, the zone, the zone again.
ASKED_TIMEZONE = (
    "UIS: connection %s has no 'timezone' extra, so get.account was asked (%s): a call and a point per task; set the "
    "extra to %r to skip it"
)


def quick_session(settings: ConnectionSettings, on_secret: Callable[[str], None]) -> UISSession:
    """A session for a connection test: one attempt per request, each within :data:`TEST_CONNECTION_TIMEOUT`.

    Retries and the connection's long ``timeout`` are for tasks; a UI or CLI test fails fast with the API's message.
    """
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, TEST_CONNECTION_TIMEOUT))
    return UISSession(quick, policy=RetryPolicy(max_retries=0), on_secret=on_secret)


def connection_test(session: UISSession) -> Generator[Effect, Reply | None, str]:
    """Ask ``get.account`` once, end a login session it opened, and say which account answered where."""
    result = yield from session.call("get.account")
    yield from session.logout()
    account = account_of(result) or {}
    return (
        f"Connected to {session.settings.endpoint}: account {account.get('name')!r}, "
        f"time zone {account.get('timezone')}"
    )
