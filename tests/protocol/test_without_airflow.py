"""The sans-IO core imports without Airflow, and with Airflow its errors stay ``AirflowException`` subclasses."""

from __future__ import annotations

import inspect
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

from airflow.providers.common.compat.sdk import AirflowException

import uis_provider.exceptions
import uis_provider.protocol

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted(module.name for module in pkgutil.iter_modules(uis_provider.protocol.__path__, "uis_provider.protocol."))

SCRIPT = """
import importlib, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError("airflow is not installed here: " + name)
        return None

sys.meta_path.insert(0, NoAirflow())
MODULES = {modules!r}
for name in MODULES:
    importlib.import_module(name)
from uis_provider.exceptions import UISError, UISRateLimitError
assert UISError.__mro__[1] is Exception, UISError.__mro__
assert issubclass(UISRateLimitError, UISError)
loaded = sorted(name for name in sys.modules if name == "airflow" or name.startswith("airflow."))
assert not loaded, loaded
print("ok", len(MODULES))
"""


def test_every_protocol_module_imports_with_airflow_refused() -> None:
    modules = ["uis_provider.exceptions", *CORE]
    script = textwrap.dedent(SCRIPT).format(modules=modules)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].split() == ["ok", str(len(modules))]
    assert "uis_provider.protocol.session" in CORE and "uis_provider.protocol.budget" in CORE


def test_with_airflow_every_error_is_an_airflow_exception() -> None:
    classes = [
        value
        for value in vars(uis_provider.exceptions).values()
        if inspect.isclass(value) and value.__module__ == "uis_provider.exceptions"
    ]
    assert len(classes) >= 10
    assert all(issubclass(cls, AirflowException) for cls in classes), classes
    assert uis_provider.exceptions.UISError.__mro__[1] is AirflowException
