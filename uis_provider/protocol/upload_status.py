"""Which uploads a sensor watches and whether they are finished: sans-IO, shared by the sensor and its trigger.

:func:`poke_flow` is a protocol flow (like ``UISSession.call``) that the sync transport runs for a poke and the async
transport runs in the trigger, so the selection, the one-call probe and the summary exist once.

The probe asks for uploads in a pending status (plus ``error`` when errors fail the task) with ``limit=1``: its
``total_items`` is the count and its first row tells whether that upload lies inside the window. It requests up to the
window's end second, a superset of ``[start, end)`` under either reading of ``date_till``; a first row at the end
second (possible only when the API reads ``date_till`` inclusively) is resolved by the paging pass of the summary,
which drops records at or after the end. So the decision is exact, and a not-done poke costs one call unless its
first row falls on the end second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from uis_provider.exceptions import UISConfigurationError, UISDataChangedError
from uis_provider.protocol import paging
from uis_provider.protocol.catalog import column_values
from uis_provider.protocol.filters import MAX_FILTER_DEPTH, combine_filters, filter_depth, validate_filter
from uis_provider.protocol.jsonrpc import result_records
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.session import Effect, Reply, UISSession
from uis_provider.protocol.windows import Window, split_part

METHOD = UPLOADED_CALLS.name
#: Statuses an upload can have, from the catalog (the English page adds ``not_processed``).
STATUSES = column_values("get.uploaded_calls", "status")
DEFAULT_PENDING_STATUSES = ("new", "in_process")
#: Statuses that end processing and so can never be waited for.
FINAL_STATUSES = frozenset({"processed", "error"})
#: The columns the probe and the summary read: the least the decision needs.
PROBE_FIELDS = ["status", "error_code", "upload_time"]
#: A total order for paging that does not move when statuses change (an ext_id may be uploaded again).
SCAN_SORT = [{"field": "ext_id", "order": "asc"}, {"field": "ext_request_id", "order": "asc"}]
#: How often the summary pass starts over when uploads keep arriving in the window while it pages.
SCAN_ATTEMPTS = 3


def validate_pending_statuses(statuses: Any) -> tuple[str, ...]:
    """Check ``pending_statuses`` is a non-empty list of known, non-final statuses; return it as a tuple."""
    if isinstance(statuses, str) or not isinstance(statuses, Iterable):
        raise UISConfigurationError(
            f"pending_statuses must be a list of statuses such as ['new', 'in_process'], got {statuses!r}"
        )
    names = tuple(statuses)
    if not names:
        raise UISConfigurationError("pending_statuses is empty; the sensor would have nothing to wait for")
    for name in names:
        if name not in STATUSES:
            raise UISConfigurationError(f"pending_statuses holds {name!r}, not an upload status; known: {STATUSES}")
        if name in FINAL_STATUSES:
            raise UISConfigurationError(
                f"pending_statuses holds {name!r}, a final status: uploads never leave it, so the sensor could "
                "never finish (use fail_on_error to react to 'error')"
            )
    return tuple(dict.fromkeys(names))


def selection_filter(
    user_filter: Any = None, *, ext_request_id: Any = None, ext_ids: Any = None
) -> dict[str, Any] | None:
    """The ``filter`` that selects the watched uploads: the user's filter AND the upload request AND the ext_ids."""
    node = validate_filter(user_filter, method=UPLOADED_CALLS)
    for condition in (request_id_condition(ext_request_id), ext_ids_condition(ext_ids)):
        node = combine_filters(node, condition)
    return node


def request_id_condition(ext_request_id: Any) -> dict[str, Any] | None:
    """The condition on ``ext_request_id`` (one request id or a list of them); ``None`` when none is given."""
    if isinstance(ext_request_id, (list, tuple)):
        ids = list(ext_request_id)
        if not all(_is_request_id(i) and str(i) for i in ids):
            raise UISConfigurationError(
                f"ext_request_id must be one upload.calls request id or a list of them (strings), got {ids!r}"
            )
        if not ids:
            return None
        return {"field": "ext_request_id", "operator": "in", "value": list(dict.fromkeys(str(i) for i in ids))}
    if ext_request_id in (None, ""):
        return None
    if not _is_request_id(ext_request_id):
        raise UISConfigurationError(
            f"ext_request_id must be the id of one upload.calls request (a string) or a list of them, "
            f"got {ext_request_id!r}"
        )
    return {"field": "ext_request_id", "operator": "=", "value": str(ext_request_id)}


