"""The API reference covers the package: every module is in a reference page, and what it exports is documented.

Sphinx renders only what has a docstring, so a public class or method without one would silently vanish from the
site; the classes users construct must also document every parameter.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import uis_provider

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
#: The emulator's internals: users drive it through ``UISEmulator``, its ``faults`` and its ``clock``.
EMULATOR_INTERNALS = {
    f"uis_provider.testing.{name}"
    for name in (
        "attribution",
        "calls",
        "chats",
        "communications",
        "daily",
        "data",
        "directory",
        "errors",
        "memo",
        "methods",
        "query",
        "reports",
        "service",
        "site_events",
        "state",
        "store",
        "tables",
        "timefmt",
        "validation",
    )
}
MODULES = sorted(
    module.name
    for module in pkgutil.walk_packages(uis_provider.__path__, "uis_provider.")
    if not module.ispkg and module.name not in EMULATOR_INTERNALS
)
#: The classes a user constructs: every parameter of theirs is documented with ``:param name:``.
USER_CLASSES = [
    "uis_provider.hooks.uis.UISHook",
    "uis_provider.hooks.uis_async.UISAsyncHook",
    "uis_provider.operators.report.UISReportToStorageOperator",
    "uis_provider.operators.uploaded_calls.UISUploadedCallsToStorageOperator",
    "uis_provider.operators.upload_calls.UISUploadCallsOperator",
    "uis_provider.sensors.uploaded_calls.UISUploadedCallsSensor",
    "uis_provider.triggers.uploaded_calls.UISUploadedCallsTrigger",
    "uis_provider.testing.emulator.UISEmulator",
    "uis_provider.protocol.retry.RetryPolicy",
    "uis_provider.protocol.keyset.Keyset",
]


def referenced_modules() -> set[str]:
    text = "\n".join(page.read_text(encoding="utf-8") for page in REFERENCE.glob("*.md"))
    return set(re.findall(r"^\.\. automodule:: (\S+)$", text, flags=re.M))


def public_docstrings(module_name: str) -> dict[str, str]:
    """The docstring of each class and function defined in the module (not imported into it) and of each public
    method or property of its classes; a method that overrides a documented one inherits its docstring."""
    module = importlib.import_module(module_name)
    docs: dict[str, str] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            docs[f"{module_name}.{name}"] = inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for member_name, member in vars(obj).items():
                if member_name.startswith("_"):
                    continue
                if isinstance(member, property) or inspect.isfunction(member):
                    docs[f"{module_name}.{name}.{member_name}"] = inspect.getdoc(getattr(obj, member_name, member)) or (
                        inspect.getdoc(member) or ""
                    )
    return docs


def test_every_module_has_a_reference_page() -> None:
    assert set(MODULES) - referenced_modules() == set()
    assert referenced_modules() - set(MODULES) == set(), "a reference page names a module that does not exist"


@pytest.mark.parametrize("module_name", MODULES)
def test_public_objects_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    undocumented = [name for name, doc in public_docstrings(module_name).items() if not doc.strip()]
    assert undocumented == []


@pytest.mark.parametrize("path", USER_CLASSES)
def test_user_classes_document_every_parameter(path: str) -> None:
    module_name, _, class_name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    doc = inspect.getdoc(cls) or ""
    parameters = [
        parameter.name
        for parameter in inspect.signature(cls.__init__).parameters.values()
        if parameter.name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    assert parameters, f"{path} takes no parameters to check"
    assert [name for name in parameters if f":param {name}:" not in doc] == []
