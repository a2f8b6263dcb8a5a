"""The pytest recipe of docs/testing.md, run as a user runs it: its file in a fresh directory beside a ``dags/``
folder, ``python -m pytest`` in a new process, the provider's pytest plugin found through its entry point.

The page is the source: the blocks marked ``<!-- file: PATH -->`` are written to PATH, and "your DAG" is the shipped
``dags/uis_uploaded_calls_daily.py``. The run must pass without a pytest warning, and leave nothing in the temp
directory but pytest's own ``tmp_path`` folders (no Airflow home).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "testing.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```python\n(?P<code>.*?)\n```", re.S)


def recipe_files() -> dict[str, str]:
    """PATH -> code of every block the page marks as a file of the user's project."""
    return {m.group("path"): m.group("code") + "\n" for m in FILE_BLOCK.finditer(PAGE.read_text(encoding="utf-8"))}


def test_the_page_has_a_recipe() -> None:
    files = recipe_files()
    assert "tests/test_my_dag.py" in files
    assert "conftest.py" not in " ".join(files), "the plugin replaces a conftest"


@pytest.mark.slow
def test_the_recipe_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    (project / "dags").mkdir(parents=True)
    shutil.copy(REPO / "dags" / "uis_uploaded_calls_daily.py", project / "dags")
    for name, code in recipe_files().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(code, encoding="utf-8")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PYTEST_")) and key not in ("PYTHONPATH", "UIS_OUTPUT_ROOT")
    }
    env["TMPDIR"] = str(temp)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\b1 passed\b", output), output
    assert "warnings summary" not in output, output
    left = sorted(entry.name for entry in temp.iterdir())
    assert all(name.startswith("pytest-of-") for name in left), f"left in the temp directory: {left}"
