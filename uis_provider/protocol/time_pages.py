"""Page a window by its time field, for methods whose reference allows no sort on a unique key.

Offset pages are exact only under a total order, and most report methods document no sortable unique column
(``id`` is filterable, not sortable). Sending such a sort is ``sort_prohibited``; sorting by a column with ties
lets rows move between pages. So these methods are read without offsets, every call a whole page of its own:

- :class:`SortedByTime` (the time field is sortable, e.g. ``start_time`` of the calls report): each call asks
  ``[cursor, end]`` sorted by time with ``offset`` 0. Every record before the page's last time is in that page
  (it is sorted), so those are kept and the next call starts at the last time; the records of that last second
  come again. N records take ``ceil(N / (limit - ties))`` calls, the fewest but for the repeated last second.
  ``total_items`` of each call must be the previous one's less what was kept, else the data moved.
- :class:`OnePagePerPart` (the time field cannot be sorted, or the user sorts by another column): each part of
  the window is asked whole; when ``total_items`` says it does not fit one page, the answer is dropped and the part
  is split by time until every piece fits (a part of N records above the page size costs one wasted call and
  about ``N / (0.9 * limit)`` pieces, more where traffic is uneven).

Records of one answer whose sort keys tie come back in no documented order; both plans order them by the
method's unique field, so the same window gives the same bytes on every run. Sans-IO: the engine asks
:meth:`SortedByTime.next_params` (or :meth:`OnePagePerPart.next_params`), makes the call and hands the answer
to ``take``.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from uis_provider.exceptions import UISDataChangedError, UISError, UISPagingLimitError
from uis_provider.protocol import paging
from uis_provider.protocol.dates import API_TIME
from uis_provider.protocol.jsonrpc import result_records
from uis_provider.protocol.windows import Window, split_part

Record = dict[str, Any]


def _rank(value: Any) -> tuple[int, Any]:
    """A sort key that orders numbers, then texts, then anything else, then missing values, without a TypeError."""
    if value is None:
        return (3, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


def order_ties(records: list[Record], keys: Sequence[str], unique: str | None) -> list[Record]:
    """``records`` with every run of equal ``keys`` values ordered by ``unique``; the runs keep their order."""
    if unique is None or len(records) < 2:
        return records
    ordered: list[Record] = []
    run: list[Record] = []
    run_key: tuple[Any, ...] | None = None
    for record in records:
        key = tuple(repr(record.get(name)) for name in keys)
        if key != run_key and run:
            ordered.extend(sorted(run, key=lambda r: _rank(r.get(unique))) if len(run) > 1 else run)
            run = []
        run_key = key
        run.append(record)
    ordered.extend(sorted(run, key=lambda r: _rank(r.get(unique))) if len(run) > 1 else run)
    return ordered


def _time_of(record: Record, field: str, method: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not API_TIME.fullmatch(value):
        raise UISError(
            f"a record has {field}={value!r}, not a 'YYYY-MM-DD hh:mm:ss' time, so the window cannot be paged by "
            "it; nothing was written",
            method=method,
        )
    return value


class WholePagePlan:
    """What both plans share: the query's fixed parameters, calls of one whole page at ``offset`` 0, the calls counted
    and the first answer's ``total_items`` kept (for the progress lines and the cost figures).

    :param method: the method's name (for messages).
    :param base: the query's parameters without window and paging.
    :param time_field: the field the window selects on.
    :param unique_field: the unique column that orders ties.
    :param page_size: records per call.
    """

    def __init__(
        self, method: str, base: Mapping[str, Any], time_field: str, unique_field: str | None, page_size: int
    ) -> None:
        self.method = method
        self._base = dict(base)
        self._time = time_field
        self._unique = unique_field
        self._page_size = page_size
        #: Calls planned so far.
        self.calls = 0
        #: ``total_items`` of the first answer: the records the part holds.
        self.first_total: int | None = None

    def _call(self, window: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters of one more call: the fixed ones, then ``window``'s, then one whole page."""
        self.calls += 1
        return {**self._base, **window, "limit": self._page_size, "offset": 0}

    def _total(self, result: dict[str, Any]) -> int:
        """The answer's ``total_items``, kept as :attr:`first_total` when it is the first."""
        total = paging.total_items(result, self.method)
        if self.first_total is None:
            self.first_total = total
        return total


