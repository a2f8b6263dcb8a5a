"""``UISReportToStorageOperator``: land one date window of any ``get.*`` report method in object storage.

The window is the run's data interval by default (or ``date_from``/``date_till``), half-open and in the account's
time zone. The extract engine (:mod:`uis_provider.extract`) splits, pages and streams it; the output appears
atomically, and the same window over the same data gives byte-identical output.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseOperator

from uis_provider.asset_events import validate_partition_assets
from uis_provider.exceptions import UISConfigurationError, configuration_errors
from uis_provider.extract import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WINDOW_DAYS,
    ReportQuery,
    extract_window,
    resolve_method,
    validate_output,
)
from uis_provider.hooks.uis import DEFAULT_PREFETCH_PAGES, UISHook, validate_prefetch_pages
from uis_provider.landed import Landed, publish_window
from uis_provider.protocol import paging
from uis_provider.protocol.budget import DEFAULT_BUDGET_TIMEOUT, BudgetDeadline, budget_timeout_seconds
from uis_provider.protocol.methods import ReportMethod
from uis_provider.protocol.params import optional_mapping, positive_int
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.windows import Window, no_interval_message, task_window_bounds
from uis_provider.storage.atomic import storage_uri
from uis_provider.storage.formats import validate_column_kinds, validate_output_options
from uis_provider.storage.probe import probe_output

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

    from uis_provider.extract import ExtractResult
    from uis_provider.settling import StatusTally

NO_INTERVAL_MESSAGE = no_interval_message("to extract")


def output_uri(path: ObjectStoragePath) -> str:
    """The written object's URI without a connection id: ``file:///abs/path`` or ``scheme://bucket/key``."""
    return storage_uri(path)


def landed_summary(landed: Landed) -> dict[str, Any]:
    """The XCom keys a landed window adds: its size and sha256, where its manifest is, whether it is final."""
    summary = {
        "bytes": landed.manifest["bytes"],
        "sha256": landed.manifest["sha256"],
        "manifest": landed.manifest_uri,
        "final": landed.manifest["final"],
    }
    if "pending" in landed.extra:
        summary["pending"] = landed.extra["pending"]
    return summary


def lineage_names(endpoint: str, method: str, output: ObjectStoragePath) -> tuple[tuple[str, str], tuple[str, str]]:
    """OpenLineage ``(namespace, name)`` of the API method read and of the object written."""
    api = urlsplit(endpoint)
    source = (f"{api.scheme}://{api.netloc}", method)
    protocol = output.protocol or "file"
    if protocol in ("file", "local"):
        return source, ("file", output.path)
    return source, (f"{protocol}://{output.bucket}", output.key)


