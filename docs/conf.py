"""Sphinx configuration of the airflow-provider-uis documentation (``make docs``).

Sphinx with MyST (pages in Markdown) and autodoc (the API reference from the docstrings), as the Apache providers
do. ``make docs`` runs it with ``-W -n``: any warning fails the build, and nitpicky mode turns every reference that
does not resolve into one, so a renamed class or a stale ``:class:`` in a docstring breaks the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uis_provider import __version__  # noqa: E402  (imports no Airflow)

project = "airflow-provider-uis"
author = "airflow-provider-uis contributors"
copyright = "airflow-provider-uis contributors, Apache License 2.0"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autoclass_content = "class"
add_module_names = False  # each module has its own heading
python_maximum_signature_line_length = 88  # longer signatures list one parameter per line

# Every reference into this package must resolve. Names from Airflow, the standard library and other
# libraries have no inventory here (the build runs offline), so references to them are not checked.
nitpicky = True
EXTERNAL = (
    r"airflow|pendulum|requests|httpx|fsspec|pyarrow|urllib3|datetime|collections|typing|typing_extensions|"
    r"concurrent|pathlib|asyncio|threading|socketserver|http|io|json|logging|enum|types|mmap|random|re|pytest|_pytest"
)
BUILTINS = (
    r"str|int|float|bool|bytes|bytearray|dict|list|tuple|set|frozenset|object|type|None|BaseException|Exception|"
    r"ValueError|TypeError|RuntimeError|Ellipsis|NoneType|memoryview|slice|range"
)
TYPING = r"ModuleType|CallFlow|timedelta|datetime|date|tzinfo|Timezone|FixedTimezone|Any|Callable|Iterator|Iterable|Generator|AsyncIterator|Mapping|Sequence|Literal|TypeVar|Self|ClassVar"
AIRFLOW_NAMES = (
    r"ObjectStoragePath|Context|Connection|BaseOperator|BaseSensorOperator|BaseHook|BaseTrigger|TriggerEvent|"
    r"PokeReturnValue|TaskInstance|DAG|XComArg|Timetable|OperatorLineage"
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({EXTERNAL})(\..*)?"),
    (r"py:.*", rf"({BUILTINS}|{TYPING}|{AIRFLOW_NAMES})"),
    (r"py:.*", r"(dt|os|pa|pq)\..*"),
    (r"py:.*", r"AbstractFileSystem"),
    (r"py:class", r"uis_provider\.[\w.]+\.T"),  # type variables are not documented objects
]


def resolve_short_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a docstring's short ``:class:`UISError``` to the one documented object of that name.

    Docstrings name classes as their module imports them; a name that matches no documented object, or more than
    one, stays unresolved and fails the build.
    """
    target = node.get("reftarget", "").lstrip("~.")
    if node.get("refdomain") != "py" or not target or target.startswith("uis_provider."):
        return None
    domain = env.get_domain("py")
    matches = [name for name in domain.objects if name.startswith("uis_provider.") and name.endswith("." + target)]
    if len(matches) != 1:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], matches[0], node, contnode)


def setup(app: Any) -> None:
    """Give Airflow a home in the build directory, and hook :func:`resolve_short_name` into reference resolution.

    autodoc imports the package, which imports Airflow, which creates its home: in the build's doctrees, not in the
    user's ``~/airflow`` nor in the temp directory, so ``make docs`` (which starts by removing the build) leaves
    nothing behind.
    """
    os.environ.setdefault("AIRFLOW_HOME", str(Path(app.doctreedir) / "airflow-home"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    app.connect("missing-reference", resolve_short_name)


html_theme = "furo"
html_title = f"airflow-provider-uis {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True, "source_directory": "docs/"}
