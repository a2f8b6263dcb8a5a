"""The JSON-RPC methods the emulator implements: parameter checks first, the work in a deferred ``run``.

Each method's ``prepare`` validates ``params`` and returns a callable that does the work; the service charges
points only between the two, so an invalid call or one over budget never changes state or costs anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uis_provider.protocol.catalog import catalog
from uis_provider.testing.directory import CUSTOMER_USERS, REPORTS
from uis_provider.testing.errors import APIError
from uis_provider.testing.query import (
    FieldSpec,
    Predicate,
    Record,
    columns_of,
    compile_filter,
    filter_fields,
    parse_fields,
    parse_paging,
    parse_sort,
    select,
    shuffled,
)
from uis_provider.testing.timefmt import DAY, epoch_to_local, parse_api_datetime
from uis_provider.testing.validation import validate_upload

if TYPE_CHECKING:
    from uis_provider.testing.service import UISService

Run = Callable[[], dict[str, Any]]
Prepare = Callable[["UISService", dict[str, Any], Any], Run]

#: The number parameters every method takes, checked on their own (a method's others are checked by ``_windowed``).
_PAGING = frozenset({"user_id", "limit", "offset"})
#: Groups a filter may nest: the general section's examples go three deep; get.uploaded_calls' page says two.
FILTER_DEPTH = {"get.uploaded_calls": 2}
#: Every read method's columns as the catalog documents them.
COLUMNS: dict[str, dict[str, FieldSpec]] = {name: columns_of(spec) for name, spec in catalog().items()}


@dataclass(frozen=True)
class Method:
    """One API method: its point weight, accepted parameters and preparation step."""

    name: str
    weight: int
    params: frozenset[str]
    prepare: Prepare
    auth: bool = True
    metered: bool = True


def _window(svc: UISService, params: dict[str, Any], max_days: int | None) -> tuple[int, int]:
    moments = []
    for name in ("date_from", "date_till"):
        if name not in params:
            raise APIError("required_parameter_missed", field=name)
        moment = parse_api_datetime(params[name])
        if moment is None:
            raise APIError("invalid_parameter_value", field=name, value=params[name])
        moments.append(moment)
    low, till = moments
    if low > till:
        raise APIError("invalid_parameters_combination", field="date_from", value=params["date_from"])
    if max_days is not None and till - low > max_days * DAY:
        raise APIError("date_interval_limit_reached", field="date_till", value=params["date_till"])
    return low, till + 1 if svc.till_inclusive else till


def _max_days(name: str) -> int | None:
    window = catalog()[name].window
    return window.max_days if window else None


@dataclass(frozen=True)
class _ListQuery:
    columns: dict[str, FieldSpec]
    fields: list[str]
    predicate: Predicate | None
    #: The columns the filter reads.
    reads: frozenset[str]
    sort: list[tuple[str, bool]]
    limit: int
    offset: int
    signature: str


def _list_query(params: dict[str, Any], method: str) -> _ListQuery:
    columns = COLUMNS[method]
    limit, offset = parse_paging(params)
    fields = parse_fields(params.get("fields"), columns, catalog()[method].default_columns)
    predicate = compile_filter(params.get("filter"), columns, FILTER_DEPTH.get(method, 3))
    sort = parse_sort(params.get("sort"), columns)
    signature = json.dumps([params.get("filter"), sort], sort_keys=True, ensure_ascii=False)
    return _ListQuery(columns, fields, predicate, filter_fields(params.get("filter")), sort, limit, offset, signature)


def _answer(
    svc: UISService,
    query: _ListQuery,
    cache_key: tuple[Any, ...],
    refs: Callable[[], list[int]],
    materialize: Callable[[int], Record],
    cheap: Mapping[str, Callable[[int], Any]] | None = None,
) -> dict[str, Any]:
    if query.predicate is None and not query.sort:
        selected = refs()
    else:
        key = (*cache_key, query.signature)
        cached = svc.cache.get(key)
        if cached is None:
            cached = select(refs(), materialize, query.predicate, query.sort, cheap, query.reads)
            svc.cache.put(key, cached)
        selected = cached
    page = selected[query.offset : query.offset + query.limit]
    rows = shuffled((materialize(ref) for ref in page), query.fields, svc.request_rng())
    return {"data": rows, "metadata": {"total_items": len(selected)}}


def _boolean(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise APIError("data_type_error", field=name, value=value)
    return value


def _whole_number(params: dict[str, Any], name: str) -> None:
    value = params.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise APIError("data_type_error", field=name, value=value)


def _windowed(name: str) -> Prepare:
    """A report over a date window, answered from its :data:`SOURCES` entry (with ``include_ongoing_calls`` where
    the method takes it, and its other number parameters, such as ``report_id``, checked for type)."""
    source = SOURCES[name]
    spec = catalog()[name]
    ongoing_flag = "include_ongoing_calls" in spec.param_names
    numbers = [param.name for param in spec.params if param.type == "number" and param.name not in _PAGING]

    def prepare(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
        low, high = _window(svc, params, _max_days(name))
        include = _boolean(params, "include_ongoing_calls") if ongoing_flag else False
        for number in numbers:
            _whole_number(params, number)
        query = _list_query(params, name)

        def run() -> dict[str, Any]:
            now = svc.clock.time()
            key = (name, low, high, include, source.state(svc, now))
            return _answer(
                svc,
                query,
                key,
                lambda: source.refs(svc, low, high, now, include),
                lambda ref: source.row(svc, ref, now),
                source.cheap(svc) if source.cheap else None,
            )

        return run

    return prepare


def _chat_ids(params: dict[str, Any]) -> list[int] | None:
    """The chats ``chat_id`` and ``chat_ids`` name together, or ``None`` when neither is sent."""
    if "chat_id" not in params and "chat_ids" not in params:
        return None
    ids = []
    if "chat_id" in params:
        chat_id = params["chat_id"]
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise APIError("data_type_error", field="chat_id", value=chat_id)
        ids.append(chat_id)
    if "chat_ids" in params:
        chat_ids = params["chat_ids"]
        if not isinstance(chat_ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in chat_ids):
            raise APIError("data_type_error", field="chat_ids", value=None)
        if not chat_ids:
            raise APIError("invalid_parameter_value", field="chat_ids", value=None)
        ids.extend(chat_ids)
    return list(dict.fromkeys(ids))


def _chat_messages(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    """Messages of the chats named by ``chat_id`` / ``chat_ids``, of a window, or of both at once."""
    name = "get.chat_messages_report"
    chat_ids = _chat_ids(params)
    window = None
    if chat_ids is None or "date_from" in params or "date_till" in params:
        window = _window(svc, params, _max_days(name))
    query = _list_query(params, name)

    def run() -> dict[str, Any]:
        chats = svc.tables.chats

        def refs() -> list[int]:
            if chat_ids is None:
                assert window is not None
                return chats.message_window(*window)
            return chats.messages_of(chat_ids, *(window or (None, None)))

        key = (name, window, tuple(chat_ids) if chat_ids else None)
        return _answer(svc, query, key, refs, chats.message)

    return run


def _listing(name: str, rows: tuple[dict[str, Any], ...]) -> Prepare:
    """A short fixed list (no window)."""

    def prepare(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
        query = _list_query(params, name)
        refs = list(range(len(rows)))
        return lambda: _answer(svc, query, (name,), lambda: refs, lambda ref: rows[ref])

    return prepare


def account_row(svc: UISService) -> dict[str, Any]:
    """The one ``get.account`` row: the account behind the token."""
    return {"app_id": svc.accounts.app_id, "name": svc.account_name, "timezone": svc.timezone_name}


def _account(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    return lambda: {"data": [account_row(svc)], "metadata": {}}


def _upload_calls(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    calls = validate_upload(params)

    def run() -> dict[str, Any]:
        now = svc.clock.time()
        svc.uploads.upload(calls, str(call_id), now, epoch_to_local(now, svc.timezone))
        return {"data": {"success": True}, "metadata": {}}

    return run


def _string_param(params: dict[str, Any], name: str) -> str:
    if name not in params:
        raise APIError("required_parameter_missed", field=name)
    value = params[name]
    if not isinstance(value, str):
        raise APIError("data_type_error", field=name, value=None)
    return value


def _login(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    login = _string_param(params, "login")
    password = _string_param(params, "password")
    return lambda: {"data": svc.accounts.login(login, password)}


def _logout(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    token = _string_param(params, "access_token")

    def run() -> dict[str, Any]:
        svc.accounts.logout(token)
        return {"data": {}}

    return run


def _no_state(svc: UISService, now: float) -> Hashable:
    return None


def _calls_state(svc: UISService, now: float) -> Hashable:
    return svc.uploads.state_token(now), svc.tables.calls.in_progress(now)


def _legs_state(svc: UISService, now: float) -> Hashable:
    return svc.tables.calls.in_progress(now)


@dataclass(frozen=True)
class Source:
    """Where a windowed method's rows come from: the refs of a window (``include_ongoing`` is the calls report's
    flag), the row of a ref, and what its answers depend on besides the window (for the selection cache)."""

    refs: Callable[[UISService, int, int, float, bool], list[int]]
    row: Callable[[UISService, int, float], Record]
    state: Callable[[UISService, float], Hashable] = _no_state
    #: Columns that can be read from a ref without building its row (so sorting a large window by them is cheap).
    cheap: Callable[[UISService], Mapping[str, Callable[[int], Any]]] | None = None


#: The rows of every method with a date window.
SOURCES: dict[str, Source] = {
    "get.calls_report": Source(
        lambda svc, low, high, now, include: svc.tables.calls.window(low, high, now, include),
        lambda svc, ref, now: svc.tables.calls.materialize(ref, now),
        _calls_state,
    ),
    "get.call_legs_report": Source(
        lambda svc, low, high, now, include: svc.tables.legs.window(low, high, now),
        lambda svc, ref, now: svc.tables.legs.leg(ref),
        _legs_state,
    ),
    "get.communications_report": Source(
        lambda svc, low, high, now, include: svc.tables.communications.window(low, high, now),
        lambda svc, ref, now: svc.tables.communications.materialize(ref, now),
        _calls_state,
    ),
    "get.chats_report": Source(
        lambda svc, low, high, now, include: svc.tables.chats.table.window(low, high),
        lambda svc, ref, now: svc.tables.chats.table.row(ref),
    ),
    "get.chat_messages_report": Source(
        lambda svc, low, high, now, include: svc.tables.chats.message_window(low, high),
        lambda svc, ref, now: svc.tables.chats.message(ref),
    ),
    "get.offline_messages_report": Source(
        lambda svc, low, high, now, include: svc.tables.offline_messages.window(low, high),
        lambda svc, ref, now: svc.tables.offline_messages.row(ref),
    ),
    "get.goals_report": Source(
        lambda svc, low, high, now, include: svc.tables.goals.window(low, high),
        lambda svc, ref, now: svc.tables.goals.row(ref),
    ),
    "get.financial_call_legs_report": Source(
        lambda svc, low, high, now, include: svc.tables.legs.window(low, high, now),
        lambda svc, ref, now: svc.tables.legs.charge(ref),
        _legs_state,
    ),
    "get.uploaded_calls": Source(
        lambda svc, low, high, now, include: svc.uploads.window(low, high),
        lambda svc, ref, now: svc.uploads.materialize(ref, now),
        lambda svc, now: svc.uploads.state_token(now),
        lambda svc: {"ext_id": svc.uploads.ext_id_of},
    ),
}
#: The rows of the methods without a window.
LISTS: dict[str, tuple[dict[str, Any], ...]] = {"get.customer_users": CUSTOMER_USERS, "get.reports_list": REPORTS}
#: How each documented read method is answered.
READERS: dict[str, Prepare] = {
    "get.chat_messages_report": _chat_messages,
    "get.account": _account,
    **{name: _windowed(name) for name in SOURCES if name != "get.chat_messages_report"},
    **{name: _listing(name, rows) for name, rows in LISTS.items()},
}
METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("login.user", 0, frozenset({"login", "password"}), _login, auth=False, metered=False),
        Method("logout.user", 0, frozenset({"access_token"}), _logout, auth=False, metered=False),
        *(Method(name, spec.weight, frozenset(spec.param_names), READERS[name]) for name, spec in catalog().items()),
        Method("upload.calls", 5, frozenset({"access_token", "user_id", "calls"}), _upload_calls),
    )
}