class UISReportToStorageOperator(BaseOperator):
    """Extract one date window of a UIS ``get.*`` report method to a file or object, complete and exactly once.

    :param method: the report method, e.g. ``"get.calls_report"`` (or a :class:`ReportMethod` spec).
    :param output_path: where the window lands: an ``ObjectStoragePath`` URI (``file:///...``, ``s3://bucket/key``).
    :param output_conn_id: the Airflow connection of the object store (e.g. an ``aws`` connection for ``s3://``).
    :param date_from: window start (datetime or ISO string; naive = account time zone); default: data interval start.
    :param date_till: window end, excluded; default: the data interval end. Give both or neither: one alone is
        refused rather than combined with the other end of the data interval.
    :param fields: columns to extract and write, in order (default: the method's columns).
    :param filter: the API filter ``{field, operator, value}`` or ``{filters: [...], condition}``.
    :param sort: ``[{field, order}]``; the method's unique key is appended so pages never skip or repeat.
    :param user_id: act for this client of an agent account (overrides the connection's ``user_id``).
    :param extra_params: further method parameters, sent as given.
    :param file_format: ``jsonl`` (default), ``csv`` or ``parquet`` (needs the ``parquet`` extra).
    :param compression: ``None`` or ``"gzip"``.
    :param page_size: records per call, 1..10 000 (default 10 000: the fewest calls).
    :param max_window_days: longest span sent in one request (report methods are capped at their 90-day limit).
    :param max_attempts: passes over the window when its data changes while it is paged.
    :param column_kinds: Parquet column types (``int64``, ``float64``, ``bool``, ``string``, ``json``) by column.
    :param api_retry_policy: how transient API failures are retried
        (:class:`~uis_provider.protocol.retry.RetryPolicy`; default 5 retries with exponential backoff).
    :param prefetch_pages: pages fetched ahead while the current one is written (default 4, each ~7 MB encoded at
        10 000 records; never more than the minute's points left); 0 fetches one page at a time.
    :param budget_timeout: how long the task may wait in all for the minute point budget it shares with other
        tasks on the account (seconds or a ``timedelta``; default 6 hours, never past ``execution_timeout``). A
        per-minute refusal is waited out, not retried; the daily budget running out fails at once.
    :param partition_assets: give each asset event of the task's ``Asset`` outlets the window as its partition key
        (its start on the account's wall clock, ``2026-01-04T00:00:00``), for consumers scheduled with
        ``PartitionedAssetTimetable``. Airflow 3.3+ only; plain ``schedule=[asset]`` consumers do not run on
        partitioned events, so it is off by default.
    :param uis_conn_id: the Airflow connection of type ``uis``.

    Beside the data object the operator writes ``<output_path>.manifest.json`` (rows, bytes, sha256, columns and
    types, the window, the method and its parameters, ``final``), and every ``Asset`` among ``outlets`` gets an
    event whose ``extra`` repeats it (see :mod:`uis_provider.asset_events`).
    """

    template_fields: Sequence[str] = (
        "date_from",
        "date_till",
        "output_path",
        "filter",
        "fields",
        "user_id",
        "sort",
        "extra_params",
    )
    template_fields_renderers = {"filter": "json", "sort": "json", "fields": "json", "extra_params": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        method: str | ReportMethod,
        output_path: str | ObjectStoragePath,
        output_conn_id: str | None = None,
        date_from: Any = None,
        date_till: Any = None,
        fields: Sequence[str] | None = None,
        filter: dict[str, Any] | None = None,
        sort: list[dict[str, str]] | None = None,
        user_id: int | str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        file_format: str = "jsonl",
        compression: str | None = None,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        max_window_days: int = DEFAULT_MAX_WINDOW_DAYS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        column_kinds: Mapping[str, str] | None = None,
        api_retry_policy: RetryPolicy | None = None,
        prefetch_pages: int = DEFAULT_PREFETCH_PAGES,
        budget_timeout: float | timedelta = DEFAULT_BUDGET_TIMEOUT,
        partition_assets: bool = False,
        uis_conn_id: str = UISHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.method = method
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.date_from = date_from
        self.date_till = date_till
        self.fields = fields
        self.filter = filter
        self.sort = sort
        self.user_id = user_id
        self.extra_params = extra_params
        self.file_format = file_format
        self.compression = compression
        self.page_size = page_size
        self.max_window_days = max_window_days
        self.max_attempts = max_attempts
        self.column_kinds = column_kinds
        self.api_retry_policy = api_retry_policy
        self.prefetch_pages = prefetch_pages
        self.budget_timeout = budget_timeout_seconds(budget_timeout)
        self.partition_assets = partition_assets
        self.uis_conn_id = uis_conn_id
        self._lineage: tuple[str, str, ObjectStoragePath] | None = None
        self._check_static_options()

    def _check_static_options(self) -> None:
        """Fail at DAG parse time on the options that are not templated (method, format, paging, attempts)."""
        resolve_method(self.method)
        with configuration_errors():
            validate_output_options(self.file_format, self.compression)
        paging.validate_page_size(self.page_size)
        positive_int(self.max_window_days, "max_window_days", "days per request window")
        positive_int(self.max_attempts, "max_attempts", "passes over a window whose data moves")
        validate_prefetch_pages(self.prefetch_pages)
        validate_partition_assets(self.partition_assets)
        if self.column_kinds is not None:
            with configuration_errors():
                validate_column_kinds(self.column_kinds)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render as usual; a template that needs the data interval of a run without one gets a clear error."""
        import jinja2

        try:
            super().render_template_fields(context, jinja_env)
        except jinja2.UndefinedError as exc:
            if context.get("data_interval_start") is not None:
                raise
            raise UISConfigurationError(f"{NO_INTERVAL_MESSAGE} (a template failed: {exc.message})") from None

    def method_params(self) -> dict[str, Any]:
        """Parameters of the method beyond the window, paging and filters (subclasses add their own)."""
        return optional_mapping(self.extra_params, "extra_params")

    def build_query(self) -> ReportQuery:
        """The validated query from the rendered parameters (raises before any API call)."""
        return ReportQuery.build(
            self.method,
            fields=self.fields,
            filter=self.filter,
            sort=self.sort,
            user_id=self.user_id,
            extra_params=self.method_params(),
            page_size=self.page_size,
            max_window_days=self.max_window_days,
        )

    def window_bounds(self, context: Context) -> tuple[Any, Any]:
        """``date_from`` and ``date_till`` as given, else the run's data interval; fails when there is none, and
        when only one bound is given (it would be combined with the interval's other bound)."""
        return task_window_bounds(
            self.date_from,
            self.date_till,
            context.get("data_interval_start"),
            context.get("data_interval_end"),
            purpose="to extract",
            both_or_neither=True,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Extract the window, write its manifest, fill the asset events and return ``{path, records, date_from,
        date_till, api_calls, bytes, sha256, manifest, final}`` (plus ``pending`` for uploaded calls)."""
        start, end = self.window_bounds(context)
        query = self.build_query()
        path = validate_output(self.output_path, self.output_conn_id, self.file_format, self.compression)
        probe_output(path)  # a store that cannot be written fails here, before any point is spent
        deadline = BudgetDeadline.for_task(self.budget_timeout, self.execution_timeout, time.time())
        with UISHook(
            self.uis_conn_id,
            retry_policy=self.api_retry_policy,
            prefetch_pages=self.prefetch_pages,
            budget_deadline=deadline,
        ) as hook:
            stats = hook.session.stats
            window = Window.build(start, end, hook.get_timezone())
            self.before_landing(hook, window, query)
            tally = self.status_tally()
            self.log.info(
                "Extracting %s for [%s, %s) %s into %s",
                query.method.name,
                window.api_from,
                window.api_till,
                window.timezone,
                output_uri(path),
            )
            result = extract_window(
                hook,
                window,
                query,
                path,
                file_format=self.file_format,
                compression=self.compression,
                max_attempts=self.max_attempts,
                column_kinds=self.column_kinds,
                observer=tally.start_pass if tally is not None else None,
            )
            api_calls = stats.calls + stats.logins
            self.log.info(
                "Wrote %d records to %s in %d part(s), %d API call(s) (%d retries, %d refused by the minute budget), "
                "%d pass(es); %d out-of-window record(s) dropped",
                result.records,
                output_uri(result.path),
                len(result.parts),
                api_calls,
                stats.retries,
                stats.refusals,
                result.attempts,
                result.dropped,
            )
            self._lineage = (hook.settings.endpoint, query.method.name, result.path)
        landed = self.publish(context, window, query, result, tally)
        return {
            "path": output_uri(result.path),
            "records": result.records,
            "date_from": window.start.isoformat(),
            "date_till": window.end.isoformat(),
            "api_calls": api_calls,
            **landed_summary(landed),
        }

    def before_landing(self, hook: UISHook, window: Window, query: ReportQuery) -> None:
        """Called once the window is known, before anything is read or written (the uploaded-calls extract waits
        here for statuses to settle, or fails); nothing by default."""

    def status_tally(self) -> StatusTally | None:
        """What counts the statuses of the written records (uploaded calls only); ``None`` by default."""
        return None

    def publish(
        self, context: Context, window: Window, query: ReportQuery, result: ExtractResult, tally: StatusTally | None
    ) -> Landed:
        """Write the window's manifest beside the data object, then give the task's asset outlets its event."""
        counted = tally is not None and "status" in query.columns
        landed = publish_window(
            result,
            window=window,
            method=query.method.name,
            params=query.request_params(window),
            file_format=self.file_format,
            compression=self.compression,
            statuses=tally.statuses if tally is not None and counted else None,
            pending=tally.pending if tally is not None and counted else None,
            outlet_events=context.get("outlet_events"),
            outlets=self.outlets or (),
            partition=self.partition_assets,
        )
        self.log.info("Wrote the manifest %s (final: %s)", landed.manifest_uri, landed.manifest["final"])
        for event in landed.events:
            self.log.info("Asset event: %s", event)
        return landed

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the API method as input, the written object as output (OpenLineage stays optional)."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage is None:
            return OperatorLineage()
        (in_namespace, in_name), (out_namespace, out_name) = lineage_names(*self._lineage)
        return OperatorLineage(
            inputs=[Dataset(namespace=in_namespace, name=in_name)],
            outputs=[Dataset(namespace=out_namespace, name=out_name)],
        )
