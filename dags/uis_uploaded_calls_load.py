"""Load each landed day of uploaded calls into a warehouse table: scheduled on the asset, told the day by its event.

``uis_uploaded_calls_daily`` emits an event of ``UPLOADED_CALLS`` for every day it lands (or lands again). This DAG
runs on those events and loads each day it was told about into SQLite (a stand-in for ClickHouse, BigQuery or
Postgres; ``UIS_WAREHOUSE`` names the file, default ``output/warehouse.sqlite``), idempotently: in one transaction
it deletes the day's rows and inserts the file's, so a day landed again replaces itself.

- Airflow 3.3+: scheduled with ``PartitionedAssetTimetable``: one run per landed day, whose ``partition_key`` is
  the day (``2026-01-04T00:00:00``), and the event's ``extra`` has the rest.
- Airflow 2.11-3.2: scheduled on the asset itself; a run may be triggered by several events at once (days landed
  close together), so it loads every day its triggering events name, the newest event of a day winning.
- A manual run (no triggering event) loads the asset's latest event.

The event's ``sha256`` is checked against the object it read: a mismatch means the day landed again since, and the
newer object is loaded (its own event triggers another run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Asset, ObjectStoragePath, get_current_context, task

from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

REPO = Path(__file__).resolve().parent.parent
OUTPUT_ROOT = (os.environ.get("UIS_OUTPUT_ROOT") or (REPO / "output").as_uri()).rstrip("/")
WAREHOUSE = os.environ.get("UIS_WAREHOUSE") or str(REPO / "output" / "warehouse.sqlite")
#: The Airflow connection of the object store the days land in (``None`` for local files).
OUTPUT_CONN_ID = os.environ.get("UIS_OUTPUT_CONN_ID") or None
#: The same asset the daily DAG declares as its outlet.
UPLOADED_CALLS = Asset(f"{OUTPUT_ROOT}/uploaded_calls")
TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS uploaded_calls (window_start TEXT NOT NULL, ext_id TEXT NOT NULL, upload_time TEXT, "
    "status TEXT, record TEXT NOT NULL, PRIMARY KEY (window_start, ext_id))",
    "CREATE TABLE IF NOT EXISTS loaded_windows (window_start TEXT PRIMARY KEY, window_end TEXT NOT NULL, "
    "rows INTEGER NOT NULL, sha256 TEXT NOT NULL, final INTEGER, uri TEXT NOT NULL, loaded_at TEXT NOT NULL)",
)

log = logging.getLogger(__name__)


def windows_told(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``extra`` of each day this run was told about, one per day (the newest event wins), oldest day first."""
    key = "triggering_asset_events" if AIRFLOW_V_3_0_PLUS else "triggering_dataset_events"
    events = [event for batch in (context.get(key) or {}).values() for event in batch]
    if not events:
        latest = list(context["inlet_events"][UPLOADED_CALLS])[-1:]
        log.info("no triggering event (a manual run): loading the asset's latest event")
        events = latest
    newest: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.timestamp):
        extra = dict(event.extra or {})
        if "window_start" in extra:
            newest[extra["window_start"]] = extra
    return [newest[start] for start in sorted(newest)]


def read_records(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of the landed object, checked against the event's sha256 (a newer landing is loaded as is)."""
    body = ObjectStoragePath(extra["uri"], conn_id=OUTPUT_CONN_ID).read_bytes()
    if hashlib.sha256(body).hexdigest() != extra["sha256"]:
        log.warning("%s changed since the event (landed again): loading what is there now", extra["uri"])
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def load_window(db: sqlite3.Connection, extra: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> int:
    """Replace the day ``extra`` names with ``records`` in one transaction: delete the window, insert it."""
    start = extra["window_start"]
    rows = [(start, r["ext_id"], r.get("upload_time"), r.get("status"), json.dumps(r, sort_keys=True)) for r in records]
    with db:
        db.execute("DELETE FROM uploaded_calls WHERE window_start = ?", (start,))
        db.executemany("INSERT INTO uploaded_calls VALUES (?, ?, ?, ?, ?)", rows)
        db.execute(
            "INSERT OR REPLACE INTO loaded_windows VALUES (?, ?, ?, ?, ?, ?, ?)",
            (start, extra["window_end"], len(rows), extra["sha256"], extra.get("final"), extra["uri"], _now()),
        )
    return len(rows)


def _now() -> str:
    return pendulum.now("UTC").isoformat()


def _schedule() -> Any:
    if AIRFLOW_V_3_3_PLUS:
        from airflow.sdk import PartitionedAssetTimetable

        return PartitionedAssetTimetable(assets=UPLOADED_CALLS)
    return [UPLOADED_CALLS]


with DAG(
    dag_id="uis_uploaded_calls_load",
    description="Load every day uis_uploaded_calls_daily lands into a warehouse table (delete the day, insert it)",
    schedule=_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Moscow"),
    catchup=False,
    max_active_runs=1,
    tags=["uis", "asset", "load"],
) as dag:

    @task(inlets=[UPLOADED_CALLS])
    def load_landed_days() -> list[dict[str, Any]]:
        """Load each day this run was told about; return what was loaded (day, rows, sha256, partition key)."""
        context = get_current_context()
        dag_run = context.get("dag_run")
        partition_key = getattr(dag_run, "partition_key", None)
        Path(WAREHOUSE).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(WAREHOUSE)
        try:
            for statement in TABLE_DDL:
                db.execute(statement)
            loaded = []
            for extra in windows_told(context):
                rows = load_window(db, extra, read_records(extra))
                log.info(
                    "loaded %d rows of [%s, %s) from %s", rows, extra["window_start"], extra["window_end"], extra["uri"]
                )
                loaded.append(
                    {
                        "window_start": extra["window_start"],
                        "rows": rows,
                        "sha256": extra["sha256"],
                        "partition_key": partition_key,
                    }
                )
        finally:
            db.close()
        return loaded

    load_landed_days()
