"""``UISAsyncHook``: the sync hook's interface on an event loop, over the same session flows and page plan, on the
emulator."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import BaseHook

from tests.conftest import LOGIN, PASSWORD, conn_json
from uis_provider.exceptions import (
    UISConfigurationError,
    UISDataChangedError,
    UISError,
    UISPagingLimitError,
    UISRateLimitError,
)
from uis_provider.hooks import uis_async
from uis_provider.hooks.uis import UISHook
from uis_provider.hooks.uis_async import UISAsyncHook
from uis_provider.protocol import paging
from uis_provider.protocol.keyset import Keyset
from uis_provider.protocol.page_plan import Page
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.testing import UISEmulator

#: Names the async hook spells the asyncio way for the same guarantee.
ASYNC_SPELLING = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
#: The connection form of Airflow 2.11-3.1, declared on the sync hook (the one the provider registers).
FORM = {"get_connection_form_widgets", "get_ui_field_behaviour"}


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    """The public methods ``cls`` defines or overrides beyond ``BaseHook``, by the name the sync hook gives them."""
    methods = {}
    for name, value in inspect.getmembers(cls, callable):
        defined = any(name in vars(klass) for klass in cls.__mro__ if klass not in BaseHook.__mro__)
        if defined and (not name.startswith("_") or name in ("__enter__", "__exit__", *ASYNC_SPELLING)):
            methods[ASYNC_SPELLING.get(name, name)] = inspect.signature(value)
    return {name: signature for name, signature in methods.items() if name not in FORM}


def test_both_hooks_expose_the_same_methods_with_the_same_parameters() -> None:
    sync = public_methods(UISHook)
    both = public_methods(UISAsyncHook)
    assert set(sync) == set(both), set(sync) ^ set(both)
    for name in both:
        shape = [(p.name, p.kind, p.default) for p in sync[name].parameters.values()]
        assert shape == [(p.name, p.kind, p.default) for p in both[name].parameters.values()], name
        if not name.startswith("__") or name == "__exit__":
            spelled = getattr(UISAsyncHook, _async_name(name))
            if inspect.isgeneratorfunction(getattr(UISHook, name)):
                assert inspect.isasyncgenfunction(spelled), name
            else:
                assert inspect.iscoroutinefunction(spelled), name
    assert {"run", "call", "close", "get_conn", "get_session", "get_timezone", "test_connection"} <= set(both)
    assert {"paginate", "get_records"} <= set(both)


def _async_name(name: str) -> str:
    return {sync: spelled for spelled, sync in ASYNC_SPELLING.items()}.get(name, name)


def test_both_hooks_drive_flows_and_call_with_a_request_id(emulator: UISEmulator, uis_conn: str) -> None:
    with UISHook(uis_conn) as hook:
        result = hook.run(hook.session.call("get.account", request_id="mine-1"))
        again = hook.call("get.account", request_id="mine-2")

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        async with UISAsyncHook(uis_conn) as hook:
            session = await hook.get_session()
            first = await hook.run(session.call("get.account", request_id="mine-3"))
            return first, await hook.call("get.account", request_id="mine-4")

    third, fourth = asyncio.run(both())
    assert result["data"] == again["data"] == third["data"] == fourth["data"]
    assert [r["id"] for r in emulator.requests[-4:]] == ["mine-1", "mine-2", "mine-3", "mine-4"]


def test_a_login_token_is_masked_before_the_next_request_and_async_with_logs_out(
    emulator: UISEmulator, uis_login_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    masked: list[tuple[str, int]] = []

    async def record(secret: str) -> None:
        masked.append((secret, len(emulator.requests)))

    monkeypatch.setattr(uis_async, "amask_secret", record)

    async def account() -> dict[str, Any]:
        async with UISAsyncHook(uis_login_conn) as hook:
            return await hook.call("get.account")

    assert asyncio.run(account())["data"]
    login, call = emulator.requests[-3], emulator.requests[-2]
    assert (login["method"], call["method"], emulator.requests[-1]["method"]) == (
        "login.user",
        "get.account",
        "logout.user",
    )
    token = call["params"]["access_token"]
    assert PASSWORD in [secret for secret, _ in masked]
    assert (token, len(emulator.requests) - 2) in masked, "masked once logged in, before get.account was sent"
    assert emulator.open_sessions == 0


def test_the_time_zone_and_the_connection_test_answer_as_the_sync_hooks_do(
    emulator: UISEmulator, uis_conn: str, uis_login_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ask(conn_id: str) -> tuple[str, tuple[bool, str]]:
        async with UISAsyncHook(conn_id) as hook:
            return await hook.get_timezone(), await hook.test_connection()

    for conn_id in (uis_conn, uis_login_conn):
        with UISHook(conn_id) as hook:
            expected = hook.get_timezone(), hook.test_connection()
        assert asyncio.run(ask(conn_id)) == expected
        assert expected[1][0] and expected[1][1].startswith(f"Connected to {emulator.url}")
    assert emulator.open_sessions == 0
    monkeypatch.setenv("AIRFLOW_CONN_UIS_BAD", conn_json(emulator.url, login=LOGIN, password="wrong-pw-5e3"))

    async def bad() -> tuple[bool, str]:
        async with UISAsyncHook("uis_bad") as hook:
            return await hook.test_connection()

    ok, message = asyncio.run(bad())
    assert not ok and "auth_error" in message
    assert "wrong-pw-5e3" not in message, "the password must not reach the message the UI shows"


# -- paging: the async hook's pages are the sync hook's ---------------------------------------------------------

FAST = RetryPolicy(max_retries=5, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)
PARAMS = {
    "date_from": "2026-01-02 00:00:00",
    "date_till": "2026-01-11 23:59:59",
    "sort": [{"field": "ext_id", "order": "asc"}],
}
BIG_WINDOW = {"date_from": "2026-03-01 00:00:00", "date_till": "2026-03-03 00:00:00", "fields": ["ext_id"]}


async def collect(pages: AsyncIterator[Page], got: list[Page]) -> None:
    """Append every page to ``got`` until the pages end or one fails."""
    async for page in pages:
        got.append(page)


def async_pages(
    conn_id: str, method: str, params: dict[str, Any], got: list[Page] | None = None, **kwargs: Any
) -> list[Page]:
    """Every page the async hook's ``paginate`` yields (into ``got`` as they come, when given)."""
    pages: list[Page] = [] if got is None else got

    async def run() -> None:
        async with UISAsyncHook(conn_id, retry_policy=FAST) as hook:
            await collect(hook.paginate(method, params, **kwargs), pages)

    asyncio.run(run())
    return pages


