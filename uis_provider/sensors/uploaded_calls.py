"""``UISUploadedCallsSensor``: wait until uploaded calls leave ``new``/``in_process`` (poke, reschedule, deferrable)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from uis_provider.hooks.uis import UISHook
from uis_provider.protocol import paging
from uis_provider.protocol.budget import DEFAULT_BUDGET_TIMEOUT, budget_timeout_seconds
from uis_provider.protocol.params import optional_user_id
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_status import (
    DEFAULT_PENDING_STATUSES,
    Outcome,
    UploadCounts,
    UploadsDone,
    UploadSelection,
    UploadsFailed,
    UploadsPending,
    counts_summary,
    poke_flow,
    probe_filter,
    selection_filter,
    validate_pending_statuses,
    watched_statuses,
)
from uis_provider.protocol.windows import Window, no_interval_message, task_window_bounds
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

NO_INTERVAL_MESSAGE = no_interval_message("of uploads to watch")


class UISUploadedCallsSensor(BaseSensorOperator):
    """Wait until no selected upload of ``get.uploaded_calls`` is pending; return counts per status and error code.

    Uploads are selected by a window on ``upload_time`` (default: the run's data interval, half-open, naive times in
    the account's time zone) and optionally ``ext_request_id``, ``ext_ids`` and any ``filter``. A poke that finds
    uploads pending costs one API call. When done, the XCom value is ``{date_from, date_till, total, statuses,
    error_codes}``. ``cancelled`` uploads are counted, not waited for.

    Works with ``mode="poke"``, ``mode="reschedule"`` and ``deferrable=True`` (one poke, then
    :class:`~uis_provider.triggers.uploaded_calls.UISUploadedCallsTrigger` polls on the triggerer).

    :param date_from: window start (datetime or ISO string); default: the data interval start.
    :param date_till: window end, excluded; default: the data interval end.
    :param ext_request_id: watch one ``upload.calls`` request (its JSON-RPC id) or a list of them, e.g. the
        ``request_ids`` an upload task returned; an empty list means nothing was uploaded: done at once, no polling.
    :param ext_ids: watch these uploaded calls (a list of ``ext_id``).
    :param filter: any API filter on ``get.uploaded_calls`` fields, ANDed with the above.
    :param pending_statuses: statuses that mean "not finished" (default ``new``, ``in_process``).
    :param fail_on_error: fail (naming how many and their ``error_code``) once a selected upload has status ``error``.
    :param user_id: act for this client of an agent account (overrides the connection's ``user_id``).
    :param page_size: rows per call of the summary pass, 1..10 000.
    :param api_retry_policy: how transient API failures are retried within a poke (and by the trigger).
    :param budget_timeout: how long one poke (or one check of the trigger) may wait in all for the minute point
        budget it shares with other tasks on the account (seconds or a ``timedelta``; default 6 hours, never past
        ``execution_timeout``). Each poke has its own: a sensor that waits for days is not bound by its first.
    :param deferrable: wait on the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
    :param uis_conn_id: the Airflow connection of type ``uis``.
    """

    template_fields: Sequence[str] = ("date_from", "date_till", "ext_request_id", "ext_ids", "filter", "user_id")
    template_fields_renderers = {"filter": "json", "ext_ids": "json"}
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        date_from: Any = None,
        date_till: Any = None,
        ext_request_id: str | Sequence[str] | None = None,
        ext_ids: Sequence[str] | None = None,
        filter: dict[str, Any] | None = None,
        pending_statuses: Sequence[str] = DEFAULT_PENDING_STATUSES,
        fail_on_error: bool = False,
        user_id: int | str | None = None,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        api_retry_policy: RetryPolicy | None = None,
        budget_timeout: float | timedelta = DEFAULT_BUDGET_TIMEOUT,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        uis_conn_id: str = UISHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.date_from = date_from
        self.date_till = date_till
        self.ext_request_id = ext_request_id
        self.ext_ids = ext_ids
        self.filter = filter
        self.pending_statuses = validate_pending_statuses(pending_statuses)
        self.fail_on_error = bool(fail_on_error)
        self.user_id = user_id
        self.page_size = paging.validate_page_size(page_size)
        self.api_retry_policy = api_retry_policy
        self.budget_timeout = budget_timeout_seconds(budget_timeout)
        self.deferrable = deferrable
        self.uis_conn_id = uis_conn_id
        self._started: float | None = None
        self._selection: UploadSelection | None = None

    @cached_property
    def hook(self) -> UISHook:
        """The hook of this task (its login session is kept across pokes in poke mode)."""
        return UISHook(self.uis_conn_id, retry_policy=self.api_retry_policy)

    def window_bounds(self, context: Context) -> tuple[Any, Any]:
        """``date_from``/``date_till`` as given, else the run's data interval; fails when there is none."""
        return task_window_bounds(
            self.date_from,
            self.date_till,
            context.get("data_interval_start"),
            context.get("data_interval_end"),
            purpose="of uploads to watch",
        )

    def build_filter(self) -> dict[str, Any] | None:
        """The selection's filter from the rendered parameters, with every check that needs no API call."""
        node = selection_filter(self.filter, ext_request_id=self.ext_request_id, ext_ids=self.ext_ids)
        probe_filter(node, watched_statuses(self.pending_statuses, self.fail_on_error))
        return node

    def build_selection(self, context: Context) -> UploadSelection:
        """The watched uploads from the rendered parameters; every check runs before the first API call."""
        start, end = self.window_bounds(context)
        node = self.build_filter()
        user_id = optional_user_id(self.user_id)
        window = Window.build(start, end, self.hook.get_timezone())
        return UploadSelection(
            window=window,
            filter=node,
            pending_statuses=self.pending_statuses,
            fail_on_error=self.fail_on_error,
            user_id=user_id,
            page_size=self.page_size,
        )

    def _nothing_uploaded(self, context: Context) -> PokeReturnValue:
        """Done without any API call: ``ext_request_id=[]`` selects no upload (every parameter is still checked).

        The summary's window is in the connection's ``timezone`` extra when it is set; otherwise the bounds are
        shown as given (asking ``get.account`` for the zone would be the call an empty selection must not make).
        """
        start, end = self.window_bounds(context)
        self.build_filter()
        optional_user_id(self.user_id)
        timezone = self.hook.settings.timezone
        if timezone:
            window = Window.build(start, end, timezone)
            start, end = window.start, window.end
        self.log.info("ext_request_id is an empty list: no upload request to wait for")
        return self._finish(counts_summary(start.isoformat(), end.isoformat(), UploadCounts()), None)

    def execute(self, context: Context) -> Any:
        """Poke until done (poke and reschedule modes), or look once and defer to the trigger while uploads are
        pending (deferrable); always end the API session on the way out."""
        self._started = time.monotonic()
        try:
            if not self.deferrable:
                return super().execute(context)
            look = self._first_look(context)
            if look.is_done:
                return look.xcom_value
            self._defer()
        finally:
            self.close()

    def poke(self, context: Context) -> PokeReturnValue:
        """One look at the uploads: one API call while any is pending, plus a summary pass once they are done."""
        if isinstance(self.ext_request_id, (list, tuple)) and not self.ext_request_id:
            return self._nothing_uploaded(context)
        selection = self.build_selection(context)
        hook = self.hook
        hook.session.bound_waits(self.budget_timeout, self.execution_timeout)
        outcome: Outcome = hook.run(poke_flow(hook.session, selection))
        if isinstance(outcome, UploadsPending):
            self.log.info("%s", outcome.message)
            self._selection = selection
            return PokeReturnValue(is_done=False)
        if isinstance(outcome, UploadsFailed):
            return self._finish(outcome.summary, outcome.message)
        if isinstance(outcome, UploadsDone):
            return self._finish(outcome.summary, None)
        raise AirflowException(f"a sensor's selection always summarizes, yet its poke found {outcome!r}")

    def _first_look(self, context: Context) -> PokeReturnValue:
        """The poke before deferring, under the rules ``BaseSensorOperator.execute`` gives every poke: a failure or
        timeout skips the task with ``soft_fail`` or ``never_fail``, any other error only with ``never_fail``, and
        with ``silent_fail`` such an error is logged and the poke made again after ``poke_interval``."""
        never_fail = bool(getattr(self, "never_fail", False))
        while True:
            try:
                return self.poke(context)
            except (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException) as exc:
                if self.soft_fail or never_fail:
                    raise AirflowSkipException("Skipping due to soft_fail or never_fail.") from exc
                raise
            except AirflowSkipException:
                raise
            except Exception as exc:
                if not getattr(self, "silent_fail", False):
                    if never_fail:
                        raise AirflowSkipException("Skipping due to never_fail is set to True.") from exc
                    raise
                self.log.exception("Sensor poke failed; poking again in %g s", self.poke_interval)
            time.sleep(self.poke_interval)

    def _defer(self) -> None:
        """Hand the wait to the trigger, with what is left of ``timeout``, and free the worker slot."""
        if self._selection is None:  # only a poke that found uploads pending leads here, and it kept its selection
            raise AirflowException("no pending selection to hand to the trigger")
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        trigger = UISUploadedCallsTrigger.for_selection(
            self._selection,
            uis_conn_id=self.uis_conn_id,
            poll_interval=self.poke_interval,
            retry_policy=self.api_retry_policy,
            budget_timeout=self.budget_timeout,
        )
        self.close()
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=max(0.0, self.timeout - elapsed)),
        )

    def _finish(self, summary: Mapping[str, Any], failure: str | None) -> PokeReturnValue:
        """Log the summary; fail the task with ``failure`` when there is one, else end the wait with the summary."""
        self.log.info(
            "%d selected uploads in [%s, %s): statuses %s, error codes %s",
            summary["total"],
            summary["date_from"],
            summary["date_till"],
            summary["statuses"],
            summary["error_codes"],
        )
        if failure is not None:
            raise AirflowFailException(failure)
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the summary, or fail with the failure or the API's error message."""
        if not event:
            raise AirflowException("the UIS uploaded-calls trigger ended without an event")
        status = event.get("status")
        if status == "success":
            summary: dict[str, Any] = event["summary"]
            self._finish(summary, None)
            return summary
        if status == "failure":
            self._finish(event["summary"], event["message"])
        raise AirflowException(f"waiting for uploads failed: {event.get('message') or event}")

    def close(self) -> None:
        """End the hook's login session and HTTP connections (a new hook is made if the task pokes again)."""
        if "hook" in self.__dict__:
            self.__dict__.pop("hook").close()