def _is_request_id(value: Any) -> bool:
    """A JSON-RPC request id as the API echoes it: a string or an int, never a bool."""
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def ext_ids_condition(ext_ids: Any) -> dict[str, Any] | None:
    """The condition ``ext_id in ext_ids`` (a non-empty list of non-empty strings); ``None`` when not given."""
    if ext_ids is None:
        return None
    if isinstance(ext_ids, str) or not isinstance(ext_ids, Sequence):
        raise UISConfigurationError(
            "ext_ids must be a list of ext_id strings (to template one, set render_template_as_native_obj=True "
            f"on the DAG); got {type(ext_ids).__name__}"
        )
    values = list(ext_ids)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise UISConfigurationError(f"ext_ids must be a non-empty list of non-empty strings, got {values!r}")
    return {"field": "ext_id", "operator": "in", "value": list(dict.fromkeys(values))}


def watched_statuses(pending_statuses: Sequence[str], fail_on_error: bool) -> list[str]:
    """The statuses the probe counts: the pending ones, and ``error`` when errors fail the task."""
    return [*pending_statuses, *(["error"] if fail_on_error else [])]


def probe_filter(node: dict[str, Any] | None, statuses: Sequence[str]) -> dict[str, Any]:
    """The selection's filter AND ``status in statuses``, refused when that nests deeper than the API allows."""
    condition = {"field": "status", "operator": "in", "value": list(statuses)}
    for tree in (node, combine_filters(node, condition)):
        if tree is not None and filter_depth(tree) > MAX_FILTER_DEPTH:
            raise UISConfigurationError(
                f"the filter nests {filter_depth(tree)} levels of groups once the sensor adds its own conditions "
                f"(ext_request_id, ext_ids, status); the API allows {MAX_FILTER_DEPTH}. Make the filter an 'and' "
                "group or a single condition"
            )
    return combine_filters(node, condition) or condition


#: The keyword arguments that carry a selection across a deferral: what :meth:`UploadSelection.to_kwargs` returns,
#: :meth:`UploadSelection.from_kwargs` takes and the trigger serializes.
SELECTION_FIELDS = (
    "date_from",
    "date_till",
    "timezone",
    "filter",
    "pending_statuses",
    "fail_on_error",
    "user_id",
    "page_size",
    "summarize",
)


