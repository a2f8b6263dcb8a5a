"""Land each Moscow day of uploaded calls only once no upload of it is still processing (``on_pending="wait"``).

Uploads made shortly before midnight are still ``new``/``in_process`` at 00:00. Here the extract first waits until
none of the day's uploads is pending: one ``get.uploaded_calls`` call with ``limit=1`` (1 point) per check, every
``UIS_POKE_INTERVAL`` seconds (default 300), on the triggerer (``deferrable=True``, no worker slot), for at most
``pending_timeout`` (2 hours). Then it lands the day, with final statuses; if some are still pending at the
deadline it lands them as they are, the manifest says ``final: false`` and the task log says so.

Output root: ``UIS_OUTPUT_ROOT`` (default ``output/`` in this repository); files
``.../uploaded_calls_final/date=2026-01-04/part-0.jsonl`` with their manifests, each an event of ``FINAL_CALLS``.
Compare ``uis_uploaded_calls_daily``, which lands at once and lands a day again later while it is not final.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset

from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.version_compat import CronDataIntervalTimetable

TIMEZONE = "Europe/Moscow"
OUTPUT_ROOT = (
    os.environ.get("UIS_OUTPUT_ROOT") or (Path(__file__).resolve().parent.parent / "output").as_uri()
).rstrip("/")
#: Seconds between two counts of the day's pending uploads; UIS_POKE_INTERVAL overrides it.
POKE_INTERVAL = float(os.environ.get("UIS_POKE_INTERVAL") or 300)
FINAL_CALLS = Asset(f"{OUTPUT_ROOT}/uploaded_calls_final")

with DAG(
    dag_id="uis_uploaded_calls_final",
    description="Daily extract of UIS get.uploaded_calls once the day's uploads have settled (on_pending='wait')",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=4,
    tags=["uis", "extract", "deferrable"],
) as dag:
    UISUploadedCallsToStorageOperator(
        task_id="extract_settled_calls",
        uis_conn_id="uis_default",
        output_path=(
            OUTPUT_ROOT
            + "/uploaded_calls_final/date={{ data_interval_start.in_timezone('"
            + TIMEZONE
            + "') | ds }}/part-0.jsonl"
        ),
        on_pending="wait",
        deferrable=True,
        pending_poll_interval=POKE_INTERVAL,
        pending_timeout=pendulum.duration(hours=2),
        outlets=[FINAL_CALLS],
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    )
