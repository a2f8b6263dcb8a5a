"""What the extract engine must know of each ``get.*`` report method: its window field, key and columns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportMethod:
    """One list method of the API: the field its window selects on, a unique key for a stable order, its columns."""

    name: str
    time_field: str
    key_field: str
    columns: tuple[str, ...]
    max_window_days: int | None = 90
    not_filterable: frozenset[str] = frozenset()
    not_sortable: frozenset[str] = frozenset()
    #: Parquet kinds of the columns that are not strings (``int64``, ``float64``, ``bool``, ``json`` for nested).
    column_kinds: tuple[tuple[str, str], ...] = ()


UPLOADED_CALLS = ReportMethod(
    name="get.uploaded_calls",
    time_field="upload_time",
    key_field="ext_id",
    columns=(
        "ext_id",
        "ext_request_id",
        "upload_time",
        "direction",
        "calling_phone_number",
        "called_phone_number",
        "start_time",
        "finish_time",
        "is_lost",
        "is_transfer",
        "wait_duration",
        "talk_duration",
        "visitor_session_id",
        "campaign_id",
        "source_id",
        "site_id",
        "comment",
        "record_type",
        "status",
        "error_code",
        "call_session_id",
        "callback",
        "tags",
        "records",
    ),
    max_window_days=None,
    not_filterable=frozenset({"upload_time", "callback", "tags", "records"}),
    not_sortable=frozenset({"upload_time", "callback", "tags", "records"}),
    column_kinds=(
        *((name, "int64") for name in ("wait_duration", "talk_duration", "visitor_session_id", "campaign_id")),
        *((name, "int64") for name in ("source_id", "site_id", "call_session_id")),
        ("is_lost", "bool"),
        ("is_transfer", "bool"),
        *((name, "json") for name in ("callback", "tags", "records")),
    ),
)

CALLS_REPORT = ReportMethod(
    name="get.calls_report",
    time_field="start_time",
    key_field="id",
    columns=(
        "id",
        "start_time",
        "finish_time",
        "finish_reason",
        "direction",
        "source",
        "is_lost",
        "communication_id",
        "contact_phone_number",
        "virtual_phone_number",
        "wait_duration",
        "total_wait_duration",
        "talk_duration",
        "clean_talk_duration",
        "total_duration",
        "is_transfer",
        "call_records",
        "tags",
        "campaign_id",
        "campaign_name",
        "site_id",
        "visitor_session_id",
    ),
    max_window_days=90,
    not_filterable=frozenset({"call_records", "tags"}),
    not_sortable=frozenset({"call_records", "tags"}),
    column_kinds=(
        *((name, "int64") for name in ("id", "communication_id", "wait_duration", "total_wait_duration")),
        *((name, "int64") for name in ("talk_duration", "clean_talk_duration", "total_duration")),
        *((name, "int64") for name in ("campaign_id", "site_id", "visitor_session_id")),
        ("is_lost", "bool"),
        ("is_transfer", "bool"),
        ("call_records", "json"),
        ("tags", "json"),
    ),
)

REPORT_METHODS: dict[str, ReportMethod] = {m.name: m for m in (UPLOADED_CALLS, CALLS_REPORT)}


def report_method(name: str) -> ReportMethod:
    """The known spec of ``name``; unknown ``get.*`` methods fall back to an ``id`` key and ``start_time`` window."""
    if name in REPORT_METHODS:
        return REPORT_METHODS[name]
    return ReportMethod(name=name, time_field="start_time", key_field="id", columns=(), max_window_days=90)
