"""The pages of one ``get.*`` list query, planned once for both hooks: which calls, in what order, how each answer
is checked, and how a keyset continues the query past the offset cap.

Sans-IO: a :class:`PagePlan` makes the flows of its calls and checks their answers; the hooks only drive them —
:class:`~uis_provider.hooks.uis.UISHook` fetching pages ahead on worker threads,
:class:`~uis_provider.hooks.uis_async.UISAsyncHook` one page at a time with :meth:`PagePlan.next_page`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from uis_provider.exceptions import UISConfigurationError, UISDataChangedError, UISPagingLimitError, UISRateLimitError
from uis_provider.protocol import paging
from uis_provider.protocol.jsonrpc import RecordsDecoder, decoded_records, result_records
from uis_provider.protocol.keyset import Keyset
from uis_provider.protocol.limits import method_weight
from uis_provider.protocol.session import CallFlow, Effect, Reply, UISSession


@dataclass(frozen=True)
class Page:
    """One page of a list method: its records, the offset it started at and the query's ``total_items``.

    ``records`` is a list of dicts, or the typed records ``paginate``'s ``decode_records`` made (read as dicts).
    """

    records: Sequence[dict[str, Any]]
    offset: int
    total_items: int


@dataclass(frozen=True, eq=False)
class PlannedPage:
    """One page still to fetch: its query's parameters, offset and the ``total_items`` the query must answer."""

    params: dict[str, Any]
    offset: int
    total: int
    #: The last page of a query that a keyset continues past the offset cap.
    continued: bool


