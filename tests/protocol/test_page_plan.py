"""The page plan both hooks share, driven in memory: the pages of a query by ``total_items``, keyset continuation
past the offset cap, and the checks every answer passes before a page is handed out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.protocol.flows import Clock, drive, request_of, session
from uis_provider.exceptions import UISDataChangedError, UISError, UISPagingLimitError, UISRateLimitError
from uis_provider.protocol import paging
from uis_provider.protocol.keyset import Keyset
from uis_provider.protocol.page_plan import Page, PagePlan, validate_prefetch_pages
from uis_provider.protocol.session import Reply, Send

METHOD = "get.uploaded_calls"


class Table:
    """A list method in memory: ``rows`` sorted by ``ext_id``, filtered by a keyset bound, paged by offset."""

    def __init__(self, count: int) -> None:
        self.rows = [{"ext_id": key} for key in range(count)]
        self.asked: list[dict[str, Any]] = []
        #: Records dropped from the next answer (a server capping ``limit``), and rows added before it.
        self.drop = self.add = 0

    def __call__(self, send: Send) -> Reply:
        params = request_of(send)["params"]
        self.asked.append(params)
        self.rows += [{"ext_id": len(self.rows) + key} for key in range(self.add)]
        bound = params.get("filter", {}).get("value", -1)
        rows = [row for row in self.rows if row["ext_id"] > bound]
        page = rows[params["offset"] : params["offset"] + params["limit"]]
        page, self.drop, self.add = page[: len(page) - self.drop], 0, 0
        answer = {"data": page, "metadata": {"total_items": len(rows)}}
        return Reply(
            status=200, body=json.dumps({"jsonrpc": "2.0", "id": request_of(send)["id"], "result": answer}).encode()
        )


def pages_of(plan: PagePlan, table: Table, clock: Clock | None = None) -> list[Page]:
    """Every page ``plan`` hands out, each fetched in memory from ``table`` with :meth:`PagePlan.next_page`."""
    clock = clock or Clock()
    api = session(clock)
    pages = []
    while plan.has_pages_left:
        page, _ = drive(plan.next_page(api), clock, [table])
        pages.append(plan.handed(page))
    return pages


def test_a_query_is_paged_by_total_items_with_the_fewest_calls() -> None:
    table = Table(25)
    pages = pages_of(PagePlan(METHOD, {"sort": "mine"}, page_size=10), table)
    assert [(page.offset, page.total_items, len(page.records)) for page in pages] == [
        (0, 25, 10),
        (10, 25, 10),
        (20, 25, 5),
    ]
    assert [row for page in pages for row in page.records] == table.rows
    assert [(p["offset"], p["limit"], p["sort"]) for p in table.asked] == [
        (0, 10, "mine"),
        (10, 10, "mine"),
        (20, 10, "mine"),
    ]
    empty = pages_of(PagePlan(METHOD, None, page_size=10), Table(0))
    assert [(page.offset, page.records) for page in empty] == [(0, [])]


def test_a_keyset_continues_past_the_offset_cap_with_only_full_pages() -> None:
    reach = paging.reachable_rows(10_000)
    table = Table(reach + 15_000)
    plan = PagePlan(METHOD, {}, page_size=10_000, keyset=Keyset("ext_id"))
    pages = pages_of(plan, table)
    assert [row["ext_id"] for page in pages for row in page.records] == list(range(reach + 15_000))
    assert len(table.asked) == paging.page_count(reach + 15_000, 10_000) == 13
    continued = [(p["filter"]["value"], p["offset"]) for p in table.asked if "filter" in p]
    assert continued == [(reach - 1, 0), (reach - 1, 10_000)]
    assert [page.total_items for page in pages[-2:]] == [15_000, 15_000]
    assert plan.handed_out == 13 and not plan.has_pages_left


def test_without_a_keyset_a_query_past_the_cap_fails_after_its_first_call() -> None:
    table = Table(paging.reachable_rows(10_000) + 1)
    with pytest.raises(UISPagingLimitError, match="more than the 110000 that offset paging reaches"):
        pages_of(PagePlan(METHOD, {}, page_size=10_000), table)
    assert len(table.asked) == 1


def test_a_short_page_and_rows_added_while_paging_fail_before_the_page_is_handed_out() -> None:
    table, clock = Table(25), Clock()
    plan = PagePlan(METHOD, {}, page_size=10)
    api = session(clock)
    drive(plan.next_page(api), clock, [table])
    table.drop = 1
    with pytest.raises(UISError, match="the page at offset 10 holds 9 records, but total_items=25 and limit=10"):
        drive(plan.next_page(api), clock, [table])
    plan = PagePlan(METHOD, {}, page_size=10)
    drive(plan.next_page(api), clock, [table])
    table.add = 2
    with pytest.raises(UISDataChangedError, match="total_items changed from 25 to 27 while paging"):
        drive(plan.next_page(api), clock, [table])


def test_a_day_budget_refusal_says_what_the_pages_not_yet_handed_out_needed() -> None:
    clock, table = Clock(), Table(95)
    plan = PagePlan(METHOD, {}, page_size=10)
    api = session(clock)
    plan.handed(drive(plan.next_page(api), clock, [table])[0])
    plan.handed(drive(plan.next_page(api), clock, [table])[0])
    with pytest.raises(UISRateLimitError) as refused, plan.day_budget_errors():
        drive(plan.next_page(api), clock, ["day"])
    assert (refused.value.params["points_needed"], refused.value.params["points_for"]) == (
        8,
        "8 more page(s) of get.uploaded_calls",
    )
    before_any = PagePlan(METHOD, {}, page_size=10)
    with pytest.raises(UISRateLimitError) as refused, before_any.day_budget_errors():
        drive(before_any.next_page(session(clock)), clock, ["day"])
    assert refused.value.params["points_for"] == "1 more page(s) of get.uploaded_calls at least"
    with pytest.raises(UISRateLimitError) as minute, plan.day_budget_errors():
        raise UISRateLimitError("per minute", params={"limit_type": "minute"}, method=METHOD)
    assert "points_needed" not in minute.value.params


def test_prefetch_pages_is_a_whole_number_from_zero() -> None:
    assert validate_prefetch_pages(0) == 0 and validate_prefetch_pages(7) == 7
    for bad in (-1, 1.5, True, "2", None):
        with pytest.raises(UISError, match="prefetch_pages must be a whole number >= 0"):
            validate_prefetch_pages(bad)
