"""The extract engine: land one date window of a ``get.*`` report method, complete, in order and exactly once.

It plans the window's parts by the method's longest window, and reads each part in the way its reference allows:

- a method with a sortable unique key (``get.uploaded_calls`` by ``ext_id``): offset pages sorted by that key,
  fetched ahead by :meth:`UISHook.paginate`, continued past the 110 000 rows offsets reach by the key itself
  (keyset continuation); when no keyset can continue a part it is split by time instead, recursively;
- a method without one (most reports: ``id`` is not sortable): by its time field, every call a whole page
  (:mod:`uis_provider.protocol.time_pages`), so no record can be skipped or repeated between pages.

Records outside the half-open window are dropped and the rest stream into a record writer, so memory stays
bounded by the pages in flight. It uses the protocol core for windows, filters, paging and keysets and the
storage package for formats and atomic output; it holds no Airflow operator state, so a benchmark or a script can
call it directly with a hook.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uis_provider.exceptions import (
    UISConfigurationError,
    UISDataChangedError,
    UISError,
    UISPagingLimitError,
    configuration_errors,
)
from uis_provider.protocol import paging
from uis_provider.protocol.catalog import catalog
from uis_provider.protocol.filters import stable_sort, validate_fields, validate_filter, validate_sort
from uis_provider.protocol.keyset import keyset_for
from uis_provider.protocol.methods import ReportMethod, report_method, report_methods
from uis_provider.protocol.params import optional_mapping, optional_user_id, positive_int
from uis_provider.protocol.progress import ProgressMeter
from uis_provider.protocol.time_pages import OnePagePerPart, SortedByTime
from uis_provider.protocol.windows import API_TIME, Window, split_part
from uis_provider.storage.atomic import atomic_output, to_storage_path
from uis_provider.storage.digest import DigestWriter
from uis_provider.storage.formats import open_record_writer, validate_output_options
from uis_provider.storage.rows import Rows, RowType, row_type_for
from uis_provider.transport.collector import collector_paused

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from uis_provider.hooks.uis import Page, UISHook

DEFAULT_MAX_WINDOW_DAYS = 90
DEFAULT_MAX_ATTEMPTS = 3
#: Parameters the engine sets itself; ``extra_params`` may not carry them.
RESERVED_PARAMS = frozenset(
    {"access_token", "date_from", "date_till", "limit", "offset", "fields", "filter", "sort", "user_id"}
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportQuery:
    """A validated request for one report method: what to ask, how to page it and which columns to write.

    Build it with :meth:`build`, which checks every parameter before any API call is made.
    """

    method: ReportMethod
    fields: tuple[str, ...] | None = None
    filter: dict[str, Any] | None = None
    sort: tuple[dict[str, str], ...] = ()
    user_id: int | None = None
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    page_size: int = paging.DEFAULT_PAGE_SIZE
    max_window_days: int = DEFAULT_MAX_WINDOW_DAYS

    @classmethod
    def build(
        cls,
        method: str | ReportMethod,
        *,
        fields: Sequence[str] | None = None,
        filter: Any = None,
        sort: Any = None,
        user_id: Any = None,
        extra_params: Mapping[str, Any] | None = None,
        page_size: Any = paging.DEFAULT_PAGE_SIZE,
        max_window_days: Any = DEFAULT_MAX_WINDOW_DAYS,
    ) -> ReportQuery:
        """Validate the user's parameters (raising :class:`UISConfigurationError` naming the bad one)."""
        spec = resolve_method(method)
        checked_fields = validate_fields(fields, spec)
        if checked_fields is None and not spec.columns:
            raise UISConfigurationError(
                f"fields is not set and the provider does not know the default columns of {spec.name}; "
                "pass fields=[...] with the columns to extract"
            )
        checked_filter = validate_filter(filter, method=spec)
        checked_sort = stable_sort(validate_sort(sort, spec), spec)
        extras = validate_extra_params(extra_params, spec)
        return cls(
            method=spec,
            fields=tuple(checked_fields) if checked_fields is not None else None,
            filter=checked_filter,
            sort=tuple(checked_sort),
            user_id=optional_user_id(user_id),
            extra_params=extras,
            page_size=paging.validate_page_size(page_size),
            max_window_days=positive_int(max_window_days, "max_window_days", "days per request window"),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns written, in order: the user's ``fields``, else the method's default columns."""
        return self.fields if self.fields is not None else self.method.columns

    @property
    def request_fields(self) -> tuple[str, ...]:
        """The columns asked for: the written ones, plus the time field and the unique field when they lack them
        (records are placed in the window by the first and ordered by the second; neither is written then)."""
        extra = [self.method.time_field]
        if self.method.unique_field is not None:
            extra.append(self.method.unique_field)
        return (*self.columns, *(name for name in dict.fromkeys(extra) if name not in self.columns))

    @property
    def unwritten_fields(self) -> tuple[str, ...]:
        """The requested columns that are dropped before writing."""
        return self.request_fields[len(self.columns) :]

    @property
    def pages_by_time(self) -> bool:
        """True when the method has no sortable unique key: parts are read by time, a whole page per call."""
        return self.method.key_field is None

    @property
    def window_days(self) -> int:
        """Longest part sent in one request: the user's limit, capped by the method's own (90 days for reports)."""
        if self.method.max_window_days is None:
            return self.max_window_days
        return min(self.max_window_days, self.method.max_window_days)

    @property
    def reachable_rows(self) -> int:
        """Rows one query can page through at this page size."""
        return paging.reachable_rows(self.page_size)

    def request_params(self, part: Window) -> dict[str, Any]:
        """The method's parameters for one part (``limit``/``offset`` are added by the hook's paginator).

        ``fields`` is always sent (the written columns, plus the time field when they omit it), so every format
        holds the same columns whatever the API's defaults are.
        """
        params: dict[str, Any] = dict(self.extra_params)
        params.update(part.api_params())
        params["fields"] = list(self.request_fields)
        if self.filter is not None:
            params["filter"] = self.filter
        if self.sort:
            params["sort"] = [dict(item) for item in self.sort]
        if self.user_id is not None:
            params["user_id"] = self.user_id
        return params

    def time_plan(self, part: Window) -> SortedByTime | OnePagePerPart:
        """How a part of a method without a sortable unique key is read (see :mod:`~uis_provider.protocol.time_pages`):
        sorted by its time field when that may be sorted and the user sets no sort, else whole parts."""
        base = self.request_params(part)
        for name in ("date_from", "date_till", "sort"):
            base.pop(name, None)
        method = self.method
        if not self.sort and method.can_sort(method.time_field):
            return SortedByTime(method.name, base, part, method.time_field, method.unique_field, self.page_size)
        if self.sort:
            base["sort"] = [dict(item) for item in self.sort]
        keys = [item["field"] for item in self.sort]
        return OnePagePerPart(method.name, base, part, keys, method.time_field, method.unique_field, self.page_size)


def resolve_method(name: Any) -> ReportMethod:
    """The spec of a windowed ``get.*`` method given by name or as a :class:`ReportMethod`; anything else is refused.

    A method the catalog does not document needs a :class:`ReportMethod` of the user's (its time field, columns
    and whether it has a sortable unique key are not known here).
    """
    if isinstance(name, ReportMethod):
        return name
    known = ", ".join(report_methods())
    if not isinstance(name, str) or not name.startswith("get."):
        raise UISConfigurationError(
            f"method must name a get.* report method of the UIS Data API, one of: {known}; got {name!r}"
        )
    method = report_method(name)
    if method is not None:
        return method
    if name in catalog():
        raise UISConfigurationError(
            f"method={name!r} has no date window, so there is nothing to extract per window; read it with "
            f"UISHook.get_records({name!r}). Windowed methods: {known}"
        )
    raise UISConfigurationError(
        f"method={name!r} is not a method the provider knows (check the spelling); known report methods: {known}. "
        "For another documented get.* method pass a uis_provider.protocol.methods.ReportMethod naming its time "
        "field and columns"
    )


def validate_extra_params(extra_params: Any, method: ReportMethod) -> dict[str, Any]:
    """``extra_params`` as a dict of the method's own parameters; the engine's and unknown ones are refused."""
    extras = optional_mapping(extra_params, "extra_params")
    clash = sorted(RESERVED_PARAMS.intersection(extras))
    if clash:
        raise UISConfigurationError(
            f"extra_params may not set {clash}: the operator sets them itself; use the matching operator "
            "parameter instead (date_from/date_till, fields, filter, sort, user_id, page_size)"
        )
    if method.params is not None:
        unknown = sorted(set(extras) - method.params)
        if unknown:
            allowed = ", ".join(sorted(method.params)) or "none"
            raise UISConfigurationError(
                f"extra_params holds {unknown}, not parameters of {method.name} (the API answers "
                f"unexpected_parameters); its own parameters: {allowed}"
            )
    return extras


def plan_windows(window: Window, query: ReportQuery) -> list[Window]:
    """The window's consecutive parts of at most ``query.window_days`` days, before any row-count split."""
    return window.split_days(query.window_days)


