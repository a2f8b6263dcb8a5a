"""The consumer DAG ``uis_uploaded_calls_load``: scheduled on the daily DAG's asset, loads each day it is told about.

The producer runs with ``dag.test()`` first (its asset event lands in the metadata DB), then the consumer: a manual
run has no triggering event, so it loads the asset's latest event, read through ``inlet_events``. The real scheduler
path (one consumer run per landed day) runs in ``make e2e``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from tests.conftest import dag_test, load_dag_file
from uis_provider.testing import UISEmulator
from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

DAGS = Path(__file__).resolve().parents[2] / "dags"
TZ = "Europe/Moscow"


@pytest.fixture
def dags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, Any]:
    """The producer and consumer modules, with their output root and warehouse in ``tmp_path``."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri())
    monkeypatch.setenv("UIS_WAREHOUSE", str(tmp_path / "warehouse.sqlite"))
    return load_dag_file(DAGS / "uis_uploaded_calls_daily.py"), load_dag_file(DAGS / "uis_uploaded_calls_load.py")


def test_scheduled_on_the_asset_the_daily_dag_emits(dags: tuple[Any, Any]) -> None:
    daily, load = dags
    assert load.UPLOADED_CALLS == daily.UPLOADED_CALLS
    timetable = load.dag.timetable
    if AIRFLOW_V_3_3_PLUS:
        from airflow.sdk import PartitionedAssetTimetable

        assert isinstance(timetable, PartitionedAssetTimetable)
        assert timetable.asset_condition == daily.UPLOADED_CALLS
    elif AIRFLOW_V_3_0_PLUS:
        condition = timetable.asset_condition  # AssetAll(asset): the Task SDK's (3.2) or core's (3.0, 3.1)
        members = getattr(condition, "objects", None) or [asset for _, asset in condition.iter_assets()]
        assert [asset.uri for asset in members] == [daily.UPLOADED_CALLS.uri]
    else:
        assert [uri for uri, _ in timetable.dataset_condition.iter_datasets()] == [daily.UPLOADED_CALLS.uri]


def warehouse(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        calls = db.execute("SELECT window_start, ext_id, status, record FROM uploaded_calls ORDER BY ext_id").fetchall()
        windows = db.execute("SELECT window_start, window_end, rows, sha256, final FROM loaded_windows").fetchall()
    return calls, windows


def test_loads_the_landed_day_idempotently(
    airflow_db: Path, uis_conn: str, emulator: UISEmulator, dags: tuple[Any, Any], tmp_path: Path
) -> None:
    daily, load = dags
    assert dag_test(daily.dag, pendulum.datetime(2026, 1, 8, tz=TZ)).state == "success"
    out = tmp_path / "uploaded_calls" / "date=2026-01-07" / "part-0.jsonl"
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    landed = [json.loads(line) for line in out.read_text().splitlines()]

    for attempt in range(2):  # a second load of the same day replaces it, never doubles it
        run = dag_test(load.dag, pendulum.datetime(2026, 1, 9, tz=TZ).add(minutes=attempt))
        assert run.state == "success"
        [ti] = run.get_task_instances()
        assert ti.xcom_pull(task_ids="load_landed_days") == [
            {
                "window_start": "2026-01-07T00:00:00+03:00",
                "rows": len(landed),
                "sha256": manifest["sha256"],
                "partition_key": None,
            }
        ]
        calls, windows = warehouse(tmp_path / "warehouse.sqlite")
        assert [(c[0], c[1], c[2]) for c in calls] == [
            ("2026-01-07T00:00:00+03:00", r["ext_id"], r["status"]) for r in sorted(landed, key=lambda r: r["ext_id"])
        ]
        assert [json.loads(c[3]) for c in calls] == sorted(landed, key=lambda r: r["ext_id"])
        assert windows == [
            ("2026-01-07T00:00:00+03:00", "2026-01-08T00:00:00+03:00", len(landed), manifest["sha256"], 1)
        ]


def event(extra: dict[str, Any], minute: int) -> Any:
    return SimpleNamespace(extra=extra, timestamp=pendulum.datetime(2026, 1, 9, 0, minute, tz="UTC"))


def test_several_triggering_events_load_each_day_once_the_newest_event_winning(dags: tuple[Any, Any]) -> None:
    _, load = dags
    day4, day5 = "2026-01-04T00:00:00+03:00", "2026-01-05T00:00:00+03:00"
    key = "triggering_asset_events" if AIRFLOW_V_3_0_PLUS else "triggering_dataset_events"
    context = {
        key: {
            load.UPLOADED_CALLS.uri: [
                event({"window_start": day5, "sha256": "new5"}, 3),
                event({"window_start": day4, "sha256": "old4"}, 1),
                event({"window_start": day4, "sha256": "new4"}, 2),
                event({"note": "not ours"}, 4),
            ]
        }
    }
    assert load.windows_told(context) == [
        {"window_start": day4, "sha256": "new4"},
        {"window_start": day5, "sha256": "new5"},
    ]


def test_a_day_landed_again_since_its_event_is_loaded_as_it_is_now(
    dags: tuple[Any, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    _, load = dags
    landed = tmp_path / "part-0.jsonl"
    landed.write_text('{"ext_id": "a"}\n')
    records = load.read_records({"uri": f"file://{landed}", "sha256": "0" * 64})
    assert records == [{"ext_id": "a"}]
    assert "changed since the event" in caplog.text + capsys.readouterr().out
