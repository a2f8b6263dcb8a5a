"""The example DAG ``uis_uploaded_calls_final`` (``on_pending="wait"``, deferrable) in real ``dag.test()`` runs.

Calls uploaded at 23:55 are still processing at 00:01, when the run for that day starts: the extract counts them,
defers to the trigger (run inline by ``dag.test``), and lands the day only once they have settled, as a manifest
with ``final: true`` and an asset event saying so.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pendulum
import pytest

from tests.conftest import asset_events, dag_test, load_dag_file, make_upload_calls, start_upload_emulator, upload_calls
from uis_provider.testing import UISEmulator

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "uis_uploaded_calls_final.py"
TZ = "Europe/Moscow"
MIDNIGHT = pendulum.datetime(2027, 6, 2, tz=TZ)


def probes(api: UISEmulator) -> int:
    return sum(1 for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"].get("limit") == 1)


def test_waits_for_the_uploads_to_settle_then_lands_only_final_statuses(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = start_upload_emulator(monkeypatch, MIDNIGHT.subtract(days=1), seed=23, new_seconds=300, process_seconds=600)
    try:
        api.clock.advance(MIDNIGHT.subtract(minutes=5).timestamp() - api.clock.time())
        ext_ids = upload_calls(make_upload_calls(api, 3, prefix="late", timezone=TZ))
        api.clock.advance(360)  # 00:01: the day's uploads are in_process
        monkeypatch.setenv("UIS_OUTPUT_ROOT", tmp_path.as_uri())
        monkeypatch.setenv("UIS_POKE_INTERVAL", "0.1")
        module = load_dag_file(DAG_FILE)

        def settle_after_three_probes() -> None:
            deadline = time.monotonic() + 120
            while probes(api) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            api.clock.advance(600)

        settler = threading.Thread(target=settle_after_three_probes, daemon=True)
        settler.start()
        run = dag_test(module.dag, MIDNIGHT)
        settler.join()
        assert run.state == "success"

        day = tmp_path / "uploaded_calls_final" / f"date={MIDNIGHT.subtract(days=1).to_date_string()}" / "part-0.jsonl"
        records = [json.loads(line) for line in day.read_text().splitlines()]
        assert sorted(r["ext_id"] for r in records) == sorted(ext_ids)
        assert {r["status"] for r in records} == {"processed"}
        manifest = json.loads(Path(f"{day}.manifest.json").read_text())
        assert (manifest["statuses"], manifest["pending"], manifest["final"]) == ({"processed": 3}, 0, True)
        [(extra, _)] = asset_events(module.FINAL_CALLS.uri)
        assert (extra["final"], extra["pending"], extra["sha256"]) == (True, 0, manifest["sha256"])
        assert probes(api) >= 3, "it counted the pending uploads before landing"
        pages = [r for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"].get("limit") != 1]
        assert len(pages) == 1, "the day was read once, after it settled"
    finally:
        api.stop()
