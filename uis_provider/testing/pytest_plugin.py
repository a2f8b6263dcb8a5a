"""The pytest plugin of the provider: an isolated Airflow home and the UIS emulator as fixtures for your DAG tests.

Installed with the package (entry point ``pytest11``), so a test needs no conftest::

    def test_my_dag(uis_emulator, uis_dag_test):
        run = uis_dag_test(dag, pendulum.datetime(2026, 1, 5, tz="Europe/Moscow"))
        assert run.state == "success"

Before any conftest or test module is imported, the plugin points Airflow at a fresh home in a temp directory (its
own SQLite metadata DB, no example DAGs, ``dags/`` under the rootdir as the DAGs folder), so a test run never
touches the Airflow of the machine; the home is removed when the run ends. A conftest that sets ``AIRFLOW_HOME``
itself wins; ``uis_airflow_home = false`` in the pytest configuration turns the isolation off. Loading the plugin
imports neither Airflow nor the emulator: the fixtures do, when a test asks for them.

Fixtures:

- ``uis_emulator``: a started :class:`~uis_provider.testing.emulator.UISEmulator` (2 000 calls over January 2026,
  Europe/Moscow) that the Airflow connection ``uis_default`` points at for the test. Change it with the marker
  ``@pytest.mark.uis_emulator(calls=..., minute_limit=..., conn_id="uis_other", ...)``: every keyword of
  ``UISEmulator`` plus ``conn_id``.
- ``uis_dags_folder``: the DAGs folder Airflow was given (``dag.test()`` runs only DAGs found there).
- ``uis_airflow_db``: the metadata DB of the plugin's Airflow home, migrated once per session.
- ``uis_dag_test``: ``uis_dag_test(dag, logical_date)`` runs ``dag.test()`` for that run on every Airflow line
  (2.11 names the argument ``execution_date``; before 3.3 a DAG with asset outlets is written to the metadata DB
  first, as the DAG processor would) and returns the DAG run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from uis_provider.testing.emulator import UISEmulator

#: The emulator the ``uis_emulator`` fixture starts unless the marker says otherwise.
EMULATOR_DEFAULTS: dict[str, Any] = {
    "calls": 2000,
    "seed": 1,
    "start": "2026-01-01",
    "days": 31,
    "timezone": "Europe/Moscow",
    "api_keys": {"test-api-key": "valid"},
}
DEFAULT_CONN_ID = "uis_default"
_HOME_PREFIX = "uis-pytest-airflow-"

_home: Path | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ini options ``uis_airflow_home`` and ``uis_dags_folder``."""
    parser.addini(
        "uis_airflow_home",
        type="bool",
        default=True,
        help="uis: point Airflow at a fresh home in a temp directory for the run (default true)",
    )
    parser.addini(
        "uis_dags_folder",
        default="dags",
        help="uis: the DAGs folder of the plugin's Airflow home, relative to the rootdir (default dags)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Set Airflow's configuration before a conftest or a test module imports Airflow (it reads it once)."""
    global _home
    if not early_config.getini("uis_airflow_home"):
        return
    if "airflow.configuration" in sys.modules:
        warnings.warn(
            "uis: Airflow was imported before the plugin could give it a test home; the run uses the Airflow "
            "configuration already loaded",
            pytest.PytestConfigWarning,
            stacklevel=1,
        )
        return
    _home = Path(tempfile.mkdtemp(prefix=_HOME_PREFIX))
    settings = {
        "AIRFLOW_HOME": str(_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(early_config.rootpath, early_config.getini("uis_dags_folder"))),
    }
    if _airflow_major() < 3:
        settings["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"  # 2.x's test config picks one SQLite refuses
    os.environ.update(settings)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``uis_emulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers", "uis_emulator(**options): options of the UISEmulator the uis_emulator fixture starts"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the Airflow home the plugin made."""
    global _home
    if _home is not None:
        shutil.rmtree(_home, ignore_errors=True)
        _home = None


def _airflow_major() -> int:
    return int(importlib.metadata.version("apache-airflow").split(".")[0])


@pytest.fixture
def uis_emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """A started UIS emulator; the Airflow connection ``uis_default`` (or the marker's ``conn_id``) points at it."""
    from uis_provider.testing.emulator import UISEmulator

    marker = request.node.get_closest_marker("uis_emulator")
    options = {**EMULATOR_DEFAULTS, **(marker.kwargs if marker else {})}
    conn_id = options.pop("conn_id", DEFAULT_CONN_ID)
    api_key = next((key for key, state in options["api_keys"].items() if state == "valid"), None)
    with UISEmulator(**options) as api:
        connection = {"conn_type": "uis", "host": api.url}
        if api_key is not None:
            connection["password"] = api_key
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        yield api


@pytest.fixture(scope="session")
def uis_dags_folder() -> Path:
    """The DAGs folder Airflow was given (by the plugin: ``dags/`` under the rootdir, or ``uis_dags_folder``)."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder"))


@pytest.fixture(scope="session")
def uis_airflow_db() -> Path:
    """The plugin's metadata DB (SQLite in its Airflow home), migrated from scratch once per session."""
    if _home is None or os.environ.get("AIRFLOW_HOME") != str(_home):
        raise pytest.UsageError(
            "uis_airflow_db migrates only the Airflow home the uis plugin made, and AIRFLOW_HOME is another one "
            "(set by a conftest or the environment, or uis_airflow_home = false): migrate your own test DB there"
        )
    from airflow.utils.db import resetdb

    resetdb()
    return _home / "airflow.db"


@pytest.fixture
def uis_dag_test(uis_airflow_db: Path) -> Callable[[Any, Any], Any]:
    """``run(dag, logical_date)``: ``dag.test()`` of the run at ``logical_date`` on any Airflow line; the DAG run."""

    from uis_provider.testing.dag_test import run_dag_test

    return run_dag_test
