"""The example DAG ``uis_upload_sense_extract`` in real ``dag.test()`` runs against the emulator over loopback.

Upload -> deferrable wait (the trigger runs inline in ``dag.test``) -> both extracts. The emulator's generated
history lies in March 2025, so the run's day (2026-01-14, the committed sample) holds only what the DAG uploads.
Uploads stay pending until a probe of the sensor has seen them; then a helper thread moves the emulator clock past
their processing, so the run really goes through the trigger.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
import pytest

from tests.conftest import API_KEY, conn_json, dag_test
from uis_provider.protocol.methods import CALLS_REPORT, UPLOADED_CALLS
from uis_provider.testing import UISEmulator
from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "uis_upload_sense_extract.py"
SAMPLE = REPO / "dags" / "data" / "calls_to_upload.jsonl"
TZ = "Europe/Moscow"
DAY = pendulum.datetime(2026, 1, 14, tz=TZ)
LOGICAL_DATE = DAY.add(days=1)
UPLOAD, SENSOR = "upload_calls", "wait_for_processing"
EXTRACT_UPLOADS, EXTRACT_REPORT = "extract_uploaded_calls", "extract_calls_report"
PROCESSING = 1200.0


@pytest.fixture
def api(make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch) -> UISEmulator:
    """An emulator with history in March 2025 only; uploads need 20 emulator minutes to finish."""
    emulator = make_emulator(calls=300, start="2025-03-01", days=3, new_seconds=600, process_seconds=PROCESSING)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(emulator.url))
    return emulator


def load_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path | None = None) -> ModuleType:
    """The example DAG module, freshly loaded with its output root in ``tmp_path`` (and another source if given)."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", (tmp_path / "out").as_uri())
    if source is None:
        monkeypatch.delenv("UIS_UPLOAD_SOURCE", raising=False)
    else:
        monkeypatch.setenv("UIS_UPLOAD_SOURCE", source.as_uri())
    spec = importlib.util.spec_from_file_location(f"uis_upload_sense_extract_{time.monotonic_ns()}", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.dag.get_task(SENSOR).poke_interval = 0.05
    module.dag.get_task(UPLOAD).batch_size = 8
    return module


def probes(api: UISEmulator) -> int:
    """The sensor's one-row probes answered so far."""
    return sum(1 for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"].get("limit") == 1)


def finish_processing_after_first_probe(api: UISEmulator) -> threading.Thread:
    """Once the sensor has seen the uploads pending, move the emulator clock past their processing."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while probes(api) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        api.clock.advance(PROCESSING + 60)

    thread = threading.Thread(target=run, name="finish-processing", daemon=True)
    thread.start()
    return thread


def run_dag(module: ModuleType, api: UISEmulator) -> Any:
    finisher = finish_processing_after_first_probe(api)
    dr = dag_test(module.dag, LOGICAL_DATE)
    finisher.join()
    return dr


def states(dr: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def xcom(dr: Any, task_id: str, key: str = "return_value") -> Any:
    ti = next(ti for ti in dr.get_task_instances() if ti.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id, key=key)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def output(tmp_path: Path, name: str) -> Path:
    return tmp_path / "out" / "upload_sense_extract" / name / "date=2026-01-14" / "part-0.jsonl"


def csv_cell(value: Any) -> str:
    """A call field as a CSV cell: JSON for nested values, true/false, empty for unset."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def sample_calls() -> list[dict[str, Any]]:
    return read_jsonl(SAMPLE)


def test_dag_wires_upload_sensor_and_both_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from uis_provider.version_compat import CronDataIntervalTimetable

    dag = load_dag(tmp_path, monkeypatch).dag
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert sorted(t.task_id for t in dag.get_task(UPLOAD).downstream_list) == [EXTRACT_UPLOADS, SENSOR]
    assert sorted(t.task_id for t in dag.get_task(SENSOR).downstream_list) == [EXTRACT_REPORT, EXTRACT_UPLOADS]
    assert dag.get_task(SENSOR).deferrable is True
    assert dag.get_task(UPLOAD).source_path == SAMPLE.as_uri()


def test_sample_is_realistic_and_valid() -> None:
    from uis_provider.protocol.upload_plan import jsonl_rows, validate_rows

    calls = sample_calls()
    valid, invalid = validate_rows(jsonl_rows(SAMPLE.read_text(encoding="utf-8").splitlines()))
    assert invalid == []
    assert 15 <= len(valid) == len(calls) <= 30
    assert sum("wav_records" in c for c in calls) >= 3
    assert sum("mp3_records" in c for c in calls) >= 3
    assert all(c["start_time"].startswith("2026-01-14") for c in calls)


def test_upload_sense_extract_lands_the_uploads_and_their_processed_calls(
    api: UISEmulator,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = load_dag(tmp_path, monkeypatch)
    calls = sample_calls()
    dr = run_dag(module, api)

    assert states(dr) == {UPLOAD: "success", SENSOR: "success", EXTRACT_UPLOADS: "success", EXTRACT_REPORT: "success"}
    if AIRFLOW_V_3_0_PLUS:  # Airflow 2's dag.test() runs the trigger in line without saying so
        assert "[DAG TEST] running trigger in line" in caplog.text
    upload = xcom(dr, UPLOAD)
    assert upload["sent"] == len(calls) == 20
    assert upload["batches"] == 3
    assert upload["skipped"] == []
    sent_ids = [r["id"] for r in api.requests if r["method"] == "upload.calls"]
    assert sent_ids == upload["request_ids"] == xcom(dr, UPLOAD, "request_ids")
    assert len(set(sent_ids)) == 3

    summary = xcom(dr, SENSOR)
    assert summary["total"] == 20
    assert summary["statuses"] == {"processed": 20}

    truth = {r["ext_id"]: r for r in api.records() if r["ext_id"].startswith("pbx-")}
    uploaded = read_jsonl(output(tmp_path, "uploaded_calls"))
    assert sorted(r["ext_id"] for r in uploaded) == sorted(c["ext_id"] for c in calls)
    assert uploaded == [{c: truth[r["ext_id"]][c] for c in UPLOADED_CALLS.columns} for r in uploaded]
    batch_of = {c["ext_id"]: sent_ids[i // 8] for i, c in enumerate(calls)}
    assert all(r["ext_request_id"] == batch_of[r["ext_id"]] for r in uploaded)
    assert all(r["status"] == "processed" and r["call_session_id"] for r in uploaded)

    report = read_jsonl(output(tmp_path, "calls_report"))
    expected = api.report_rows("2026-01-14", "2026-01-15")
    assert report == [
        {c: r[c] for c in CALLS_REPORT.columns} for r in sorted(expected, key=lambda r: (r["start_time"], r["id"]))
    ]
    assert sorted(r["id"] for r in report) == sorted(r["call_session_id"] for r in uploaded)
    assert {r["source"] for r in report} == {"upload_calls"}
    by_id = {r["call_session_id"]: r for r in uploaded}
    assert all(r["start_time"] == by_id[r["id"]]["start_time"] for r in report)
    assert all(API_KEY not in json.dumps(xcom(dr, task)) for task in (UPLOAD, SENSOR, EXTRACT_UPLOADS))


def test_running_the_day_again_neither_duplicates_nor_loses_uploads(
    api: UISEmulator, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_dag(tmp_path, monkeypatch)
    first = run_dag(module, api)
    first_ids = xcom(first, UPLOAD)["request_ids"]
    first_files = {name: output(tmp_path, name).read_bytes() for name in ("uploaded_calls", "calls_report")}
    api.reset_log()

    second = run_dag(load_dag(tmp_path, monkeypatch), api)

    assert set(states(second).values()) == {"success"}
    assert xcom(second, UPLOAD)["request_ids"] == first_ids
    assert [r["id"] for r in api.requests if r["method"] == "upload.calls"] == first_ids
    records = [r for r in api.records() if r["ext_id"].startswith("pbx-")]
    assert len(records) == len({r["ext_id"] for r in records}) == 20
    assert {r["ext_request_id"] for r in records} == set(first_ids)
    assert xcom(second, SENSOR)["statuses"] == {"processed": 20}
    assert {name: output(tmp_path, name).read_bytes() for name in first_files} == first_files


def test_csv_gzip_source_with_a_broken_recording_reports_its_error(
    api: UISEmulator, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = sample_calls()[:6]
    calls[2]["mp3_records"] = [{"record_url": "https://records.pbx.example.ru/missing/call.mp3"}]
    calls[2].pop("wav_records", None)
    columns = sorted({key for call in calls for key in call})
    source = tmp_path / "calls.csv.gz"
    with gzip.open(source, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([csv_cell(call.get(column)) for column in columns] for call in calls)
    dr = run_dag(load_dag(tmp_path, monkeypatch, source), api)

    assert set(states(dr).values()) == {"success"}
    assert xcom(dr, SENSOR)["statuses"] == {"processed": 5, "error": 1}
    assert xcom(dr, SENSOR)["error_codes"] == {"http_status_download_error": 1}
    uploaded = {r["ext_id"]: r for r in read_jsonl(output(tmp_path, "uploaded_calls"))}
    assert set(uploaded) == {c["ext_id"] for c in calls}
    broken = uploaded[calls[2]["ext_id"]]
    assert (broken["status"], broken["error_code"], broken["record_type"]) == (
        "error",
        "http_status_download_error",
        "mp3",
    )
    report_ids = {r["id"] for r in read_jsonl(output(tmp_path, "calls_report"))}
    assert report_ids == {r["call_session_id"] for r in uploaded.values() if r["status"] == "processed"}
