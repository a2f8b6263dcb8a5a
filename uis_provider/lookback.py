"""Lookback: find the earlier windows of a daily extract whose manifest says ``final: false``, to land them again.

A window extracted right after midnight can hold uploads still ``new`` or ``in_process``; the daily DAG never looks
at that day again. :func:`unsettled_windows` reads the manifests of the ``days`` windows before the current one
(storage reads only, no API call) and returns those to re-land, as keyword arguments for a mapped extract task::

    UISUploadedCallsToStorageOperator.partial(task_id="reland", ...).expand_kwargs(unsettled_days())

Re-landing is idempotent: the same window over the same data gives the same bytes (and manifest, but for its
``extracted_at``), so a window re-landed while nothing changed is replaced by itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.dates import parse_when
from uis_provider.protocol.params import positive_int
from uis_provider.protocol.windows import localize
from uis_provider.storage.atomic import to_storage_path
from uis_provider.storage.manifest import read_manifest

log = logging.getLogger(__name__)


def lookback_starts(current_start: Any, days: int, timezone: str) -> list[pendulum.DateTime]:
    """The starts of the ``days`` daily windows before the one starting at ``current_start``, newest first.

    Days are calendar days in ``timezone`` (a day across a DST change keeps its local midnight); a naive
    ``current_start`` is read in ``timezone``.
    """
    count = positive_int(days, "days", "windows to look back over")
    start = localize(parse_when(current_start, "current_start"), timezone)
    return [start.subtract(days=n) for n in range(1, count + 1)]


def window_path(output_path: str, start: pendulum.DateTime, end: pendulum.DateTime) -> str:
    """``output_path`` with ``{start}``/``{end}`` filled (format specs allowed: ``date={start:%Y-%m-%d}``)."""
    try:
        return output_path.format(start=start, end=end)
    except (KeyError, IndexError, ValueError) as exc:
        raise UISConfigurationError(
            f"output_path {output_path!r} must name the window with {{start}} and/or {{end}} only, e.g. "
            f"'s3://bucket/uploaded_calls/date={{start:%Y-%m-%d}}/part-0.jsonl' ({type(exc).__name__}: {exc})"
        ) from None


def unsettled_windows(
    output_path: str,
    *,
    current_start: Any,
    days: int,
    timezone: str,
    output_conn_id: str | None = None,
) -> list[dict[str, Any]]:
    """The earlier daily windows whose manifest says ``final: false``, as ``{date_from, date_till, output_path}``.

    ``output_path`` is the extract's path with the window as ``{start}`` (and ``{end}``), e.g.
    ``"s3://bucket/uploaded_calls/date={start:%Y-%m-%d}/part-0.jsonl"``; ``current_start`` is the start of the run's
    own window (its ``data_interval_start``), ``days`` how many windows before it to look at. A window without a
    manifest has not landed (a backfill's business, not a lookback's) and one whose ``final`` is true or unknown is
    left alone. Costs one storage read per window and no API point.
    """
    if "{start" not in output_path and "{end" not in output_path:
        raise UISConfigurationError(
            f"output_path {output_path!r} does not name the window: put {{start:%Y-%m-%d}} (or {{end}}) where the "
            "day goes, e.g. 's3://bucket/uploaded_calls/date={start:%Y-%m-%d}/part-0.jsonl'"
        )
    found = []
    for start in lookback_starts(current_start, days, timezone):
        end = start.add(days=1)
        path = window_path(output_path, start, end)
        manifest = read_manifest(to_storage_path(path, output_conn_id))
        if manifest is None:
            log.info("%s has no manifest: the window has not landed, nothing to re-land", path)
            continue
        if manifest.get("final") is False:
            log.info("%s is not final (%s record(s) were pending): landing it again", path, manifest.get("pending"))
            found.append({"date_from": _iso(start), "date_till": _iso(end), "output_path": path})
    return found


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()