def _total_from(error: UISPagingLimitError) -> int | None:
    total = error.params.get("total_items")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


@dataclass
class ExtractProgress:
    """What one pass over a window did: the parts it paged, the records it kept and dropped, its progress lines."""

    parts: list[Window] = field(default_factory=list)
    records: int = 0
    dropped: int = 0
    #: Columns the API answered that the query did not ask for (warned about once each).
    unknown_columns: set[str] = field(default_factory=set)
    meter: ProgressMeter = field(default_factory=lambda: ProgressMeter(time.monotonic))

    def page(self, hook: UISHook, records: int) -> None:
        """Count a page of ``records`` and log a progress line when one is due."""
        line = self.meter.page(records, hook.session.stats.budget_waited)
        if line is not None:
            log.info("%s", line)


def iter_window_records(
    hook: UISHook, window: Window, query: ReportQuery, progress: ExtractProgress | None = None
) -> Iterator[dict[str, Any]]:
    """Every record of ``window`` exactly once, ordered by part then by the query's stable sort, as plain dicts.

    Streams page by page. Raises :class:`UISDataChangedError` when the data moves while a part is paged (the
    caller restarts the window) and :class:`UISPagingLimitError` when a one-second part is still too big.
    """
    for batch in iter_window_batches(hook, window, query, progress, typed=False):
        yield from batch


