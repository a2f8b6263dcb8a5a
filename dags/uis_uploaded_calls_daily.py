"""Land each Moscow day of uploaded calls (``get.uploaded_calls``) in storage: one file per data interval.

The README's first DAG, with its output root from the ``UIS_OUTPUT_ROOT`` environment variable (any
ObjectStoragePath URI, e.g. ``s3://bucket/uis``; default ``output/`` in this repository) and the root's connection
from ``UIS_OUTPUT_CONN_ID`` (e.g. ``aws_s3``; default none, for a local root). Files are keyed by the window start in
Moscow time, ``.../uploaded_calls/date=2026-01-04/part-0.jsonl`` for [2026-01-04 00:00, 2026-01-05 00:00).

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

import pendulum
from airflow.providers.common.compat.sdk import DAG

from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.version_compat import CronDataIntervalTimetable

TIMEZONE = "Europe/Moscow"
OUTPUT_ROOT = (
    os.environ.get("UIS_OUTPUT_ROOT") or (Path(__file__).resolve().parent.parent / "output").as_uri()
).rstrip("/")
OUTPUT_CONN_ID = os.environ.get("UIS_OUTPUT_CONN_ID") or None
#: Seconds before a failed extract is tried again; UIS_RETRY_DELAY overrides it (the e2e stack retries sooner).
RETRY_DELAY = float(os.environ.get("UIS_RETRY_DELAY") or 300)

with DAG(
    dag_id="uis_uploaded_calls_daily",
    description="Daily extract of UIS get.uploaded_calls to storage, one file per Moscow day",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=4,
    tags=["uis", "extract"],
) as dag:
    UISUploadedCallsToStorageOperator(
        task_id="extract_uploaded_calls",
        uis_conn_id="uis_default",
        output_path=(
            OUTPUT_ROOT
            + "/uploaded_calls/date={{ data_interval_start.in_timezone('"
            + TIMEZONE
            + "') | ds }}/part-0.jsonl"
        ),
        output_conn_id=OUTPUT_CONN_ID,
        retries=2,
        retry_delay=pendulum.duration(seconds=RETRY_DELAY),
    )
