"""The example DAG ``uis_upload_then_extract`` in real ``dag.test()`` runs against the emulator over loopback.

Covers the deferrable wait (the trigger runs inline in ``dag.test``), reschedule and poke modes, ``fail_on_error``
with and without ``soft_fail``, and the sensor timeout. Uploads are made with ``upload.calls`` on an emulator whose
clock is moved to a fixed future noon, so the run's data interval holds only this test's uploads.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
import pytest

from tests.conftest import conn_json, dag_test
from uis_provider.hooks.uis import UISHook
from uis_provider.testing import UISEmulator
from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "uis_upload_then_extract.py"
API_KEY = "dag-test-api-key-51c2"
TZ = "Europe/Moscow"
DAY = pendulum.datetime(2027, 3, 10, tz=TZ)
LOGICAL_DATE = DAY.add(days=1)
SENSOR = "wait_for_uploads"
EXTRACT = "extract_uploaded_calls"
QUICK_POKE = 0.05


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """An emulator whose clock reads noon of ``DAY``; uploads stay ``new`` 600 s and finish 1 200 s after upload."""
    with UISEmulator(
        calls=300,
        seed=5,
        start="2026-01-01",
        days=10,
        api_keys={API_KEY: "valid"},
        new_seconds=600,
        process_seconds=1200,
    ) as emulator:
        emulator.clock.advance(DAY.add(hours=12).timestamp() - emulator.clock.time())
        monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(emulator.url, password=API_KEY))
        yield emulator


@pytest.fixture
def example(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example DAG module, freshly loaded with its output root in ``tmp_path``."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", (tmp_path / "out").as_uri())
    spec = importlib.util.spec_from_file_location(f"uis_upload_then_extract_{id(tmp_path)}", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.dag.get_task(SENSOR).poke_interval = QUICK_POKE
    return module


def upload(api: UISEmulator, n: int, *, broken: int = 0) -> list[str]:
    """Upload ``n`` calls now (the last ``broken`` have a recording URL that fails to download); their ext_ids."""
    now = pendulum.from_timestamp(api.clock.time(), tz=TZ)
    calls = []
    for i in range(n):
        url = "https://records.example/missing.mp3" if i >= n - broken else "https://records.example/ok.mp3"
        calls.append(
            {
                "ext_id": f"dag-{now.int_timestamp}-{i}",
                "is_lost": False,
                "calling_phone_number": "74951234567",
                "called_phone_number": "79161234567",
                "start_time": now.subtract(minutes=10).strftime("%Y-%m-%d %H:%M:%S"),
                "finish_time": now.subtract(minutes=8).strftime("%Y-%m-%d %H:%M:%S"),
                "mp3_records": [{"record_url": url}],
            }
        )
    with UISHook("uis_default") as hook:
        hook.call("upload.calls", {"calls": calls})
    return [c["ext_id"] for c in calls]


def probes(api: UISEmulator) -> int:
    """How many one-row probe calls (one per poke) the emulator answered."""
    return sum(1 for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"].get("limit") == 1)


def finish_uploads_after(api: UISEmulator, n_probes: int) -> threading.Thread:
    """Once ``n_probes`` probes have seen the uploads pending, move the clock past their processing."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while probes(api) < n_probes and time.monotonic() < deadline:
            time.sleep(0.01)
        api.clock.advance(1300)

    thread = threading.Thread(target=run, name="finish-uploads", daemon=True)
    thread.start()
    return thread


def run_dag(module: ModuleType) -> Any:
    return dag_test(module.dag, LOGICAL_DATE)