def iter_window_batches(
    hook: UISHook,
    window: Window,
    query: ReportQuery,
    progress: ExtractProgress | None = None,
    *,
    typed: bool = True,
) -> Iterator[Sequence[dict[str, Any]]]:
    """The records of ``window`` as :func:`iter_window_records` gives them, a page at a time.

    With ``typed`` (and msgspec installed) pages are decoded straight into typed records
    (:class:`~uis_provider.storage.rows.Rows`), which the record writers encode whole; a page that does not fit
    its type comes as dicts. Let go of each batch once written: the next page is fetched while it is held.
    """
    progress = progress if progress is not None else ExtractProgress()
    row_type = row_type_for(query.method, query.columns, query.request_fields) if typed else None
    for part in plan_windows(window, query):
        yield from _part_batches(hook, part, query, progress, row_type)


def _part_batches(
    hook: UISHook, part: Window, query: ReportQuery, progress: ExtractProgress, row_type: RowType | None
) -> Iterator[Sequence[dict[str, Any]]]:
    if query.pages_by_time:
        yield from _time_paged_batches(hook, part, query, progress, row_type)
        return
    params = query.request_params(part)
    keyset = keyset_for(query.method, query.sort, query.filter, params["fields"])
    decode = row_type.decode if row_type is not None else None
    pages = hook.paginate(query.method.name, params, page_size=query.page_size, keyset=keyset, decode_records=decode)
    with contextlib.closing(pages):
        try:
            first = next(pages)
        except UISPagingLimitError as exc:
            total = _total_from(exc)
        else:
            progress.parts.append(part)
            progress.meter.add_query(first.total_items, paging.page_count(first.total_items, query.page_size))
            page: Page | None = first
            del first
            while page is not None:
                # only the caller holds a batch from here: written, it is let go before the next page is decoded
                records = page.records
                del page
                progress.page(hook, len(records))
                kept = _kept_batch(part, query, progress, records)
                del records
                yield kept
                del kept
                page = next(pages, None)
            return
    # the pieces are paged outside the except block, whose exception would keep the probe's frames alive
    pieces = split_part(part, total, query.reachable_rows)
    log.info(
        "%s %s .. %s holds %s rows, more than %d reachable by offset paging: split into %d parts",
        query.method.name,
        part.api_from,
        part.api_till,
        total if total is not None else "too many",
        query.reachable_rows,
        len(pieces),
    )
    for piece in pieces:
        yield from _part_batches(hook, piece, query, progress, row_type)