class SortedByTime(WholePagePlan):
    """The calls that read one part sorted by its time field, each continuing at the previous page's last time.

    :param method: the method's name (for messages).
    :param base: the query's parameters without window, paging or sort (fields, filter, user_id, ...).
    :param part: the window part to read.
    :param time_field: the sortable field the window selects on.
    :param unique_field: the unique column that orders records of the same second.
    :param page_size: records per call; one second holding more cannot be read
        (:class:`~uis_provider.exceptions.UISPagingLimitError`).
    """

    def __init__(
        self,
        method: str,
        base: Mapping[str, Any],
        part: Window,
        time_field: str,
        unique_field: str | None,
        page_size: int,
    ) -> None:
        super().__init__(method, base, time_field, unique_field, page_size)
        self._part = part
        self._cursor = part.api_from
        self._expected: int | None = None
        self._done = False

    def next_params(self) -> dict[str, Any] | None:
        """The parameters of the next call, or ``None`` when the part is read."""
        if self._done:
            return None
        sort = [{"field": self._time, "order": "asc"}]
        return self._call({"date_from": self._cursor, "date_till": self._part.api_till, "sort": sort})

    def take(self, result: dict[str, Any]) -> list[Record]:
        """The records of an answer that belong to this read, in time (then unique-field) order."""
        total = self._total(result)
        records = result_records(result)
        if self._expected is not None and total != self._expected:
            raise UISDataChangedError(
                f"total_items from {self._cursor} is {total}, but the page before left {self._expected} rows from "
                "there; the data moved under the query, read the window again",
                method=self.method,
            )
        paging.check_page_length(len(records), 0, total, self._page_size, self.method)
        times = [_time_of(record, self._time, self.method) for record in records]
        if any(later < earlier for earlier, later in itertools.pairwise(times)):
            raise UISError(
                f"a page asked sorted by {self._time} came back out of order, so records before its last time "
                "cannot be known to be complete; nothing was written",
                method=self.method,
            )
        if total <= self._page_size or times[-1] >= self._part.api_till:
            # everything left is in this page (or only what lies at or after the part's end is not)
            self._done = True
            return order_ties(records, (self._time,), self._unique)
        last = times[-1]
        kept = [record for record, when in zip(records, times, strict=True) if when < last]
        if not kept:
            raise UISPagingLimitError(
                f"more than {self._page_size} records have {self._time} = {last}; a page cannot get past that "
                "second. Raise page_size (up to 10 000) or narrow the query with a filter",
                method=self.method,
            )
        self._expected = total - len(kept)
        self._cursor = last
        return order_ties(kept, (self._time,), self._unique)


class OnePagePerPart(WholePagePlan):
    """The calls that read one part whole, splitting it by time until every piece fits one page.

    :param method: the method's name (for messages).
    :param base: the query's parameters without window and paging (fields, filter, sort, user_id, ...).
    :param part: the window part to read.
    :param order_keys: the fields the answer is sorted by (the user's sort); empty when none is sent.
    :param time_field: the field the window selects on, which orders an unsorted answer.
    :param unique_field: the unique column that orders ties.
    :param page_size: records per call; a part holding more is split.
    """

    def __init__(
        self,
        method: str,
        base: Mapping[str, Any],
        part: Window,
        order_keys: Sequence[str],
        time_field: str,
        unique_field: str | None,
        page_size: int,
    ) -> None:
        super().__init__(method, base, time_field, unique_field, page_size)
        self._parts: deque[Window] = deque([part])
        self._end = part.api_till
        self._order_keys = tuple(order_keys)
        #: How many times a part was too big for one page and split (each cost one call whose rows were dropped).
        self.splits = 0
        #: The parts read, in order.
        self.parts: list[Window] = []

    @property
    def current(self) -> Window | None:
        """The part the next call reads."""
        return self._parts[0] if self._parts else None

    def next_params(self) -> dict[str, Any] | None:
        """The parameters of the next call, or ``None`` when every piece is read."""
        if not self._parts:
            return None
        return self._call(self._parts[0].api_params())

    def take(self, result: dict[str, Any]) -> list[Record]:
        """The part's records when it fit one page (ordered); ``[]`` when it was split instead."""
        part = self._parts.popleft()
        total = self._total(result)
        if total > self._page_size:
            self.splits += 1
            self._parts.extendleft(reversed(split_part(part, total, self._page_size)))
            return []
        records = result_records(result)
        paging.check_page_length(len(records), 0, total, self._page_size, self.method)
        self.parts.append(part)
        if part.api_till < self._end:
            # a piece is asked up to its end second, which may be inclusive: records at it belong to the next piece
            records = [r for r in records if _time_of(r, self._time, self.method) < part.api_till]
        if self._order_keys:
            return order_ties(records, self._order_keys, self._unique)
        unique = self._unique
        keyed = [
            (_time_of(record, self._time, self.method), _rank(record.get(unique) if unique else None), index)
            for index, record in enumerate(records)
        ]
        return [records[index] for *_key, index in sorted(keyed)]
