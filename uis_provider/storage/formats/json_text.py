"""JSON text of nested values for every format: msgspec when installed and the value is plain JSON, else the stdlib.

Both give the same bytes (see :mod:`uis_provider.storage.fastjson`); setting ``_fast_json`` to None makes every
writer use the stdlib encoders (the benchmark's ``--encoder json``).
"""

from __future__ import annotations

from typing import Any, Final

from uis_provider.storage.fastjson import FastJson, load_fast_json
from uis_provider.storage.fastjson import json_sorted as _json_sorted

_NESTED: Final = frozenset({dict, list, tuple})
"""The classes of nested values, written as JSON text inside a record."""

_fast_json: FastJson | None = load_fast_json()
"""The optional msgspec encoder; None means every value goes through the stdlib ``json`` encoders."""


def _sorted_json_text(value: Any) -> str:
    """``_json_sorted(value)``, through msgspec when the value allows it."""
    fast = _fast_json
    if fast is not None:
        data = fast.sorted_json(value)
        if data is not None:
            return data.decode("utf-8")
    return _json_sorted(value)
