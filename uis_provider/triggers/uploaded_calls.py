"""``UISUploadedCallsTrigger``: the deferrable sensor's asynchronous wait for uploads to leave their pending statuses."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from uis_provider.exceptions import UISError
from uis_provider.hooks.uis_async import UISAsyncHook
from uis_provider.protocol import paging
from uis_provider.protocol.budget import DEFAULT_BUDGET_TIMEOUT, budget_timeout_seconds
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_status import (
    DEFAULT_PENDING_STATUSES,
    SELECTION_FIELDS,
    NothingPending,
    UploadsDone,
    UploadSelection,
    UploadsFailed,
    UploadsPending,
    poke_flow,
)


def final_event(outcome: UploadsDone | UploadsFailed | NothingPending) -> dict[str, Any]:
    """The trigger's event for a finished wait: ``{"status": "success", "summary"}`` (``summary`` ``None`` when
    the selection does not summarize) or ``{"status": "failure", "message", "summary"}``; JSON-able, as the
    triggerer stores it."""
    if isinstance(outcome, UploadsFailed):
        return {"status": "failure", "message": outcome.message, "summary": outcome.summary}
    return {"status": "success", "summary": outcome.summary if isinstance(outcome, UploadsDone) else None}


def timeout_event(outcome: UploadsPending) -> dict[str, Any]:
    """The trigger's event when its deadline passes with uploads still pending (the extract lands anyway)."""
    message = f"{outcome.message}; stopped waiting at the deadline"
    return {"status": "timeout", "pending": outcome.count, "message": message}


class UISUploadedCallsTrigger(BaseTrigger):
    """Poll ``get.uploaded_calls`` every ``poll_interval`` seconds until the selected uploads are finished.

    Runs the sensor's own poke flow (:func:`uis_provider.protocol.upload_status.poke_flow`) over the async transport. It logs in by
    connection id (no token is ever serialized), is paced by the API's limits, retries transient failures and renews
    an expired session through the shared session flow, and yields exactly one event: ``{"status": "success",
    "summary"}``, ``{"status": "failure", "message", "summary"}`` (errors with ``fail_on_error``) or
    ``{"status": "error", "message", "mnemonic"}`` (the API's message). It logs out and closes its HTTP client
    whenever it ends, also when cancelled. With a ``deadline`` it stops looking then and yields ``{"status":
    "timeout", "pending", "message"}`` instead of waiting on (the extract's ``on_pending="wait"`` lands anyway).

    :param uis_conn_id: the Airflow connection of type ``uis``.
    :param date_from: window start on ``upload_time`` (ISO 8601 with offset, as the sensor resolved it).
    :param date_till: window end, exclusive.
    :param timezone: the account time zone the window is sent in.
    :param filter: the selection filter (the user's filter AND ext_request_id / ext_ids), already validated.
    :param pending_statuses: statuses that mean "not finished yet".
    :param fail_on_error: end with a failure event once a selected upload has status ``error``.
    :param user_id: the client's user id (agents), overriding the connection's.
    :param page_size: rows per call of the summary pass.
    :param poll_interval: seconds between polls, and before the first one (the sensor has just poked).
    :param retry_policy: fields of :class:`~uis_provider.protocol.retry.RetryPolicy` (default policy when ``None``).
    :param summarize: False skips the summary pass when nothing is pending (its success event then has no
        summary): one call per poll.
    :param deadline: Unix time after which the trigger gives up waiting and fires a ``timeout`` event.
    :param budget_timeout: seconds one check may wait in all for the shared minute point budget (each check has
        its own, so a trigger that polls for days never runs into the first check's deadline).
    """

    def __init__(
        self,
        *,
        uis_conn_id: str,
        date_from: str,
        date_till: str,
        timezone: str,
        filter: dict[str, Any] | None = None,
        pending_statuses: list[str] | tuple[str, ...] = DEFAULT_PENDING_STATUSES,
        fail_on_error: bool = False,
        user_id: int | None = None,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        poll_interval: float = 60.0,
        retry_policy: dict[str, Any] | None = None,
        summarize: bool = True,
        deadline: float | None = None,
        budget_timeout: float = DEFAULT_BUDGET_TIMEOUT,
    ) -> None:
        super().__init__()
        self.uis_conn_id = uis_conn_id
        self.date_from = date_from
        self.date_till = date_till
        self.timezone = timezone
        self.filter = filter
        self.pending_statuses = list(pending_statuses)
        self.fail_on_error = fail_on_error
        self.user_id = user_id
        self.page_size = page_size
        self.poll_interval = float(poll_interval)
        self.retry_policy = dict(retry_policy) if retry_policy else None
        self.summarize = bool(summarize)
        self.deadline = float(deadline) if deadline is not None else None
        self.budget_timeout = budget_timeout_seconds(budget_timeout)

    @classmethod
    def for_selection(
        cls,
        selection: UploadSelection,
        *,
        uis_conn_id: str,
        poll_interval: float,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = None,
        budget_timeout: float = DEFAULT_BUDGET_TIMEOUT,
    ) -> UISUploadedCallsTrigger:
        """The trigger that waits for ``selection`` (what the sensor and a waiting extract defer to)."""
        policy = dataclasses.asdict(retry_policy) if retry_policy is not None else None
        return cls(
            uis_conn_id=uis_conn_id,
            poll_interval=poll_interval,
            retry_policy=policy,
            deadline=deadline,
            budget_timeout=budget_timeout,
            **selection.to_kwargs(),
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-able kwargs: the connection id and the selection, never a token or a password."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "uis_conn_id": self.uis_conn_id,
                **self.selection_kwargs(),
                "poll_interval": self.poll_interval,
                "retry_policy": self.retry_policy,
                "deadline": self.deadline,
                "budget_timeout": self.budget_timeout,
            },
        )

    def selection_kwargs(self) -> dict[str, Any]:
        """The watched uploads as JSON-able kwargs of
        :meth:`~uis_provider.protocol.upload_status.UploadSelection.from_kwargs`."""
        return {name: getattr(self, name) for name in SELECTION_FIELDS}

    def selection(self) -> UploadSelection:
        """The watched uploads, rebuilt from the serialized kwargs."""
        return UploadSelection.from_kwargs(**self.selection_kwargs())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done, failed or errored; clean up (logout, close) before the one terminal event."""
        policy = RetryPolicy(**self.retry_policy) if self.retry_policy else None
        hook = UISAsyncHook(self.uis_conn_id, retry_policy=policy)
        try:
            event = await self._wait(hook)
        finally:
            await hook.aclose()
        yield event

    async def _wait(self, hook: UISAsyncHook) -> TriggerEvent:
        try:
            selection = self.selection()
            session = await hook.get_session()
            while True:
                # The sensor poked just before deferring: wait first. This also keeps a fast-firing trigger
                # clear of the race where the scheduler has not yet seen the deferring worker exit.
                await asyncio.sleep(self._next_sleep())
                session.bound_waits(self.budget_timeout)
                outcome = await hook.run(poke_flow(session, selection))
                if not isinstance(outcome, UploadsPending):
                    return TriggerEvent(final_event(outcome))
                if self.deadline is not None and time.time() >= self.deadline:
                    return TriggerEvent(timeout_event(outcome))
                self.log.info("%s; looking again in %g s", outcome.message, self._next_sleep())
        except UISError as exc:
            return TriggerEvent({"status": "error", "message": str(exc), "mnemonic": exc.mnemonic})

    def _next_sleep(self) -> float:
        """The poll interval, cut short so the last look happens at the deadline."""
        if self.deadline is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self.deadline - time.time()))
