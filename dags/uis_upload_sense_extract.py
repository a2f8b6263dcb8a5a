"""Close the loop: upload a day's calls to UIS, wait until UIS has processed them, land the results in storage.

1. ``upload_calls`` reads the day's calls from ``UIS_UPLOAD_SOURCE`` (any ObjectStoragePath URI, JSON lines or CSV;
   Jinja allowed, e.g. ``s3://pbx/calls/date={{ data_interval_start | ds }}.jsonl``; default the sample
   ``dags/data/calls_to_upload.jsonl``), validates every row and sends them in batches with ``upload.calls``.
2. ``wait_for_processing`` (deferrable) waits on the triggerer until none of the uploads with this task's request
   ids is ``new``/``in_process``. Uploads are found by ``upload_time``: from the data interval start (a day's
   calls are uploaded after the day began) to ``uploaded_before`` (after the upload, plus clock-skew margin).
3. ``extract_uploaded_calls`` lands those uploads (``get.uploaded_calls``, final statuses and error codes) and
   ``extract_calls_report`` lands the day's ``get.calls_report``, where the processed uploads appear with
   ``source = upload_calls``.

Output root: ``UIS_OUTPUT_ROOT`` (any ObjectStoragePath URI), default ``output/`` in this repository; files are keyed
by the window start, ``.../upload_sense_extract/calls_report/date=2026-01-14/part-0.jsonl`` for
[2026-01-14 00:00, 2026-01-15 00:00) Moscow time. Retrying or re-running any task is safe: the upload reuses its
request ids and UIS ignores calls it has already processed; the extracts overwrite their files atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import DAG

from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.operators.upload_calls import UISUploadCallsOperator
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.version_compat import CronDataIntervalTimetable

TIMEZONE = "Europe/Moscow"
REPO = Path(__file__).resolve().parent.parent
UPLOAD_SOURCE = os.environ.get("UIS_UPLOAD_SOURCE") or (REPO / "dags" / "data" / "calls_to_upload.jsonl").as_uri()
OUTPUT_ROOT = (os.environ.get("UIS_OUTPUT_ROOT") or (REPO / "output").as_uri()).rstrip("/")
DAY = "{{ data_interval_start.in_timezone('" + TIMEZONE + "') | ds }}"

with DAG(
    dag_id="uis_upload_sense_extract",
    description="Upload a day's calls to UIS, wait until they are processed, extract uploads and the calls report",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    tags=["uis", "upload", "sensor", "extract"],
) as dag:
    upload_calls = UISUploadCallsOperator(
        task_id="upload_calls",
        uis_conn_id="uis_default",
        source_path=UPLOAD_SOURCE,
        on_invalid="fail",
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    )
    this_upload = {"field": "ext_request_id", "operator": "in", "value": upload_calls.output["request_ids"]}
    wait_for_processing = UISUploadedCallsSensor(
        task_id="wait_for_processing",
        uis_conn_id="uis_default",
        date_till=upload_calls.output["uploaded_before"],
        ext_request_id=upload_calls.output["request_ids"],
        deferrable=True,
        poke_interval=60,
        timeout=pendulum.duration(hours=6),
    )
    extract_uploaded_calls = UISUploadedCallsToStorageOperator(
        task_id="extract_uploaded_calls",
        uis_conn_id="uis_default",
        date_from="{{ data_interval_start }}",
        date_till=upload_calls.output["uploaded_before"],
        filter=this_upload,
        output_path=f"{OUTPUT_ROOT}/upload_sense_extract/uploaded_calls/date={DAY}/part-0.jsonl",
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    )
    extract_calls_report = UISReportToStorageOperator(
        task_id="extract_calls_report",
        uis_conn_id="uis_default",
        method="get.calls_report",
        output_path=f"{OUTPUT_ROOT}/upload_sense_extract/calls_report/date={DAY}/part-0.jsonl",
        retries=2,
        retry_delay=pendulum.duration(minutes=5),
    )
    wait_for_processing >> [extract_uploaded_calls, extract_calls_report]
