"""Land each Moscow day of uploaded calls (``get.uploaded_calls``) in storage: one file per data interval.

The README's first DAG, with its output root from the ``UIS_OUTPUT_ROOT`` environment variable (any
ObjectStoragePath URI, e.g. ``s3://bucket/uis``; default ``output/`` in this repository) and the root's connection
from ``UIS_OUTPUT_CONN_ID`` (e.g. ``aws_s3``; default none, for a local root), plus what downstream jobs need. Files
are keyed by the window start in Moscow time, ``.../uploaded_calls/date=2026-01-04/part-0.jsonl`` for
[2026-01-04 00:00, 2026-01-05 00:00), each with its manifest ``part-0.jsonl.manifest.json`` beside it.

Each landed day is an event of the asset ``UPLOADED_CALLS`` (the ``uploaded_calls`` folder) whose ``extra`` holds
the window, rows, object URI, bytes, sha256, ``pending`` and ``final``; ``uis_uploaded_calls_load`` is scheduled on
it. On Airflow 3.3+ the event also carries the day as its partition key (``2026-01-04T00:00:00``).

Uploads still ``new``/``in_process`` at 00:00 land as they are (``on_pending="land"``, the manifest says
``final: false``); the lookback then lands each of the previous ``UIS_LOOKBACK_DAYS`` days (default 3) again while
its manifest says ``final: false`` (one storage read per day, no API point when all are final).

Backfill a range (Airflow 3: the scheduler, the dag-processor and the API server must run; a paused DAG keeps the
runs queued). Give the dates with the Moscow offset: a bare date is midnight UTC, 03:00 in Moscow, and the first
day would be skipped:

    airflow dags unpause uis_uploaded_calls_daily
    airflow backfill create --dag-id uis_uploaded_calls_daily \\
        --from-date 2025-01-01T00:00:00+03:00 --to-date 2025-12-31T00:00:00+03:00 --reprocess-behavior completed
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, task

from uis_provider.lookback import unsettled_windows
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.version_compat import AIRFLOW_V_3_3_PLUS, CronDataIntervalTimetable

TIMEZONE = "Europe/Moscow"
OUTPUT_ROOT = (
    os.environ.get("UIS_OUTPUT_ROOT") or (Path(__file__).resolve().parent.parent / "output").as_uri()
).rstrip("/")
OUTPUT_CONN_ID = os.environ.get("UIS_OUTPUT_CONN_ID") or None
#: Seconds before a failed extract is tried again; UIS_RETRY_DELAY overrides it (the e2e stack retries sooner).
RETRY_DELAY = float(os.environ.get("UIS_RETRY_DELAY") or 300)
#: Earlier days whose manifest is looked at (and landed again while not final); UIS_LOOKBACK_DAYS overrides it.
LOOKBACK_DAYS = int(os.environ.get("UIS_LOOKBACK_DAYS") or 3)
#: The table of landed days: one event per landed (or re-landed) day; uis_uploaded_calls_load is scheduled on it.
UPLOADED_CALLS = Asset(f"{OUTPUT_ROOT}/uploaded_calls")
DAY_PATH = OUTPUT_ROOT + "/uploaded_calls/date={start:%Y-%m-%d}/part-0.jsonl"

with DAG(
    dag_id="uis_uploaded_calls_daily",
    description="Daily extract of UIS get.uploaded_calls to storage, one file per Moscow day",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=4,
    tags=["uis", "extract"],
) as dag:
    common: dict[str, Any] = {
        "uis_conn_id": "uis_default",
        "output_conn_id": OUTPUT_CONN_ID,
        "outlets": [UPLOADED_CALLS],
        "partition_assets": AIRFLOW_V_3_3_PLUS,
        "retries": 2,
        "retry_delay": pendulum.duration(seconds=RETRY_DELAY),
    }
    extract = UISUploadedCallsToStorageOperator(
        task_id="extract_uploaded_calls",
        output_path=(
            OUTPUT_ROOT
            + "/uploaded_calls/date={{ data_interval_start.in_timezone('"
            + TIMEZONE
            + "') | ds }}/part-0.jsonl"
        ),
        **common,
    )

    @task
    def unsettled_days(data_interval_start: Any = None) -> list[dict[str, Any]]:
        """The previous days whose manifest says final: false, as the window and path of each."""
        return unsettled_windows(DAY_PATH, current_start=data_interval_start, days=LOOKBACK_DAYS, timezone=TIMEZONE)

    unsettled = unsettled_days()
    reland = UISUploadedCallsToStorageOperator.partial(task_id="reland_unsettled", **common).expand_kwargs(unsettled)
    extract >> unsettled
