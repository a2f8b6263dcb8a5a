"""The pytest recipe of docs/testing.md, run as it is shown: a user's DAG under ``dag.test()`` against the emulator.

The page includes this file, so the recipe a user pastes is the one that passes here. Here "your DAG" is the
shipped ``dags/uis_uploaded_calls_daily.py``.
"""

from __future__ import annotations

# --- conftest.py: Airflow reads its configuration at its first import, so set it up before anything imports it ---
import os
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"  # your DAGs folder
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))

import json  # noqa: E402
import runpy  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pendulum  # noqa: E402
import pytest  # noqa: E402
from airflow.sdk import Connection  # noqa: E402

from uis_provider.testing import UISEmulator  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database (sqlite in AIRFLOW_HOME): ``dag.test()`` records its runs there."""
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def uis_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """An offline UIS Data API on a free loopback port, reachable as the Airflow connection ``uis_default``."""
    with UISEmulator(calls=2000, seed=1, start="2026-01-01", days=31, api_keys={"test-key": "valid"}) as api:
        conn = Connection(conn_id="uis_default", conn_type="uis", host=api.url, password="test-key")
        monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn.as_json())
        yield api


# --- test_my_dag.py ---------------------------------------------------------------------------------------------


def test_my_dag_lands_the_day(airflow_db: None, uis_api: UISEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri())  # where this DAG writes
    dag = runpy.run_path(str(DAGS / "uis_uploaded_calls_daily.py"))["dag"]  # your DAG, parsed afresh

    run = dag.test(logical_date=pendulum.datetime(2026, 1, 5, tz="Europe/Moscow"))  # the day 2026-01-04

    assert run.state == "success"
    out = tmp_path / "uploaded_calls" / "date=2026-01-04" / "part-0.jsonl"
    landed = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    truth = uis_api.records("2026-01-04", "2026-01-05")  # the emulator's own records of that day
    assert landed == sorted(truth, key=lambda record: record["ext_id"])
    assert uis_api.count("get.uploaded_calls") == 1  # 2 000 calls a month: one page a day
