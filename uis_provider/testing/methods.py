"""The JSON-RPC methods the emulator implements: parameter checks first, the work in a deferred ``run``.

Each method's ``prepare`` validates ``params`` and returns a callable that does the work; the service charges
points only between the two, so an invalid call or one over budget never changes state or costs anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uis_provider.testing.errors import APIError
from uis_provider.testing.query import (
    FieldSpec,
    Predicate,
    Record,
    compile_filter,
    parse_fields,
    parse_paging,
    parse_sort,
    select,
    shuffled,
    specs,
)
from uis_provider.testing.timefmt import DAY, epoch_to_local, parse_api_datetime
from uis_provider.testing.validation import validate_upload

if TYPE_CHECKING:
    from uis_provider.testing.service import UISService

Run = Callable[[], dict[str, Any]]
Prepare = Callable[["UISService", dict[str, Any], Any], Run]

REPORT_MAX_DAYS = 90

UPLOADED_CALL_COLUMNS = specs(
    FieldSpec("ext_id", "str"),
    FieldSpec("ext_request_id", "str"),
    FieldSpec("upload_time", "datetime", filterable=False, sortable=False),
    FieldSpec("direction", "str"),
    FieldSpec("calling_phone_number", "str"),
    FieldSpec("called_phone_number", "str"),
    FieldSpec("start_time", "datetime"),
    FieldSpec("finish_time", "datetime"),
    FieldSpec("is_lost", "bool"),
    FieldSpec("is_transfer", "bool"),
    FieldSpec("wait_duration", "int"),
    FieldSpec("talk_duration", "int"),
    FieldSpec("visitor_session_id", "int"),
    FieldSpec("campaign_id", "int"),
    FieldSpec("source_id", "int"),
    FieldSpec("site_id", "int"),
    FieldSpec("comment", "str"),
    FieldSpec("record_type", "str"),
    FieldSpec("status", "str"),
    FieldSpec("error_code", "str"),
    FieldSpec("call_session_id", "int"),
    FieldSpec("callback", "object", filterable=False, sortable=False),
    FieldSpec("tags", "array", filterable=False, sortable=False),
    FieldSpec("records", "array", filterable=False, sortable=False),
)
CALLS_REPORT_COLUMNS = specs(
    FieldSpec("id", "int"),
    FieldSpec("start_time", "datetime"),
    FieldSpec("finish_time", "datetime"),
    FieldSpec("finish_reason", "str"),
    FieldSpec("direction", "str"),
    FieldSpec("source", "str"),
    FieldSpec("is_lost", "bool"),
    FieldSpec("communication_id", "int"),
    FieldSpec("contact_phone_number", "str"),
    FieldSpec("virtual_phone_number", "str"),
    FieldSpec("wait_duration", "int"),
    FieldSpec("total_wait_duration", "int"),
    FieldSpec("talk_duration", "int"),
    FieldSpec("clean_talk_duration", "int"),
    FieldSpec("total_duration", "int"),
    FieldSpec("is_transfer", "bool"),
    FieldSpec("call_records", "array", filterable=False, sortable=False),
    FieldSpec("tags", "array", filterable=False, sortable=False),
    FieldSpec("campaign_id", "int"),
    FieldSpec("campaign_name", "str"),
    FieldSpec("site_id", "int"),
    FieldSpec("visitor_session_id", "int"),
)
CUSTOMER_USER_COLUMNS = specs(
    FieldSpec("id", "int"),
    FieldSpec("login", "str"),
    FieldSpec("full_name", "str"),
    FieldSpec("app_id", "int"),
)
CUSTOMER_USERS: tuple[dict[str, Any], ...] = (
    {"id": 700101, "login": "moscow-office", "full_name": "Компания «Ромашка», Москва", "app_id": 40101},
    {"id": 700102, "login": "spb-office", "full_name": "Компания «Ромашка», Санкт-Петербург", "app_id": 40102},
    {"id": 700103, "login": "online-shop", "full_name": "Интернет-магазин «Василёк»", "app_id": 40103},
)
_LIST_PARAMS = frozenset({"access_token", "user_id", "limit", "offset", "filter", "sort", "fields"})


@dataclass(frozen=True)
class Method:
    """One API method: its point weight, accepted parameters and preparation step."""

    name: str
    weight: int
    params: frozenset[str]
    prepare: Prepare
    auth: bool = True
    metered: bool = True


def _window(svc: UISService, params: dict[str, Any], max_days: int | None = None) -> tuple[int, int]:
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


@dataclass(frozen=True)
class _ListQuery:
    columns: dict[str, FieldSpec]
    fields: list[str]
    predicate: Predicate | None
    sort: list[tuple[str, bool]]
    limit: int
    offset: int
    signature: str


def _list_query(params: dict[str, Any], columns: dict[str, FieldSpec]) -> _ListQuery:
    limit, offset = parse_paging(params)
    fields = parse_fields(params.get("fields"), columns)
    predicate = compile_filter(params.get("filter"), columns)
    sort = parse_sort(params.get("sort"), columns)
    signature = json.dumps([params.get("filter"), sort], sort_keys=True, ensure_ascii=False)
    return _ListQuery(columns, fields, predicate, sort, limit, offset, signature)


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
            cached = select(refs(), materialize, query.predicate, query.sort, cheap)
            svc.cache.put(key, cached)
        selected = cached
    page = selected[query.offset : query.offset + query.limit]
    rows = shuffled((materialize(ref) for ref in page), query.fields, svc.request_rng())
    return {"data": rows, "metadata": {"total_items": len(selected)}}


def _uploaded_calls(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    low, high = _window(svc, params)
    report_id = params.get("report_id")
    if report_id is not None and (isinstance(report_id, bool) or not isinstance(report_id, int)):
        raise APIError("data_type_error", field="report_id", value=report_id)
    query = _list_query(params, UPLOADED_CALL_COLUMNS)

    def run() -> dict[str, Any]:
        now = svc.clock.time()
        key = ("get.uploaded_calls", low, high, svc.uploads.state_token(now))
        return _answer(
            svc,
            query,
            key,
            lambda: svc.uploads.window(low, high),
            lambda ref: svc.uploads.materialize(ref, now),
            {"ext_id": svc.uploads.ext_id_of},
        )

    return run


def _calls_report(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    low, high = _window(svc, params, max_days=REPORT_MAX_DAYS)
    query = _list_query(params, CALLS_REPORT_COLUMNS)

    def run() -> dict[str, Any]:
        now = svc.clock.time()
        key = ("get.calls_report", low, high, svc.uploads.state_token(now))
        return _answer(
            svc, query, key, lambda: svc.report.window(low, high, now), lambda ref: svc.report.materialize(ref, now)
        )

    return run


def _customer_users(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    query = _list_query(params, CUSTOMER_USER_COLUMNS)

    def run() -> dict[str, Any]:
        refs = list(range(len(CUSTOMER_USERS)))
        return _answer(svc, query, ("get.customer_users",), lambda: refs, lambda ref: dict(CUSTOMER_USERS[ref]))

    return run


def _account(svc: UISService, params: dict[str, Any], call_id: Any) -> Run:
    def run() -> dict[str, Any]:
        account = {"app_id": svc.accounts.app_id, "name": svc.account_name, "timezone": svc.timezone_name}
        return {"data": [account], "metadata": {}}

    return run


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


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("login.user", 0, frozenset({"login", "password"}), _login, auth=False, metered=False),
        Method("logout.user", 0, frozenset({"access_token"}), _logout, auth=False, metered=False),
        Method("get.account", 1, frozenset({"access_token", "user_id"}), _account),
        Method("get.customer_users", 1, _LIST_PARAMS, _customer_users),
        Method(
            "get.uploaded_calls",
            1,
            _LIST_PARAMS | {"date_from", "date_till", "report_id"},
            _uploaded_calls,
        ),
        Method("get.calls_report", 1, _LIST_PARAMS | {"date_from", "date_till"}, _calls_report),
        Method("upload.calls", 5, frozenset({"access_token", "user_id", "calls"}), _upload_calls),
    )
}
