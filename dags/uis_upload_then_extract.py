"""Wait until UIS has processed the day's uploaded calls, then land that day of ``get.uploaded_calls`` in storage.

The sensor is deferrable: it looks once, then waits on the triggerer (no worker slot) until no upload of the Moscow
day is ``new``/``in_process``, and hands a summary (counts per status and error code) to XCom. The extract then
reads the same window, so every call is in its final status. Output root: ``UIS_OUTPUT_ROOT`` (any ObjectStoragePath
URI, e.g. ``s3://bucket/uis``), default ``output/`` in this repository; files are keyed by the window start,
``.../uploaded_calls_settled/date=2026-01-04/part-0.jsonl`` for [2026-01-04 00:00, 2026-01-05 00:00) Moscow time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG

from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.version_compat import CronDataIntervalTimetable

TIMEZONE = "Europe/Moscow"
OUTPUT_ROOT = (
    os.environ.get("UIS_OUTPUT_ROOT") or (Path(__file__).resolve().parent.parent / "output").as_uri()
).rstrip("/")
#: Seconds between looks at the uploads (and before the trigger's first look); UIS_POKE_INTERVAL overrides it.
POKE_INTERVAL = float(os.environ.get("UIS_POKE_INTERVAL") or 300)

with DAG(
    dag_id="uis_upload_then_extract",
    description="Wait for the day's UIS uploads to finish processing, then extract them to storage",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=4,
    tags=["uis", "sensor", "extract"],
) as dag:
    wait_for_uploads = UISUploadedCallsSensor(
        task_id="wait_for_uploads",
        uis_conn_id="uis_default",
        deferrable=True,
        poke_interval=POKE_INTERVAL,
        timeout=pendulum.duration(hours=6),
    )
    extract_uploaded_calls = UISUploadedCallsToStorageOperator(
        task_id="extract_uploaded_calls",
        uis_conn_id="uis_default",
        output_path=(
            OUTPUT_ROOT
            + "/uploaded_calls_settled/date={{ data_interval_start.in_timezone('"
            + TIMEZONE
            + "') | ds }}/part-0.jsonl"
        ),
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    )
    wait_for_uploads >> extract_uploaded_calls