def ti_states(dr: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def reschedules(dr: Any, task_id: str) -> int:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    ti = dr.get_task_instance(task_id)
    if AIRFLOW_V_3_0_PLUS:
        of_this_ti = [TaskReschedule.ti_id == ti.id]
    else:
        of_this_ti = [
            TaskReschedule.dag_id == ti.dag_id,
            TaskReschedule.task_id == ti.task_id,
            TaskReschedule.run_id == ti.run_id,
        ]
    with create_session() as session:
        return int(session.scalar(select(func.count()).where(*of_this_ti)) or 0)


def xcom(dr: Any, task_id: str, key: str = "return_value") -> Any:
    ti = next(ti for ti in dr.get_task_instances() if ti.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id, key=key)


def core_timetable(timetable: Any) -> Any:
    """The scheduler's timetable behind a DAG's (3.2+ DAGs hold the Task SDK's; before, they hold core's)."""
    from uis_provider.version_compat import AIRFLOW_V_3_2_PLUS

    if not AIRFLOW_V_3_2_PLUS:
        return timetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(timetable)


def test_dag_parses_with_a_data_interval_timetable(example: ModuleType) -> None:
    from uis_provider.version_compat import CronDataIntervalTimetable

    dag = example.dag
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    sensor = dag.get_task(SENSOR)
    assert sensor.deferrable is True
    assert [t.task_id for t in sensor.downstream_list] == [EXTRACT]
    interval = core_timetable(dag.timetable).infer_manual_data_interval(run_after=LOGICAL_DATE)
    assert (interval.start, interval.end) == (DAY, LOGICAL_DATE)


def test_deferred_run_waits_through_the_trigger_then_extracts(
    api: UISEmulator, example: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ext_ids = upload(api, 5, broken=1)
    finisher = finish_uploads_after(api, 3)
    dr = run_dag(example)
    finisher.join()

    assert ti_states(dr) == {SENSOR: "success", EXTRACT: "success"}
    assert probes(api) >= 3
    if AIRFLOW_V_3_0_PLUS:  # Airflow 2's dag.test() runs the trigger in line without saying so
        assert "[DAG TEST] running trigger in line" in caplog.text
    summary = xcom(dr, SENSOR)
    assert summary["total"] == 5
    assert summary["statuses"] == {"error": 1, "processed": 4}
    assert summary["error_codes"] == {"http_status_download_error": 1}
    assert summary["date_from"] == DAY.isoformat()
    assert summary["date_till"] == LOGICAL_DATE.isoformat()

    out = tmp_path / "out" / "uploaded_calls_settled" / "date=2027-03-10" / "part-0.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["ext_id"] for r in rows) == sorted(ext_ids)
    assert {r["status"] for r in rows} == {"processed", "error"}
    tokens = [json.dumps(r["params"]) for r in api.requests if r["method"]]
    assert all(API_KEY in t for t in tokens)


@pytest.mark.xfail(
    AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS,
    reason="Airflow 3.0.6's in-process dag.test() hands BaseSensorOperator the first reschedule date as a string "
    "(TypeError: datetime - str inside Airflow's sensor); 3.1+ and 2.11 reschedule fine",
    strict=True,
)
def test_reschedule_mode_frees_the_slot_until_done(api: UISEmulator, example: ModuleType) -> None:
    sensor = example.dag.get_task(SENSOR)
    sensor.deferrable = False
    sensor.mode = "reschedule"
    upload(api, 3)
    finisher = finish_uploads_after(api, 2)
    dr = run_dag(example)
    finisher.join()

    assert ti_states(dr) == {SENSOR: "success", EXTRACT: "success"}
    assert probes(api) >= 2
    assert reschedules(dr, SENSOR) >= 1
    assert xcom(dr, SENSOR)["statuses"] == {"processed": 3}


def test_fail_on_error_fails_the_task_naming_the_codes(
    api: UISEmulator, example: ModuleType, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sensor = example.dag.get_task(SENSOR)
    sensor.fail_on_error = True
    upload(api, 4, broken=2)
    finisher = finish_uploads_after(api, 2)
    dr = run_dag(example)
    finisher.join()

    states = ti_states(dr)
    assert states[SENSOR] == "failed"
    assert states[EXTRACT] == "upstream_failed"
    # Airflow 3 prints the task's failure to stdout; Airflow 2 logs it; 3.0's in-process runner shows it in
    # neither, so there the sensor's own summary of the codes is what can be read
    output = capfd.readouterr().out + caplog.text
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        assert "error codes {'http_status_download_error': 2}" in output
    else:
        assert "2 of 4 selected uploads ended with status 'error' (http_status_download_error x2)" in output


def test_soft_fail_skips_on_upload_errors(api: UISEmulator, example: ModuleType) -> None:
    sensor = example.dag.get_task(SENSOR)
    sensor.fail_on_error = True
    sensor.soft_fail = True
    upload(api, 2, broken=1)
    api.clock.advance(1300)
    dr = run_dag(example)

    assert ti_states(dr) == {SENSOR: "skipped", EXTRACT: "skipped"}


def test_poke_mode_times_out_and_soft_fail_skips(api: UISEmulator, example: ModuleType) -> None:
    sensor = example.dag.get_task(SENSOR)
    sensor.deferrable = False
    sensor.timeout = 0.3
    upload(api, 1)
    dr = run_dag(example)
    assert ti_states(dr)[SENSOR] == "failed"

    sensor.soft_fail = True
    dr = run_dag(example)
    assert ti_states(dr)[SENSOR] == "skipped"
    assert all(r["error"] is None for r in api.requests)


def test_empty_day_is_done_at_the_first_poke(api: UISEmulator, example: ModuleType) -> None:
    dr = run_dag(example)

    assert ti_states(dr) == {SENSOR: "success", EXTRACT: "success"}
    assert probes(api) == 1
    assert xcom(dr, SENSOR) == {
        "date_from": DAY.isoformat(),
        "date_till": LOGICAL_DATE.isoformat(),
        "total": 0,
        "statuses": {},
        "error_codes": {},
    }


@pytest.fixture
def db_connection(api: UISEmulator, airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``uis_default`` stored in the metadata DB (``airflow connections add``), with no ``AIRFLOW_CONN_`` variable."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    monkeypatch.delenv("AIRFLOW_CONN_UIS_DEFAULT")
    with create_session() as session:
        session.add(Connection(conn_id="uis_default", conn_type="uis", host=api.url, password=API_KEY))
    try:
        yield "uis_default"
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == "uis_default").delete()


def test_deferred_run_finds_a_metadata_db_connection_in_the_inline_trigger(
    api: UISEmulator, example: ModuleType, db_connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 3: dag.test()'s inline trigger used to fail with 'no such Airflow connection'."""
    with monkeypatch.context() as env:  # the test's own upload runs outside a task: it needs the variable
        env.setenv("AIRFLOW_CONN_UIS_DEFAULT", json.dumps({"conn_type": "uis", "host": api.url, "password": API_KEY}))
        upload(api, 3)
    finisher = finish_uploads_after(api, 2)
    dr = run_dag(example)
    finisher.join()
    assert ti_states(dr) == {SENSOR: "success", EXTRACT: "success"}
    assert xcom(dr, SENSOR)["statuses"] == {"processed": 3}
