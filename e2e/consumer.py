"""The asset-scheduled consumer through the real scheduler: one run per landed window, each loading that window.

Every successful extract of ``uis_uploaded_calls_daily`` (scheduled, backfilled, rerun) is an asset event whose
``extra`` matches the day's manifest; ``uis_uploaded_calls_load`` must run once per event (partitioned on Airflow
3.3: one run per event, its ``partition_key`` the day) and leave the warehouse holding each landed day's rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from stack import AirflowStack, E2EFailure, wait_for

CONSUMER = "uis_uploaded_calls_load"
CONSUMER_TASK = "load_landed_days"
#: The manifest keys an event's extra repeats.
EXTRA_KEYS = ("window_start", "window_end", "rows", "uri", "bytes", "sha256", "final", "pending")


def producer_events(stack: AirflowStack, producer: str) -> list[dict[str, Any]]:
    """Every asset event the producer DAG emitted, oldest first."""
    body = stack.get("/api/v2/assets/events", source_dag_id=producer, limit=100, order_by="timestamp")
    return list(body["asset_events"])


def check_events_match_manifests(events: list[dict[str, Any]]) -> None:
    """Each event's extra equals the manifest written beside the object it names (the latest landing's)."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        latest[event["extra"]["uri"]] = event["extra"]
    for uri, extra in latest.items():
        manifest = json.loads(Path(uri.removeprefix("file://") + ".manifest.json").read_text(encoding="utf-8"))
        differing = {key for key in EXTRA_KEYS if extra.get(key) != manifest.get(key)}
        if differing:
            raise E2EFailure(f"the event of {uri} differs from its manifest in {sorted(differing)}")


def check_consumer(stack: AirflowStack, producer: str, warehouse: Path) -> str:
    """Wait for one consumer run per producer event, then check what each loaded and what the warehouse holds."""
    events = producer_events(stack, producer)
    if not events:
        raise E2EFailure(f"{producer} emitted no asset event")
    check_events_match_manifests(events)

    def finished() -> list[dict[str, Any]] | None:
        runs = [r for r in stack.dag_runs(CONSUMER) if r["run_type"] == "asset_triggered"]
        if len(runs) >= len(events) and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        return None

    runs = wait_for(f"{len(events)} runs of {CONSUMER}", finished, timeout=240, interval=2.0)
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:
        raise E2EFailure(f"runs of {CONSUMER} failed: {failed}")
    if len(runs) != len(events):
        raise E2EFailure(f"{len(events)} events of {producer} but {len(runs)} runs of {CONSUMER}: not one per window")
    loaded: Counter[tuple[str, str]] = Counter()
    for run in runs:
        for item in stack.xcom(CONSUMER, run["dag_run_id"], CONSUMER_TASK):
            loaded[(item["window_start"], item["sha256"])] += 1
            key = item["partition_key"]
            if key is not None and item["window_start"][:19] != key:
                raise E2EFailure(f"run {run['dag_run_id']} has partition {key} but loaded {item['window_start']}")
    told = Counter((e["extra"]["window_start"], e["extra"]["sha256"]) for e in events)
    if loaded != told:
        raise E2EFailure(f"the consumer loaded {dict(loaded)}, the events told {dict(told)}")
    with sqlite3.connect(warehouse) as db:
        tables = dict(db.execute("SELECT window_start, rows FROM loaded_windows").fetchall())
        counted = dict(db.execute("SELECT window_start, count(*) FROM uploaded_calls GROUP BY 1").fetchall())
    wanted = {e["extra"]["window_start"]: e["extra"]["rows"] for e in events}
    if tables != wanted or {k: v for k, v in counted.items() if v} != {k: v for k, v in wanted.items() if v}:
        raise E2EFailure(f"the warehouse holds {tables} (rows {counted}), the landed days are {wanted}")
    partitioned = sum(1 for e in events if e.get("partition_key"))
    return (
        f"consumer {CONSUMER}: {len(runs)} asset-triggered runs for {len(events)} events of {producer} "
        f"({partitioned} partitioned), each loaded its window; events = manifests; warehouse = {len(wanted)} days"
    )
