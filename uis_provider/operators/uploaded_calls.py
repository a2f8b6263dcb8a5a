"""``UISUploadedCallsToStorageOperator``: the report operator fixed to ``get.uploaded_calls`` and its columns."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, conf

from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.params import positive_int
from uis_provider.protocol.upload_status import UploadsPending
from uis_provider.settling import (
    DEFAULT_PENDING_POLL_INTERVAL,
    DEFAULT_PENDING_TIMEOUT,
    StatusTally,
    UISPendingRecordsError,
    pending_selection,
    pending_timeout_seconds,
    poll_interval_seconds,
    poll_pending,
    validate_on_pending,
    wait_until_settled,
)
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from uis_provider.extract import ReportQuery
    from uis_provider.hooks.uis import UISHook
    from uis_provider.protocol.windows import Window

#: Beyond ``pending_timeout``, how long Airflow lets the trigger run before it fails the task itself (the trigger
#: normally fires its own timeout event first, and the window lands).
DEFER_GRACE = timedelta(minutes=10)


class UISUploadedCallsToStorageOperator(UISReportToStorageOperator):
    """Land the calls uploaded in one window (selected by ``upload_time``) in object storage, exactly once.

    Takes every parameter of :class:`UISReportToStorageOperator` except ``method``, plus:

    :param report_id: a report id from ``get.reports_list``, sent only when set (the Russian reference lists it as
        required, the request example and newer pages omit it); templated.
    :param on_pending: what to do with uploads of the window still ``new`` or ``in_process``: ``"land"`` (default)
        lands them as they are and the manifest says ``final: false``; ``"wait"`` waits until none is pending (one
        call per check), at most ``pending_timeout``, then lands (``final: false`` if some still are); ``"fail"``
        fails before writing anything while any is pending.
    :param pending_timeout: how long ``on_pending="wait"`` waits (seconds or a ``timedelta``; default 2 hours).
    :param pending_poll_interval: seconds between two checks while waiting (default 60).
    :param deferrable: wait on the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (*UISReportToStorageOperator.template_fields, "report_id")

    def __init__(
        self,
        *,
        report_id: int | str | None = None,
        on_pending: str = "land",
        pending_timeout: float | timedelta = DEFAULT_PENDING_TIMEOUT,
        pending_poll_interval: float | timedelta = DEFAULT_PENDING_POLL_INTERVAL,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(method=UPLOADED_CALLS, **kwargs)
        self.report_id = report_id
        self.on_pending = validate_on_pending(on_pending)
        self.pending_timeout = pending_timeout_seconds(pending_timeout)
        self.pending_poll_interval = poll_interval_seconds(pending_poll_interval)
        self.deferrable = bool(deferrable)
        self._settled: dict[str, Any] | None = None

    def method_params(self) -> dict[str, Any]:
        """The base parameters plus ``report_id`` when it is set."""
        params = super().method_params()
        if self.report_id not in (None, ""):
            params["report_id"] = positive_int(self.report_id, "report_id", "a report id from get.reports_list")
        return params

    def status_tally(self) -> StatusTally:
        """Counts the written records' statuses; with ``on_pending="fail"`` a pending one aborts the write."""
        return StatusTally(refuse_pending=self.on_pending == "fail")

    def before_landing(self, hook: UISHook, window: Window, query: ReportQuery) -> None:
        """``on_pending``: land at once, fail while records are pending, or wait (here or on the triggerer)."""
        if self.on_pending == "land":
            return
        if self._settled is not None:
            self._log_wait_end(self._settled)
            return
        selection = pending_selection(window, query.filter, query.user_id)
        if self.on_pending == "fail":
            outcome = poll_pending(hook, selection)
            if isinstance(outcome, UploadsPending):
                raise UISPendingRecordsError(
                    f"{outcome.message} (on_pending='fail'); nothing was written", method=UPLOADED_CALLS.name
                )
            return
        if self.deferrable:
            outcome = poll_pending(hook, selection)
            if not isinstance(outcome, UploadsPending):
                return
            self.log.info("%s; waiting on the triggerer for at most %g s", outcome.message, self.pending_timeout)
            trigger = UISUploadedCallsTrigger.for_selection(
                selection,
                uis_conn_id=self.uis_conn_id,
                poll_interval=min(self.pending_poll_interval, self.pending_timeout),
                retry_policy=self.api_retry_policy,
                deadline=time.time() + self.pending_timeout,
                budget_timeout=self.budget_timeout,
            )
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=timedelta(seconds=self.pending_timeout) + DEFER_GRACE,
            )
        result = wait_until_settled(
            hook, selection, timeout=self.pending_timeout, poll_interval=self.pending_poll_interval
        )
        self._log_wait_end({"status": "success" if not result.pending else "timeout", "pending": result.pending})

    def _log_wait_end(self, event: dict[str, Any]) -> None:
        if event.get("status") == "timeout":
            self.log.warning(
                "%s uploads of the window are still pending after pending_timeout=%g s: landing them as they are; "
                "the manifest says final: false (a lookback run can land the window again later)",
                event.get("pending"),
                self.pending_timeout,
            )
        else:
            self.log.info("No upload of the window is pending any more: landing it")

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: land the window (settled, or at the deadline), or fail with the API's error."""
        if not event or event.get("status") not in ("success", "timeout"):
            message = (event or {}).get("message") or event
            raise AirflowException(f"waiting for the window's uploads to settle failed: {message}")
        self._settled = event
        return self.execute(context)
