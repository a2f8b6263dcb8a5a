"""Uploaded calls whose status has not settled: count them in what lands, wait for them, or refuse to land them.

An upload is ``new``, then ``in_process``, then ``processed`` or ``error`` a few minutes later. A window extracted
right after it closes can hold records that are still processing; ``on_pending`` says what the uploaded-calls
extract does about them:

- ``"land"`` lands the window as it is; its manifest counts the pending records and says ``final: false``.
- ``"wait"`` first waits until none is pending (one ``get.uploaded_calls`` call with ``limit=1`` per check, on the
  triggerer when deferrable), for at most ``pending_timeout``; then it lands, ``final: false`` if some still are.
- ``"fail"`` fails the task, before writing anything, while any record of the window is pending.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from uis_provider.exceptions import UISConfigurationError, UISError
from uis_provider.protocol.budget import budget_timeout_seconds
from uis_provider.protocol.params import one_of
from uis_provider.protocol.upload_status import (
    DEFAULT_PENDING_STATUSES,
    Outcome,
    UploadSelection,
    UploadsPending,
    poke_flow,
)
from uis_provider.storage.rows import column_of

if TYPE_CHECKING:
    from uis_provider.hooks.uis import UISHook
    from uis_provider.protocol.windows import Window

#: What ``on_pending`` may be.
ON_PENDING = ("land", "wait", "fail")
#: The statuses of an upload still processing.
PENDING_STATUSES = DEFAULT_PENDING_STATUSES
#: How long ``on_pending="wait"`` waits by default before landing anyway.
DEFAULT_PENDING_TIMEOUT = timedelta(hours=2)
#: Seconds between two counts of pending uploads by default.
DEFAULT_PENDING_POLL_INTERVAL = 60.0

log = logging.getLogger(__name__)


class UISPendingRecordsError(UISError):
    """``on_pending="fail"``: records of the window are still ``new`` or ``in_process``; nothing was written."""

    def hint(self) -> str:
        """Retrying later helps: uploads settle within minutes."""
        return "Retry later (uploads settle within minutes), or use on_pending='wait' or 'land'"


def validate_on_pending(value: Any) -> str:
    """One of :data:`ON_PENDING`, else :class:`UISConfigurationError` naming the choices."""
    return one_of(
        value,
        ON_PENDING,
        "on_pending",
        "what to do with uploads still 'new' or 'in_process' when the window is extracted",
    )


def pending_timeout_seconds(value: Any) -> float:
    """``pending_timeout`` (seconds or a ``timedelta``) as seconds > 0."""
    return _positive_seconds(
        value, "pending_timeout", "how long on_pending='wait' waits for uploads to settle before landing anyway"
    )


def poll_interval_seconds(value: Any) -> float:
    """``pending_poll_interval`` (seconds or a ``timedelta``) as seconds > 0."""
    return _positive_seconds(value, "pending_poll_interval", "the time between two counts of pending uploads")


def _positive_seconds(value: Any, parameter: str, what: str) -> float:
    try:
        return budget_timeout_seconds(value, parameter)
    except UISConfigurationError:
        raise UISConfigurationError(
            f"{parameter} must be a number of seconds > 0 or a timedelta ({what}), got {value!r}"
        ) from None


@dataclass
class StatusTally:
    """Counts the ``status`` of every record written in the current pass over a window.

    :meth:`start_pass` is the ``observer`` of :func:`uis_provider.extract.extract_window`: a pass read again starts
    from zero. With ``refuse_pending`` a pending record aborts the pass (``on_pending="fail"``), so the previous
    output stays in place.
    """

    refuse_pending: bool = False
    statuses: Counter[str] = field(default_factory=Counter)

    def start_pass(self) -> Callable[[Sequence[Mapping[str, Any]]], None]:
        """Forget the counts of an earlier pass and return the per-page callback of this one."""
        self.statuses = Counter()
        statuses = self.statuses

        def count(page: Sequence[Mapping[str, Any]]) -> None:
            values = column_of(page, "status")
            statuses.update(map(str, values))
            if self.refuse_pending:
                pending = next((status for status in values if status in PENDING_STATUSES), None)
                if pending is not None:
                    raise UISPendingRecordsError(
                        f"a record of the window has status {pending!r} (on_pending='fail'); nothing was written",
                        method="get.uploaded_calls",
                    )

        return count

    @property
    def pending(self) -> int:
        """Records counted as ``new`` or ``in_process``."""
        return sum(self.statuses[status] for status in PENDING_STATUSES)


def pending_selection(window: Window, filter: dict[str, Any] | None, user_id: int | None) -> UploadSelection:
    """The records an extract of ``window`` lands (same filter, same client), watched for pending statuses."""
    return UploadSelection(window=window, filter=filter, user_id=user_id, summarize=False)


def poll_pending(hook: UISHook, selection: UploadSelection) -> Outcome:
    """One look: :class:`~uis_provider.protocol.upload_status.UploadsPending`, or done (one call when pending or
    when none is; a summary pass only when the probe's first row falls on the window's end second)."""
    return hook.run(poke_flow(hook.session, selection))


@dataclass(frozen=True)
class WaitResult:
    """How a wait for settled statuses ended: records still pending (0: settled), checks made, seconds waited."""

    pending: int
    checks: int
    waited: float


def wait_until_settled(
    hook: UISHook,
    selection: UploadSelection,
    *,
    timeout: float,
    poll_interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitResult:
    """Check every ``poll_interval`` seconds until nothing is pending or ``timeout`` has passed (then it returns
    with what is still pending, and the caller lands anyway)."""
    started = clock()
    checks = 0
    while True:
        outcome = poll_pending(hook, selection)
        checks += 1
        waited = clock() - started
        if not isinstance(outcome, UploadsPending):
            return WaitResult(0, checks, waited)
        left = timeout - waited
        if left <= 0:
            return WaitResult(outcome.count, checks, waited)
        log.info("%s; looking again in %g s", outcome.message, min(poll_interval, left))
        sleep(min(poll_interval, left))
