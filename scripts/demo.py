"""The main job, offline: run the example DAG once against the bundled UIS emulator and land a day in ./output.

Starts the emulator on a random loopback port, points ``uis_default`` at it, migrates a private Airflow
metadata DB under ./.airflow, runs ``uis_uploaded_calls_daily`` with ``dag.test()`` for the day 2026-01-04
(Moscow), then checks the file against the emulator's own records and says where it went.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow"
os.environ["AIRFLOW_HOME"] = str(HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{HOME / 'airflow.db'}"
os.environ.setdefault("UIS_OUTPUT_ROOT", str(REPO / "output"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
# Airflow 3.3's dependency svcs imports Starlette's test client, which warns from Starlette 1.2 on; harmless, and
# not the demo's to show (docs/testing.md)
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`", category=UserWarning)

DAG_ID = "uis_uploaded_calls_daily"
API_KEY = "demo-api-key"


def main() -> int:
    HOME.mkdir(exist_ok=True)
    import pendulum
    from airflow.sdk import Connection

    from uis_provider.testing import UISEmulator

    with UISEmulator(calls=5000, seed=7, start="2026-01-01", days=31, api_keys={API_KEY: "valid"}) as api:
        print(f"UIS emulator on {api.url} with 5000 uploaded calls in January 2026 (Europe/Moscow)")
        os.environ["AIRFLOW_CONN_UIS_DEFAULT"] = Connection(
            conn_id="uis_default", conn_type="uis", host=api.url, password=API_KEY
        ).as_json()

        import runpy

        from airflow.utils.db import resetdb

        resetdb()
        dag = runpy.run_path(str(REPO / "dags" / f"{DAG_ID}.py"))["dag"]
        # CronDataIntervalTimetable: the run at 2026-01-05 00:00 Moscow covers [2026-01-04, 2026-01-05)
        run = dag.test(logical_date=pendulum.datetime(2026, 1, 5, tz="Europe/Moscow"))
        if run.state != "success":
            print(f"the DAG run ended {run.state}", file=sys.stderr)
            return 1
        out = Path(os.environ["UIS_OUTPUT_ROOT"]) / "uploaded_calls" / "date=2026-01-04" / "part-0.jsonl"
        lines = out.read_text(encoding="utf-8").splitlines()
        landed = [json.loads(line)["ext_id"] for line in lines]
        truth = sorted(r["ext_id"] for r in api.records("2026-01-04 00:00:00", "2026-01-05 00:00:00"))
        api_calls = api.count("get.uploaded_calls")
    print(f"\nLanded {len(landed)} uploaded calls for [2026-01-04 00:00, 2026-01-05 00:00) Europe/Moscow")
    print(f"  output:    {out}")
    print(f"  API calls: {api_calls} get.uploaded_calls")
    if sorted(landed) != truth or len(set(landed)) != len(landed):
        print(f"MISMATCH: the emulator holds {len(truth)} calls for that day", file=sys.stderr)
        return 1
    print(f"  check:     matches the emulator's {len(truth)} calls for that day, none twice")
    return 0


if __name__ == "__main__":
    sys.exit(main())
