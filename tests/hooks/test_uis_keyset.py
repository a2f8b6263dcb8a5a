"""UISHook.paginate past the offset cap: a keyset continues a query sorted by its unique key with only full pages,
against an emulator holding more rows than offsets reach (110 000)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import conn_json
from uis_provider.exceptions import UISDataChangedError, UISPagingLimitError
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol import paging
from uis_provider.protocol.keyset import Keyset
from uis_provider.testing import UISEmulator

WINDOW = {"date_from": "2026-03-01 00:00:00", "date_till": "2026-03-03 00:00:00"}
ASC = [{"field": "ext_id", "order": "asc"}]
DESC = [{"field": "ext_id", "order": "desc"}]


@pytest.fixture
def hook(big: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[UISHook]:
    """A hook on the big emulator."""
    monkeypatch.setenv("AIRFLOW_CONN_UIS_BIG", conn_json(big.url))
    big.reset_log()
    with UISHook("uis_big") as uis_hook:
        yield uis_hook


def answered(api: UISEmulator, status: str | None = None) -> list[dict[str, Any]]:
    """The records the window's query answers (its date_till is read inclusive)."""
    rows = api.records(WINDOW["date_from"], "2026-03-03 00:00:01")
    return [r for r in rows if status is None or r["status"] == status]


def test_descending_keyset_pages_every_row_once_with_the_fewest_calls(hook: UISHook, big: UISEmulator) -> None:
    params = {**WINDOW, "fields": ["ext_id"], "sort": DESC}
    keys = [r["ext_id"] for r in hook.get_records("get.uploaded_calls", params, keyset=Keyset("ext_id", True))]
    truth = sorted((r["ext_id"] for r in answered(big)), reverse=True)
    assert len(truth) > paging.reachable_rows(10_000)
    assert keys == truth
    assert hook.session.stats.calls == paging.page_count(len(truth), 10_000)
    bounds = {e["params"].get("filter", {}).get("value") for e in big.requests}
    assert bounds == {None, truth[109_999]}


def test_the_users_filter_is_kept_in_every_continued_query(hook: UISHook, big: UISEmulator) -> None:
    status = {"field": "status", "operator": "!=", "value": "cancelled"}
    params = {**WINDOW, "fields": ["ext_id", "status"], "sort": ASC, "filter": status}
    rows = list(hook.get_records("get.uploaded_calls", params, page_size=10_000, keyset=Keyset("ext_id")))
    truth = sorted(r["ext_id"] for r in answered(big) if r["status"] != "cancelled")
    assert len(truth) > paging.reachable_rows(10_000)  # still past the cap once filtered
    assert [r["ext_id"] for r in rows] == truth
    assert all(r["status"] != "cancelled" for r in rows)
    filters = [e["params"]["filter"] for e in big.requests]
    assert status in filters
    bound = {"field": "ext_id", "operator": ">", "value": truth[109_999]}
    assert {"filters": [status, bound], "condition": "and"} in filters


def test_without_a_keyset_the_query_is_refused_after_one_call(hook: UISHook, big: UISEmulator) -> None:
    with pytest.raises(UISPagingLimitError, match="more than the 110000"):
        list(hook.paginate("get.uploaded_calls", {**WINDOW, "fields": ["ext_id"], "sort": ASC}))
    assert big.count("get.uploaded_calls") == 1


def test_rows_added_before_the_continuation_are_detected(hook: UISHook, big: UISEmulator) -> None:
    params = {**WINDOW, "fields": ["ext_id"], "sort": ASC}
    # one page at a time, so the continuation is asked for only after the calls are added
    pages = hook.paginate("get.uploaded_calls", params, keyset=Keyset("ext_id"), prefetch_pages=0)
    taken = sum(len(next(pages).records) for _ in range(11))
    assert taken == paging.reachable_rows(10_000)
    big.add_calls(3, "2026-03-02 10:00:00", "2026-03-02 11:00:00")
    with pytest.raises(UISDataChangedError, match="total_items changed from"):
        next(pages)


def test_the_continuation_is_fetched_while_the_caller_still_handles_the_page_before(
    hook: UISHook, big: UISEmulator
) -> None:
    params = {**WINDOW, "fields": ["ext_id"], "sort": ASC}
    pages = hook.paginate("get.uploaded_calls", params, keyset=Keyset("ext_id"), prefetch_pages=3)
    taken = [next(pages) for _ in range(11)]
    assert sum(len(page.records) for page in taken) == paging.reachable_rows(10_000)
    # the caller holds the last page the offsets reach; the rows after it are asked for meanwhile
    deadline = time.monotonic() + 60
    while not any("filter" in e["params"] for e in big.requests) and time.monotonic() < deadline:
        time.sleep(0.02)
    continued = [e["params"] for e in big.requests if "filter" in e["params"]]
    assert continued and continued[0]["offset"] == 0
    rest = [r["ext_id"] for page in pages for r in page.records]
    assert len(rest) == len(answered(big)) - paging.reachable_rows(10_000)


def test_the_next_query_is_asked_for_before_the_caller_reaches_the_last_page_offsets_reach(
    hook: UISHook, big: UISEmulator
) -> None:
    params = {**WINDOW, "fields": ["ext_id"], "sort": ASC}
    with contextlib.closing(
        hook.paginate("get.uploaded_calls", params, keyset=Keyset("ext_id"), prefetch_pages=2)
    ) as pages:
        taken = [next(pages) for _ in range(10)]
        # the last page the offsets reach went out ahead of its turn, and its last key started the next query while
        # the caller took the pages before it
        deadline = time.monotonic() + 10
        while not any("filter" in e["params"] for e in big.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        asked = [(e["params"]["offset"], "filter" in e["params"]) for e in big.requests]
        assert (0, True) in asked
        keys = [r["ext_id"] for page in [*taken, *pages] for r in page.records]
    assert keys == sorted(r["ext_id"] for r in answered(big))
    assert hook.session.stats.calls == paging.page_count(len(keys), 10_000)
