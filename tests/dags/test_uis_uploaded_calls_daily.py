"""The example DAG ``uis_uploaded_calls_daily`` run for real with ``dag.test()`` against the emulator on loopback."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
import pytest

from tests.conftest import dag_test
from uis_provider.testing import UISEmulator
from uis_provider.version_compat import CronDataIntervalTimetable

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "uis_uploaded_calls_daily.py"
TZ = "Europe/Moscow"


def load_dag_module() -> ModuleType:
    """Import the DAG file afresh (it reads ``UIS_OUTPUT_ROOT`` when parsed)."""
    spec = importlib.util.spec_from_file_location(f"uis_uploaded_calls_daily_{uuid.uuid4().hex}", DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dag_shape_and_default_output_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UIS_OUTPUT_ROOT", raising=False)
    module = load_dag_module()
    assert (DAG_FILE.parent.parent / "output").as_uri() == module.OUTPUT_ROOT
    dag = module.dag
    assert dag.dag_id == "uis_uploaded_calls_daily"
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False
    assert "airflow backfill create --dag-id uis_uploaded_calls_daily" in (module.__doc__ or "")


def test_dag_test_lands_the_interval_keyed_by_its_start(
    airflow_db: Path, uis_conn: str, emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri() + "/")
    dag = load_dag_module().dag
    run = dag_test(dag, pendulum.datetime(2026, 1, 5, tz=TZ))
    assert run.state == "success"
    # the run's ds is 2026-01-05 (the interval end): the file must be named by the interval start
    out = tmp_path / "uploaded_calls" / "date=2026-01-04" / "part-0.jsonl"
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        "uploaded_calls/date=2026-01-04/part-0.jsonl"
    ]
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    truth = sorted(emulator.records("2026-01-04", "2026-01-05"), key=lambda r: r["ext_id"])
    assert got == truth
    assert len(got) > 0
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == "extract_uploaded_calls")
    xcom = ti.xcom_pull(task_ids="extract_uploaded_calls")
    assert xcom == {
        "path": f"{tmp_path.as_uri()}/uploaded_calls/date=2026-01-04/part-0.jsonl",
        "records": len(truth),
        "date_from": "2026-01-04T00:00:00+03:00",
        "date_till": "2026-01-05T00:00:00+03:00",
        "api_calls": emulator.count(),
    }


def readme_dag() -> Any:
    """The README's first DAG, run as printed."""
    text = (DAG_FILE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- first-dag:start -->", 1)[1].split("<!-- first-dag:end -->", 1)[0]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "readme_first_dag"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace["dag"]


def test_the_readme_dag_is_this_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README says this file is its first DAG: the same schedule, concurrency, retries and connections."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", "s3://my-bucket/uis")
    monkeypatch.setenv("UIS_OUTPUT_CONN_ID", "aws_s3")
    shipped, printed = load_dag_module().dag, readme_dag()
    for attribute in ("dag_id", "start_date", "catchup", "max_active_runs"):
        assert getattr(shipped, attribute) == getattr(printed, attribute), attribute
    assert shipped.timetable == printed.timetable  # cron expression and time zone
    assert sorted(shipped.task_dict) == sorted(printed.task_dict)
    for task_id, task in shipped.task_dict.items():
        twin = printed.task_dict[task_id]
        assert type(task) is type(twin)
        for attribute in ("uis_conn_id", "output_path", "output_conn_id", "retries", "retry_delay", "file_format"):
            assert getattr(task, attribute) == getattr(twin, attribute), f"{task_id}.{attribute}"
