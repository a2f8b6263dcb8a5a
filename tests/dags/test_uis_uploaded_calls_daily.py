"""The example DAG ``uis_uploaded_calls_daily`` run for real with ``dag.test()`` against the emulator on loopback.

Each run leaves the day's file, its manifest and one asset event whose extra matches the manifest; uploads still
processing at midnight land with ``final: false`` and the lookback of a later run lands the day again once settled.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
import pytest

from tests.conftest import asset_events, dag_test, load_dag_file, make_upload_calls, start_upload_emulator, upload_calls
from uis_provider.asset_events import EXTRA_KEYS
from uis_provider.testing import UISEmulator
from uis_provider.version_compat import AIRFLOW_V_3_3_PLUS, CronDataIntervalTimetable

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "uis_uploaded_calls_daily.py"
TZ = "Europe/Moscow"


def load_dag_module() -> ModuleType:
    """Import the DAG file afresh (it reads ``UIS_OUTPUT_ROOT`` when parsed)."""
    module: ModuleType = load_dag_file(DAG_FILE)
    return module


def day_file(root: Path, day: str) -> Path:
    return root / "uploaded_calls" / f"date={day}" / "part-0.jsonl"


def manifest_of(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text(encoding="utf-8"))


def test_dag_shape_and_default_output_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UIS_OUTPUT_ROOT", raising=False)
    module = load_dag_module()
    assert (DAG_FILE.parent.parent / "output").as_uri() == module.OUTPUT_ROOT
    dag = module.dag
    assert dag.dag_id == "uis_uploaded_calls_daily"
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False
    assert "airflow backfill create --dag-id uis_uploaded_calls_daily" in (module.__doc__ or "")
    assert dag.get_task("extract_uploaded_calls").outlets == [module.UPLOADED_CALLS]
    assert dag.get_task("extract_uploaded_calls").partition_assets is AIRFLOW_V_3_3_PLUS
    assert {t.task_id for t in dag.tasks} == {"extract_uploaded_calls", "unsettled_days", "reland_unsettled"}


def test_dag_test_lands_the_interval_its_manifest_and_one_matching_asset_event(
    airflow_db: Path, uis_conn: str, emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri() + "/")
    module = load_dag_module()
    run = dag_test(module.dag, pendulum.datetime(2026, 1, 5, tz=TZ))
    assert run.state == "success"
    # the run's ds is 2026-01-05 (the interval end): the file must be named by the interval start
    out = day_file(tmp_path, "2026-01-04")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "uploaded_calls/date=2026-01-04/part-0.jsonl",
        "uploaded_calls/date=2026-01-04/part-0.jsonl.manifest.json",
    ]
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    truth = sorted(emulator.records("2026-01-04", "2026-01-05"), key=lambda r: r["ext_id"])
    assert got == truth
    assert len(got) > 0
    manifest = manifest_of(out)
    assert (manifest["rows"], manifest["bytes"]) == (len(truth), out.stat().st_size)
    assert (manifest["window_start"], manifest["window_end"]) == (
        "2026-01-04T00:00:00+03:00",
        "2026-01-05T00:00:00+03:00",
    )
    assert (manifest["pending"], manifest["final"]) == (0, True)
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == "extract_uploaded_calls")
    xcom = ti.xcom_pull(task_ids="extract_uploaded_calls")
    assert xcom == {
        "path": f"file://{out}",
        "records": len(truth),
        "date_from": "2026-01-04T00:00:00+03:00",
        "date_till": "2026-01-05T00:00:00+03:00",
        "api_calls": emulator.count(),
        "bytes": manifest["bytes"],
        "sha256": manifest["sha256"],
        "manifest": f"file://{out}" + ".manifest.json",
        "final": True,
        "pending": 0,
    }
    [(extra, key)] = asset_events(module.UPLOADED_CALLS.uri)
    assert {name: extra[name] for name in EXTRA_KEYS} == {name: manifest[name] for name in EXTRA_KEYS}
    assert (extra["pending"], extra["manifest_uri"]) == (0, f"file://{out}" + ".manifest.json")
    assert key == ("2026-01-04T00:00:00" if AIRFLOW_V_3_3_PLUS else None)


MIDNIGHT = pendulum.datetime(2027, 5, 11, tz=TZ)


def test_uploads_settling_after_midnight_land_not_final_and_the_lookback_replaces_them(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Calls uploaded at 23:55 settle at 00:05: the 00:01 run lands them pending, the next day's lookback lands the
    day again with final statuses, and a lookback over settled days lands nothing."""
    api = start_upload_emulator(monkeypatch, MIDNIGHT.subtract(days=1), seed=21, new_seconds=300, process_seconds=600)
    try:
        api.clock.advance(MIDNIGHT.subtract(minutes=5).timestamp() - api.clock.time())
        ext_ids = upload_calls(make_upload_calls(api, 4, prefix="late", timezone=TZ))
        monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri())
        module = load_dag_module()
        uri = module.UPLOADED_CALLS.uri
        day = day_file(tmp_path, MIDNIGHT.subtract(days=1).to_date_string())

        api.clock.advance(360)  # 00:01, the uploads are in_process
        assert dag_test(module.dag, MIDNIGHT).state == "success"
        first = manifest_of(day)
        assert (first["statuses"], first["pending"], first["final"]) == ({"in_process": 4}, 4, False)
        assert [extra["final"] for extra, _ in asset_events(uri)] == [False]

        api.clock.advance(86_400)  # 00:01 the next day: settled long ago
        assert dag_test(module.dag, MIDNIGHT.add(days=1)).state == "success"
        second = manifest_of(day)
        assert (second["statuses"], second["pending"], second["final"]) == ({"processed": 4}, 0, True)
        assert sorted(r["ext_id"] for r in map(json.loads, day.read_text().splitlines())) == sorted(ext_ids)
        events = asset_events(uri)
        assert [(e["window_start"], e["final"]) for e, _ in events] == [
            (MIDNIGHT.subtract(days=1).isoformat(), False),
            (MIDNIGHT.isoformat(), True),  # the run's own day: empty, final
            (MIDNIGHT.subtract(days=1).isoformat(), True),  # the re-landed day
        ]
        assert events[-1][0]["sha256"] == second["sha256"]

        landed, stamp = day.read_bytes(), day.stat().st_mtime_ns
        api.clock.advance(86_400)
        assert dag_test(module.dag, MIDNIGHT.add(days=2)).state == "success"
        assert (day.read_bytes(), day.stat().st_mtime_ns) == (landed, stamp), "a final day is never landed again"
        assert len(asset_events(uri)) == 4
    finally:
        api.stop()