def test_async_pages_are_the_sync_hooks_pages_with_the_same_calls(emulator: UISEmulator, uis_conn: str) -> None:
    with UISHook(uis_conn, prefetch_pages=3) as hook:
        expected = list(hook.paginate("get.uploaded_calls", PARAMS, page_size=40))
    sync_calls = emulator.count("get.uploaded_calls")
    pages = async_pages(uis_conn, "get.uploaded_calls", PARAMS, page_size=40, prefetch_pages=3)
    assert pages == expected
    assert [page.offset for page in pages] == list(range(0, pages[0].total_items, 40))
    assert (
        emulator.count("get.uploaded_calls") - sync_calls == sync_calls == paging.page_count(pages[0].total_items, 40)
    )

    async def records() -> list[dict[str, Any]]:
        async with UISAsyncHook(uis_conn) as hook:
            return [record async for record in hook.get_records("get.uploaded_calls", PARAMS, page_size=300)]

    assert asyncio.run(records()) == [record for page in expected for record in page.records]


@pytest.fixture
def big_conn(big: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``uis_big`` pointing at the big emulator, its request log emptied."""
    monkeypatch.setenv("AIRFLOW_CONN_UIS_BIG", conn_json(big.url))
    big.reset_log()
    return "uis_big"


def test_a_keyset_continues_past_the_offset_cap_as_on_the_sync_hook(big: UISEmulator, big_conn: str) -> None:
    params = {**BIG_WINDOW, "sort": [{"field": "ext_id", "order": "desc"}]}
    keyset = Keyset("ext_id", descending=True)
    with UISHook(big_conn) as hook:
        expected = list(hook.paginate("get.uploaded_calls", params, keyset=keyset))
    sync_calls = calls(big)
    big.reset_log()
    pages = async_pages(big_conn, "get.uploaded_calls", params, keyset=keyset)
    assert pages == expected
    keys = [record["ext_id"] for page in pages for record in page.records]
    assert len(keys) == len(set(keys)) == pages[0].total_items > paging.reachable_rows(10_000)
    assert keys == sorted(keys, reverse=True)
    # one page after another, so in the order of the pages: the offsets, then the query after the 110 000th row
    reach = paging.reachable_rows(10_000)
    assert calls(big) == [(None, offset) for offset in range(0, reach, 10_000)] + [(keys[reach - 1], 0)]
    assert sorted(sync_calls, key=repr) == sorted(calls(big), key=repr)  # the sync hook's, fetched ahead


def calls(api: UISEmulator) -> list[tuple[Any, int]]:
    """The keyset bound (None on the first query) and offset of each call the emulator answered, in order."""
    return [(entry["params"].get("filter", {}).get("value"), entry["params"]["offset"]) for entry in api.requests]


def test_without_a_keyset_both_hooks_refuse_the_query_after_one_call(big: UISEmulator, big_conn: str) -> None:
    params = {**BIG_WINDOW, "sort": [{"field": "ext_id", "order": "asc"}]}
    with UISHook(big_conn) as hook, pytest.raises(UISPagingLimitError) as sync_error:
        list(hook.paginate("get.uploaded_calls", params))
    with pytest.raises(UISPagingLimitError, match="more than the 110000") as async_error:
        async_pages(big_conn, "get.uploaded_calls", params)
    assert str(async_error.value) == str(sync_error.value)
    assert big.count("get.uploaded_calls") == 2


def test_bad_paging_parameters_are_refused_before_any_call(emulator: UISEmulator, uis_conn: str) -> None:
    for bad in ({"page_size": 0}, {"page_size": 10_001}, {"page_size": True}, {"prefetch_pages": -1}):
        with pytest.raises(UISConfigurationError, match=next(iter(bad))):
            async_pages(uis_conn, "get.uploaded_calls", PARAMS, **bad)
    assert emulator.count() == 0


def test_the_day_budget_running_out_says_what_the_pages_left_needed_as_on_the_sync_hook(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(make_emulator(day_limit=5).url))
    with UISHook(prefetch_pages=0) as hook, pytest.raises(UISRateLimitError) as sync_error:
        list(hook.paginate("get.uploaded_calls", PARAMS, page_size=40))
    api = make_emulator(day_limit=5)  # the same data, the day budget whole again
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    got: list[Page] = []
    with pytest.raises(UISRateLimitError, match="daily") as async_error:
        async_pages("uis_default", "get.uploaded_calls", PARAMS, got, page_size=40)
    assert [page.offset for page in got] == [0, 40, 80, 120, 160]
    needed = [
        (error.params["points_needed"], error.params["points_for"]) for error in (sync_error.value, async_error.value)
    ]
    assert needed[0] == needed[1] == (needed[0][0], f"{needed[0][0]} more page(s) of get.uploaded_calls")
    assert [entry["error"] for entry in api.requests] == [None] * 5 + ["limit_exceeded"]


def test_a_short_page_and_rows_added_while_paging_fail_with_the_sync_hooks_errors(
    emulator: UISEmulator, uis_conn: str
) -> None:
    async def first_then_rest(after_first: Callable[[], None]) -> list[Page]:
        async with UISAsyncHook(uis_conn, retry_policy=FAST) as hook:
            pages = hook.paginate("get.uploaded_calls", PARAMS, page_size=40)
            got = [await anext(pages)]
            after_first()
            await collect(pages, got)
            return got

    with pytest.raises(UISError, match=r"the page at offset 40 holds 39 records, but total_items=\d+ and limit=40"):
        asyncio.run(first_then_rest(lambda: emulator.faults.script(["short_page"])))
    with pytest.raises(UISDataChangedError, match="total_items changed from"):
        asyncio.run(first_then_rest(lambda: emulator.add_calls(3, "2026-01-05 10:00:00", "2026-01-05 11:00:00")))