@dataclass(frozen=True)
class UploadSelection:
    """The uploads a sensor watches: a window on ``upload_time``, a filter, the statuses that mean "not yet"."""

    window: Window
    filter: dict[str, Any] | None = None
    pending_statuses: tuple[str, ...] = DEFAULT_PENDING_STATUSES
    fail_on_error: bool = False
    user_id: int | None = None
    page_size: int = paging.DEFAULT_PAGE_SIZE
    #: False when only "is anything pending" matters (an extract waiting to land): a probe counting none ends the
    #: wait without the summary pass, so every check costs one call.
    summarize: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "pending_statuses", validate_pending_statuses(self.pending_statuses))
        paging.validate_page_size(self.page_size)
        self.probe_filter()

    @property
    def watched_statuses(self) -> list[str]:
        """The statuses the probe counts: the pending ones, and ``error`` when errors fail the task."""
        return watched_statuses(self.pending_statuses, self.fail_on_error)

    def probe_filter(self) -> dict[str, Any]:
        """The selection's filter AND ``status in watched_statuses``."""
        return probe_filter(self.filter, self.watched_statuses)

    def _base_params(self, window: Window) -> dict[str, Any]:
        params: dict[str, Any] = window.api_params()
        if self.user_id is not None:
            params["user_id"] = self.user_id
        return params

    def probe_params(self) -> dict[str, Any]:
        """Parameters of the one call per poke: count the watched uploads, show the first (errors sort first)."""
        return {
            **self._base_params(self.window),
            "filter": self.probe_filter(),
            "sort": [{"field": "status", "order": "asc"}],
            "fields": PROBE_FIELDS,
            "limit": 1,
            "offset": 0,
        }

    def scan_params(self, window: Window, offset: int) -> dict[str, Any]:
        """Parameters of one page of the summary pass over ``window`` (a part of the selection's window)."""
        params = {**self._base_params(window), "sort": SCAN_SORT, "fields": PROBE_FIELDS}
        if self.filter:
            params["filter"] = self.filter
        params.update(limit=self.page_size, offset=offset)
        return params

    def to_kwargs(self) -> dict[str, Any]:
        """JSON-able keyword arguments (no secrets) that :meth:`from_kwargs` turns back into this selection."""
        return {
            "date_from": self.window.start.isoformat(),
            "date_till": self.window.end.isoformat(),
            "timezone": self.window.timezone,
            "filter": self.filter,
            "pending_statuses": list(self.pending_statuses),
            "fail_on_error": self.fail_on_error,
            "user_id": self.user_id,
            "page_size": self.page_size,
            "summarize": self.summarize,
        }

    @classmethod
    def from_kwargs(
        cls,
        *,
        date_from: str,
        date_till: str,
        timezone: str,
        filter: dict[str, Any] | None = None,
        pending_statuses: Sequence[str] = DEFAULT_PENDING_STATUSES,
        fail_on_error: bool = False,
        user_id: int | None = None,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        summarize: bool = True,
    ) -> UploadSelection:
        """Rebuild a selection from :meth:`to_kwargs` output."""
        return cls(
            window=Window.build(date_from, date_till, timezone),
            filter=validate_filter(filter, method=UPLOADED_CALLS),
            pending_statuses=tuple(pending_statuses),
            fail_on_error=fail_on_error,
            user_id=user_id,
            page_size=page_size,
            summarize=summarize,
        )

    def describe(self) -> str:
        """A short human description for logs: the window and the filter."""
        text = f"uploads in [{self.window.start.isoformat()}, {self.window.end.isoformat()})"
        return text + (f" matching {self.filter}" if self.filter else "")


@dataclass
class UploadCounts:
    """Counts of the selected uploads per status and per ``error_code``."""

    statuses: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)

    def add(self, records: Iterable[dict[str, Any]], window: Window) -> None:
        """Count the records whose ``upload_time`` lies in ``window`` (the end second is dropped)."""
        for record in records:
            if not window.contains(record.get("upload_time")):
                continue
            self.statuses[str(record.get("status"))] += 1
            code = record.get("error_code")
            if code:
                self.error_codes[str(code)] += 1

    def merge(self, other: UploadCounts) -> None:
        """Add another part's counts to these."""
        self.statuses.update(other.statuses)
        self.error_codes.update(other.error_codes)

    @property
    def total(self) -> int:
        """How many uploads were counted."""
        return sum(self.statuses.values())


def scan_flow(
    session: UISSession, selection: UploadSelection, window: Window | None = None
) -> Generator[Effect, Reply | None, UploadCounts]:
    """Count every selected upload of ``window`` by status and error code, paging with the fewest calls.

    A part holding more rows than offset paging reaches is cut into equal-time pieces sized from its row count
    (:func:`~uis_provider.protocol.windows.split_part`, as extracts do); ``total_items`` moving between pages
    raises :class:`UISDataChangedError`.
    """
    part = window or selection.window
    size = selection.page_size
    counts = UploadCounts()
    first = yield from session.call(METHOD, selection.scan_params(part, 0))
    total = paging.total_items(first, METHOD)
    if not paging.is_pageable(total, size):
        for piece in split_part(part, total, paging.reachable_rows(size)):
            counts.merge((yield from scan_flow(session, selection, piece)))
        return counts
    counts.add(_checked_records(first, 0, total, size), part)
    for offset in paging.remaining_offsets(total, size):
        page = yield from session.call(METHOD, selection.scan_params(part, offset))
        moved = paging.total_items(page, METHOD)
        if moved != total:
            raise UISDataChangedError(
                f"total_items changed from {total} to {moved} while counting uploads; uploads are still arriving",
                method=METHOD,
            )
        counts.add(_checked_records(page, offset, total, size), part)
    return counts


