"""The provider's pytest plugin, in pytest runs of their own (a new process each, found by its entry point).

What it must do for a user: import nothing heavy when pytest loads it, give Airflow a home of its own before any
test module imports Airflow (and remove it afterwards), start the emulator as the marker says, and never take over
an Airflow home a conftest set up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def run_pytest(project: Path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` in ``project`` holding ``files``, with no Airflow settings inherited."""
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST_"))}
    env["AIRFLOW_HOME"] = str(project / "real-airflow-home")  # what a user's shell may have: must stay untouched
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_loading_the_plugin_imports_neither_airflow_nor_the_emulator() -> None:
    code = (
        "import sys, uis_provider.testing.pytest_plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'requests', 'pendulum')"
        " or m == 'uis_provider.testing.emulator')\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_airflow_gets_a_home_of_its_own_before_test_modules_import_it(tmp_path: Path) -> None:
    test = """
        import os
        from pathlib import Path

        from airflow.configuration import conf  # at import time, as a DAG module would

        HOME = Path(os.environ["AIRFLOW_HOME"])


        def test_home():
            assert HOME.name.startswith("uis-pytest-airflow-")
            assert conf.get("database", "sql_alchemy_conn") == f"sqlite:///{HOME / 'airflow.db'}"
            assert Path(conf.get("core", "dags_folder")) == Path.cwd() / "dags"
            assert not conf.getboolean("core", "load_examples")
            print("HOME", HOME)
    """
    result = run_pytest(tmp_path, {"test_home.py": test}, "-s")
    assert result.returncode == 0, result.stdout + result.stderr
    home = Path(next(line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("HOME ")))
    assert not home.exists(), "the plugin's Airflow home outlived the run"
    assert not (tmp_path / "real-airflow-home").exists()


def test_the_marker_sets_the_emulator_and_the_connection(tmp_path: Path) -> None:
    test = """
        import json
        import os

        import pytest


        @pytest.mark.uis_emulator(calls=40, timezone="Asia/Novosibirsk", conn_id="uis_nsk")
        def test_marked(uis_emulator):
            conn = json.loads(os.environ["AIRFLOW_CONN_UIS_NSK"])
            assert conn == {"conn_type": "uis", "host": uis_emulator.url, "password": "test-api-key"}
            assert len(uis_emulator.records("2026-01-01", "2026-02-01")) == 40
            assert str(uis_emulator.timezone) == "Asia/Novosibirsk"
            assert "AIRFLOW_CONN_UIS_DEFAULT" not in os.environ


        def test_default(uis_emulator):
            conn = json.loads(os.environ["AIRFLOW_CONN_UIS_DEFAULT"])
            assert conn["host"] == uis_emulator.url
            assert len(uis_emulator.records("2026-01-01", "2026-02-01")) == 2000
    """
    result = run_pytest(tmp_path, {"test_marker.py": test}, "--strict-markers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.parametrize(
    ("files", "home"),
    [
        pytest.param(
            {"conftest.py": "import os\nos.environ['AIRFLOW_HOME'] = os.path.abspath('my-home')\n"},
            "my-home",
            id="conftest-sets-its-own",
        ),
        pytest.param({"pytest.ini": "[pytest]\nuis_airflow_home = false\n"}, "real-airflow-home", id="turned-off"),
    ],
)
def test_an_airflow_home_set_up_by_the_project_is_left_alone(tmp_path: Path, files: dict[str, str], home: str) -> None:
    test = """
        import os
        from pathlib import Path


        def test_home():
            print("HOME", os.environ["AIRFLOW_HOME"])


        def test_db_is_not_migrated_elsewhere(uis_airflow_db):
            pass
    """
    result = run_pytest(tmp_path, {**files, "test_home.py": test}, "-s")
    assert f"HOME {tmp_path / home}" in result.stdout, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "uis_airflow_db migrates only the Airflow home the uis plugin made" in result.stdout
    assert not (tmp_path / home / "airflow.db").exists()