class PagePlan:
    """Every page of one list query, in the order they are handed out, and the checks each answer must pass.

    The first call (offset 0) tells ``total_items``; the query's other pages are planned from it, up to what offsets
    reach (110 000 rows with pages of 10 000). Past that a ``keyset`` continues: the last page the offsets reach
    plans the next query (the rows after its last key, whose ``total_items`` must be the rows left); without one the
    first page fails with :class:`UISPagingLimitError`. A later page whose ``total_items`` moved fails with
    :class:`UISDataChangedError`, a page that does not hold what ``total_items`` and ``limit`` promise with
    :class:`UISError`.

    :param method: the ``get.*`` list method.
    :param params: its own parameters (``limit`` and ``offset`` are the plan's).
    :param page_size: records a call (1 to 10 000, checked by the caller).
    :param keyset: the unique key ``params["sort"]`` orders by, to continue past the offset cap.
    :param decode: decodes each page's still-encoded ``data`` into typed records (None: dicts).
    """

    def __init__(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        page_size: int,
        keyset: Keyset | None = None,
        decode: RecordsDecoder | None = None,
    ) -> None:
        self.method, self.page_size, self.keyset, self.decode = method, page_size, keyset, decode
        self.base = dict(params or {})
        #: The query's ``total_items``, once the first page has answered it.
        self.total: int | None = None
        #: The pages handed to the caller so far.
        self.handed_out = 0
        #: Every page planned and not yet handed out, in order.
        self.planned: deque[PlannedPage] = deque()

    @property
    def has_pages_left(self) -> bool:
        """True until every page is handed out (and before the first page is asked for)."""
        return self.total is None or bool(self.planned)

    def first_call(self, session: UISSession) -> CallFlow:
        """The flow of the call at offset 0, its records decoded within the call (``decode`` too), so that an answer
        no decoder takes is retried like any that is not valid JSON."""
        params = {**self.base, "limit": self.page_size, "offset": 0}
        if self.decode:
            return session.call(self.method, params, decode_records=self.decode)
        return session.call(self.method, params)

    def first_page(self, result: dict[str, Any]) -> Page:
        """The page of the first call's ``result``, checked; plans the query's other pages from its ``total_items``.

        :class:`UISPagingLimitError` when offsets cannot reach every row and no keyset continues past them.
        """
        total = paging.total_items(result, self.method)
        if self.keyset is None and not paging.is_pageable(total, self.page_size):
            del result  # the probe's rows are discarded: the error's traceback must not keep them alive
            raise UISPagingLimitError(
                f"the query holds {total} rows, more than the {paging.reachable_rows(self.page_size)} that offset "
                "paging reaches; split its date window",
                method=self.method,
                params={"total_items": total, "page_size": self.page_size},
            )
        records = result["data"] if self.decode else result_records(result)
        del result
        self.total = total
        self._plan_query(self.base, total, after_first=True)
        return self._complete(Page(records, 0, total))

    def call(self, session: UISSession, slot: PlannedPage) -> CallFlow:
        """The flow of the call of a planned page; its ``data`` is left encoded until :meth:`page` reads it."""
        params = {**slot.params, "limit": self.page_size, "offset": slot.offset}
        return session.call(self.method, params, defer_data=True)

    def page(self, slot: PlannedPage, result: dict[str, Any]) -> Page:
        """The page of a planned call's ``result``, decoded and checked; the data moved under the query when its
        ``total_items`` is not the one expected (the first page's, or for a keyset continuation the rows left)."""
        now_total = paging.total_items(result, self.method)
        if now_total != slot.total:
            raise UISDataChangedError(
                f"total_items changed from {slot.total} to {now_total} while paging (expected from the pages "
                "before); the data moved under the query, read the window again",
                method=self.method,
            )
        return self._complete(Page(decoded_records(result, self.decode), slot.offset, slot.total))

    def continue_after(self, slot: PlannedPage, records: Sequence[dict[str, Any]]) -> list[PlannedPage]:
        """Plan the query of the rows after ``records``, the last of the continued page ``slot``; returns its pages
        (none without a keyset)."""
        if self.keyset is None:
            return []
        last = self.keyset.last_value(records, self.method)
        after = {**self.base, "filter": self.keyset.after(self.base.get("filter"), last)}
        return self._plan_query(after, slot.total - paging.reachable_rows(self.page_size))

    def next_page(self, session: UISSession) -> Generator[Effect, Reply | None, Page]:
        """The flow of the next page in order, fetched and checked (what a shell that fetches none ahead drives)."""
        if self.total is None:
            return self.first_page((yield from self.first_call(session)))
        slot = self.planned.popleft()
        page = self.page(slot, (yield from self.call(session, slot)))
        if slot.continued:
            self.continue_after(slot, page.records)
        return page

    def handed(self, page: Page) -> Page:
        """Count ``page`` as handed to the caller, and return it."""
        self.handed_out += 1
        return page

    @contextlib.contextmanager
    def day_budget_errors(self) -> Iterator[None]:
        """Around the paging: a refusal of the daily point budget says how many points the pages not yet handed out
        still needed (at least one page's before ``total_items`` is known)."""
        try:
            yield
        except UISRateLimitError as exc:
            if exc.limit_type != "day":
                raise
            total = self.total
            left = paging.page_count(total, self.page_size) - self.handed_out if total is not None else 1
            what = f"{left} more page(s) of {self.method}" + ("" if total is not None else " at least")
            raise exc.needing(max(1, left) * method_weight(self.method), what) from None

    def _plan_query(self, params: dict[str, Any], total: int, *, after_first: bool = False) -> list[PlannedPage]:
        """Plan the pages of one query holding ``total`` rows, up to what its offsets reach (its first page too,
        unless ``after_first``); returns them."""
        reach = min(total, paging.reachable_rows(self.page_size))
        last = max(0, paging.page_count(reach, self.page_size) - 1) * self.page_size
        continued = self.keyset is not None and total > reach
        first = self.page_size if after_first else 0
        slots = [
            PlannedPage(params, offset, total, continued and offset == last)
            for offset in range(first, last + 1, self.page_size)
        ]
        self.planned.extend(slots)
        return slots

    def _complete(self, page: Page) -> Page:
        """``page`` when it holds exactly the records ``total_items`` promises at its offset; else the answer is
        broken (a short page would otherwise lose records silently: a null ``data``, or a server capping ``limit``)."""
        paging.check_page_length(len(page.records), page.offset, page.total_items, self.page_size, self.method)
        return page


def validate_prefetch_pages(value: Any) -> int:
    """``value`` as a page count to fetch ahead, or a :class:`UISConfigurationError` naming ``prefetch_pages``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UISConfigurationError(f"prefetch_pages must be a whole number >= 0 (0 = sequential), got {value!r}")
    return value