def _checked_records(result: dict[str, Any], offset: int, total: int, size: int) -> list[dict[str, Any]]:
    """The page's records, when they are as many as ``total_items`` promises (a short page would miscount)."""
    records = result_records(result)
    paging.check_page_length(len(records), offset, total, size, METHOD)
    return records


class UploadSummary(TypedDict):
    """What a finished wait returns (the sensor's XCom value): the window, the total, counts per status and code."""

    date_from: str
    date_till: str
    total: int
    statuses: dict[str, int]
    error_codes: dict[str, int]


def build_summary(selection: UploadSelection, counts: UploadCounts) -> UploadSummary:
    """The done summary pushed to XCom: the window, the total, counts per status and per ``error_code``."""
    return counts_summary(selection.window.start.isoformat(), selection.window.end.isoformat(), counts)


def counts_summary(date_from: str, date_till: str, counts: UploadCounts) -> UploadSummary:
    """:func:`build_summary` for window bounds given as ISO text (also when no account time zone is known)."""
    return {
        "date_from": date_from,
        "date_till": date_till,
        "total": counts.total,
        "statuses": dict(sorted(counts.statuses.items())),
        "error_codes": dict(sorted(counts.error_codes.items())),
    }


def failure_message(summary: UploadSummary) -> str:
    """Why ``fail_on_error`` fails the task: how many uploads ended in ``error`` and with which codes."""
    errors = summary["statuses"].get("error", 0)
    codes = ", ".join(f"{code} x{count}" for code, count in summary["error_codes"].items()) or "no error_code given"
    return (
        f"{errors} of {summary['total']} selected uploads ended with status 'error' ({codes}) in "
        f"[{summary['date_from']}, {summary['date_till']}); fail_on_error=True"
    )


@dataclass(frozen=True)
class UploadsPending:
    """Not done: ``count`` selected uploads still have a pending status (``message`` says which, for the log)."""

    count: int
    message: str


@dataclass(frozen=True)
class UploadsDone:
    """Done: no selected upload is pending; ``summary`` counts them per status and error code."""

    summary: UploadSummary


@dataclass(frozen=True)
class NothingPending:
    """Done without a summary: the probe counted no pending upload of a selection that does not summarize."""


@dataclass(frozen=True)
class UploadsFailed:
    """Failed: a selected upload ended in ``error`` and the selection has ``fail_on_error``."""

    summary: UploadSummary
    message: str


#: What one look at the selected uploads finds.
Outcome = UploadsPending | UploadsDone | UploadsFailed | NothingPending
OutcomeFlow = Generator[Effect, "Reply | None", Outcome]


def outcome_of(selection: UploadSelection, counts: UploadCounts) -> Outcome:
    """Decide from exact counts: failed on any ``error`` (with fail_on_error), else pending or done."""
    summary = build_summary(selection, counts)
    if selection.fail_on_error and counts.statuses["error"]:
        return UploadsFailed(summary, failure_message(summary))
    waiting = sum(counts.statuses[s] for s in selection.pending_statuses)
    if waiting:
        return UploadsPending(waiting, f"{waiting} of {counts.total} {selection.describe()} are still pending")
    return UploadsDone(summary)


def poke_flow(session: UISSession, selection: UploadSelection) -> OutcomeFlow:
    """One poke: the probe call, plus the summary pass when the uploads may be finished (or have failed).

    Returns :class:`UploadsPending`, :class:`UploadsDone` or :class:`UploadsFailed`; a selection with
    ``summarize=False`` whose probe counts nothing is done at once: :class:`NothingPending`.
    """
    probe = yield from session.call(METHOD, selection.probe_params())
    count = paging.total_items(probe, METHOD)
    if not count and not selection.summarize:
        return NothingPending()
    rows = result_records(probe)
    first = rows[0] if count and rows else {}
    if selection.window.contains(first.get("upload_time")) and first.get("status") != "error":
        return UploadsPending(count, f"{count} {selection.describe()} have a status in {selection.watched_statuses}")
    attempt = 1
    while True:
        try:
            counts = yield from scan_flow(session, selection)
        except UISDataChangedError as exc:
            if attempt >= SCAN_ATTEMPTS:
                return UploadsPending(count, f"{exc.message}; will look again")
            attempt += 1
            continue
        return outcome_of(selection, counts)