def readme_dag() -> Any:
    """The README's first DAG, run as printed."""
    text = (DAG_FILE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- first-dag:start -->", 1)[1].split("<!-- first-dag:end -->", 1)[0]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_first_dag"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["dag"]


def test_the_readme_dag_is_this_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README says this file is its first DAG: the same schedule, concurrency, retries and connections (this
    file adds the lookback's tasks and the asset)."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", "s3://my-bucket/uis")
    monkeypatch.setenv("UIS_OUTPUT_CONN_ID", "aws_s3")
    shipped, printed = load_dag_module().dag, readme_dag()
    for attribute in ("dag_id", "start_date", "catchup", "max_active_runs"):
        assert getattr(shipped, attribute) == getattr(printed, attribute), attribute
    assert shipped.timetable == printed.timetable  # cron expression and time zone
    assert set(shipped.task_dict) - set(printed.task_dict) == {"unsettled_days", "reland_unsettled"}
    for task_id, twin in printed.task_dict.items():
        task = shipped.task_dict[task_id]
        assert type(task) is type(twin)
        for attribute in ("uis_conn_id", "output_path", "output_conn_id", "retries", "retry_delay", "file_format"):
            assert getattr(task, attribute) == getattr(twin, attribute), f"{task_id}.{attribute}"