def _time_paged_batches(
    hook: UISHook, part: Window, query: ReportQuery, progress: ExtractProgress, row_type: RowType | None
) -> Iterator[Sequence[dict[str, Any]]]:
    """The records of a part of a method without a sortable unique key, read by its time field page by page.

    Whole answers are decoded into dicts (the time plan orders them); the kept ones become typed records for the
    writers when they fit the type.
    """
    plan = query.time_plan(part)
    while (params := plan.next_params()) is not None:
        records = plan.take(hook.call(query.method.name, params))
        if plan.calls == 1 and plan.first_total is not None:
            progress.meter.add_query(plan.first_total, paging.page_count(plan.first_total, query.page_size))
        progress.page(hook, len(records))
        kept = _kept_records(part, query, progress, records)
        del records
        rows = row_type.convert(kept) if row_type is not None and kept else None
        if rows is not None:
            rows.forget(query.unwritten_fields)
        yield rows if rows is not None else _checked_plain(kept, query, progress)
        del kept, rows
    progress.parts.extend(plan.parts if isinstance(plan, OnePagePerPart) else [part])
    if isinstance(plan, OnePagePerPart) and plan.splits:
        log.info(
            "%s %s .. %s did not fit one page of %d: read in %d parts by time (%d call(s) split a part)",
            query.method.name,
            part.api_from,
            part.api_till,
            query.page_size,
            len(plan.parts),
            plan.splits,
        )


def _kept_batch(
    part: Window, query: ReportQuery, progress: ExtractProgress, records: Sequence[dict[str, Any]]
) -> Sequence[dict[str, Any]]:
    """The records inside ``part`` (the rest counted as dropped), without the columns asked only for paging."""
    if isinstance(records, Rows):
        return _kept_rows(part, query, progress, records)
    return _checked_plain(_kept_records(part, query, progress, records), query, progress)


def _kept_rows(part: Window, query: ReportQuery, progress: ExtractProgress, rows: Rows) -> Rows:
    """:func:`_kept_records` for a typed page: when every time is well formed and inside the part (one check over
    the whole column), the page is kept whole."""
    stamps = rows.column(query.method.time_field)
    if not _all_inside(part, stamps):
        inside = _membership(part)
        indexes = []
        for index, stamp in enumerate(stamps):
            if stamp is None:
                raise _no_time(query)
            if inside(stamp):
                indexes.append(index)
        progress.dropped += len(rows) - len(indexes)
        if len(indexes) < len(rows):
            rows = rows.subset(indexes)
    rows.forget(query.unwritten_fields)
    progress.records += len(rows)
    return rows


