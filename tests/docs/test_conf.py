"""The Sphinx configuration leaves nothing outside the build: Airflow's home (autodoc imports Airflow) lives in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BUILD = """
import runpy, sys, types
from pathlib import Path
conf = runpy.run_path(sys.argv[1])
app = types.SimpleNamespace(doctreedir=sys.argv[2], connect=lambda *args: None)
conf["setup"](app)
import uis_provider.hooks.uis  # what autodoc does: the package imports Airflow, which makes its home
from airflow.configuration import conf as airflow_conf
print(airflow_conf.get("database", "sql_alchemy_conn"))
"""


def test_airflow_home_of_a_docs_build_is_inside_the_build(tmp_path: Path) -> None:
    temp, doctrees = tmp_path / "tmp", tmp_path / "_build" / "doctrees"
    temp.mkdir()
    doctrees.mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["TMPDIR"] = str(temp)
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(REPO / "docs" / "conf.py"), str(doctrees)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert str(doctrees / "airflow-home") in result.stdout
    assert list(temp.iterdir()) == []