def _kept_records(
    part: Window, query: ReportQuery, progress: ExtractProgress, records: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The records inside ``part`` (the rest counted as dropped), without the columns asked only for paging."""
    time_field = query.method.time_field
    unwritten = query.unwritten_fields
    inside = _membership(part)
    kept = []
    for record in records:
        stamp = record.get(time_field)
        if stamp is None:
            raise _no_time(query)
        if not inside(stamp):
            progress.dropped += 1
            continue
        for name in unwritten:
            record.pop(name, None)
        kept.append(record)
    progress.records += len(kept)
    return kept


def _no_time(query: ReportQuery) -> UISError:
    time_field = query.method.time_field
    return UISError(
        f"a record has no {time_field!r} (missing or null), the field the window selects on, so it cannot "
        "be placed in [date_from, date_till); nothing was written",
        method=query.method.name,
    )


def _checked_plain(
    records: list[dict[str, Any]], query: ReportQuery, progress: ExtractProgress
) -> list[dict[str, Any]]:
    """``records``, after a warning (once per column) about columns the API answered but the query did not ask for.

    JSON lines keep such a column (after the columns asked for), CSV and parquet have a fixed header and leave it
    out; a typed page cannot hold it, so it is only ever found here.
    """
    extra = set().union(*records).difference(query.request_fields, progress.unknown_columns)
    if extra:
        progress.unknown_columns.update(extra)
        log.warning(
            "%s answered column(s) %s that the query did not ask for (a column the API added?): JSON lines keep "
            "them after the columns asked for; CSV and parquet, whose header is fixed, leave them out",
            query.method.name,
            sorted(extra, key=str),
        )
    return records


#: ``YYYY-MM-DD hh:mm:ss`` with every ASCII digit made ``0``: what a well-formed API time becomes by ``_ZEROED``.
_TIME_SHAPE = b"0000-00-00 00:00:00"
_ZEROED = bytes.maketrans(b"123456789", b"000000000")


def _all_inside(part: Window, stamps: list[Any]) -> bool:
    """Whether every one of ``stamps`` is a ``YYYY-MM-DD hh:mm:ss`` text inside the part, checked in C.

    Joined by newlines and with their digits zeroed, well-formed ASCII times are the zeroed shape repeated; anything
    else (another length, a newline or a non-ASCII digit in a text) is left to the record-by-record check.
    """
    if not stamps:
        return True
    if set(map(type, stamps)) != {str} or not (part.api_from <= min(stamps) and max(stamps) < part.api_till):
        return False
    try:
        joined = "\n".join(stamps).encode("ascii")
    except UnicodeEncodeError:
        return False
    return joined.translate(_ZEROED) + b"\n" == (_TIME_SHAPE + b"\n") * len(stamps)


def _membership(part: Window) -> Callable[[Any], bool]:
    """``part.contains`` for every record of a part, with the part's API bounds worked out once.

    A well-formed time inside the bounds is accepted at once; anything else gets ``part.contains`` itself, which
    drops or refuses it.
    """
    low, high = part.api_from, part.api_till

    def inside(stamp: Any) -> bool:
        if stamp.__class__ is str and low <= stamp < high and API_TIME.fullmatch(stamp):
            return True
        return part.contains(stamp)

    return inside


@dataclass(frozen=True)
class ExtractResult:
    """The outcome of landing one window: where, how many records, which parts, and how many attempts it took.

    ``bytes`` and ``sha256`` describe the object as written; ``columns`` are ``(name, kind)`` pairs as the record
    writer was given them (the Parquet kind of each column, ``string`` when none is set).
    """

    path: ObjectStoragePath
    records: int
    parts: tuple[Window, ...]
    attempts: int
    dropped: int
    bytes: int = 0
    sha256: str = ""
    columns: tuple[tuple[str, str], ...] = ()


def extract_window(
    hook: UISHook,
    window: Window,
    query: ReportQuery,
    output_path: str | os.PathLike[str] | ObjectStoragePath,
    *,
    output_conn_id: str | None = None,
    file_format: str = "jsonl",
    compression: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    column_kinds: Mapping[str, str] | None = None,
    observer: Callable[[], Callable[[Sequence[Mapping[str, Any]]], None]] | None = None,
) -> ExtractResult:
    """Write every record of ``window`` to ``output_path`` atomically; the previous output survives any failure.

    When ``total_items`` moves while the window is paged, the whole window is read again into a fresh temporary
    output (up to ``max_attempts`` passes), so the result never holds a duplicate or a gap. Parquet column kinds are
    the method's (``ReportMethod.column_kinds``), overridden by ``column_kinds``. ``observer`` makes a fresh
    callback for each pass, which sees every page written in it (typed or plain records); an exception it raises aborts the pass and
    leaves the previous output in place.
    """
    path = validate_output(output_path, output_conn_id, file_format, compression)
    kinds = {**dict(query.method.column_kinds), **(column_kinds or {})}
    attempts = positive_int(max_attempts, "max_attempts", "passes over a window whose data moves")
    attempt = 1
    while True:
        progress = ExtractProgress()
        observe = observer() if observer is not None else None
        try:
            with (
                atomic_output(path) as binary_file,
                DigestWriter(binary_file) as sink,
                open_record_writer(sink.stream, file_format, query.columns, compression, column_kinds=kinds) as writer,
                collector_paused(),  # a page's records hold no cycles: rescanning them between pages is wasted
            ):
                for batch in iter_window_batches(hook, window, query, progress):
                    if observe is not None:
                        observe(batch)
                    writer.write_batch(batch)
                    del batch  # let the page go before the next one is fetched
        except UISDataChangedError as exc:
            if attempt >= attempts:
                raise UISDataChangedError(
                    f"the data of {window.api_from} .. {window.api_till} kept changing during {attempts} passes; "
                    "nothing was written. Run the task again later or raise max_attempts",
                    method=query.method.name,
                ) from exc
            log.warning(
                "pass %d/%d over %s .. %s discarded (%s); reading the whole window again",
                attempt,
                attempts,
                window.api_from,
                window.api_till,
                exc.message,
            )
            attempt += 1
            continue
        stats = hook.session.stats
        log.info("%s", progress.meter.summary(stats.budget_waited, stats.refusals))
        columns = tuple((name, kinds.get(name, "string")) for name in query.columns)
        return ExtractResult(
            path, progress.records, tuple(progress.parts), attempt, progress.dropped, sink.bytes, sink.sha256, columns
        )


def validate_output(
    output_path: Any, output_conn_id: str | None, file_format: str, compression: str | None
) -> ObjectStoragePath:
    """The output path, with the output options checked before any call, as :class:`UISConfigurationError`."""
    with configuration_errors():
        validate_output_options(file_format, compression)
        if output_path is None:
            raise UISConfigurationError(
                "output_path is not set; give the URI the window lands at, e.g. s3://bucket/key"
            )
        return to_storage_path(output_path, output_conn_id)
