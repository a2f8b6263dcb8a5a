"""Byte-identical fast JSON: msgspec encodes plain JSON values exactly as the stdlib encoders the writers use.

The writers' reference encoders are ``json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)``
(and the same with ``sort_keys=True`` for nested values). msgspec is about three times faster on a record, but
differs on floats, non-str keys, datetimes, subclasses and lone surrogates; so it is used only for values made of
exact str/int/bool/None/dict/list/tuple, checked once at import against the stdlib. Anything else returns
``None`` and the caller uses the stdlib encoder.
"""

from __future__ import annotations

import gc
import importlib
import json
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Final

#: The reference encoders: a JSON line, and a nested value with sorted keys.
json_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
json_sorted = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode

_PLAIN_JSON_TYPES: Final = frozenset({str, int, bool, type(None), dict, list, tuple})
_MAX_FAST_DEPTH: Final = 64


def plain_json(values: list[Any]) -> bool:
    """True when ``values`` hold only exact str/int/bool/None and dicts/lists/tuples of those, at any depth.

    ``gc.get_referents`` lists, in C, the items of lists and tuples and the values (and non-str keys) of dicts,
    which makes this walk several times faster than a Python loop; :func:`referents_are_complete` checks that.
    Exact int/bool/None dict keys pass here and are rejected by the sorting encoder (str keys only).
    """
    level = values
    for _ in range(_MAX_FAST_DEPTH):
        if not _PLAIN_JSON_TYPES.issuperset(map(type, level)):
            return False
        level = gc.get_referents(*level)
        if not level:
            return True
    return False


def referents_are_complete() -> bool:
    """Check at import what :func:`plain_json` relies on: referents of dicts, lists and tuples are complete."""

    class Key(str):
        __slots__ = ()

    key = Key("key")
    number = 10**30
    first, second, third = float("0.5"), float("0.25"), float("0.125")
    probes: list[tuple[Any, tuple[Any, ...]]] = [
        ({"a": first}, (first,)),
        ({"a": first, number: second, key: third}, (first, second, third, number, key)),
        ([first, second], (first, second)),
        ((first, second), (first, second)),
    ]
    for container, expected in probes:
        found = gc.get_referents(container)
        if not all(any(item is wanted for item in found) for wanted in expected):
            return False
    return True


class FastJson:
    """msgspec encoding of plain JSON values, byte-identical to the stdlib encoders above for what it accepts.

    Every method returns None when a value holds anything else (floats, datetimes, subclasses, non-str keys,
    lone surrogates, ...) so the caller falls back to the stdlib encoder, whose output is the reference.
    """

    def __init__(self, msgspec: ModuleType) -> None:
        self._msgspec = msgspec
        self._encode: Callable[[Any], bytes] = msgspec.json.Encoder(order="deterministic").encode

    def sorted_json(self, value: Any) -> bytes | None:
        """``json_sorted(value)`` as UTF-8, or None when the value is not plain JSON."""
        if not plain_json([value]):
            return None
        try:
            return self._encode(value)
        except Exception:
            return None

    def row_encoder(self, columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], bytes | None] | None:
        """Return a function giving a record's JSON line (no newline) as ``_JsonLinesWriter`` lays it out, or None.

        The row is a msgspec Struct whose fields are ``columns`` in order; nested dicts come out key-sorted.
        None (no encoder) when msgspec cannot name fields after these columns exactly as the stdlib would.
        """
        encode = self._encode
        try:
            row_type = self._msgspec.defstruct(
                "JsonLinesRow",
                [(f"f{index}", Any) for index in range(len(columns))],
                rename={f"f{index}": name for index, name in enumerate(columns)},
                gc=False,
            )
            if encode(row_type(*[None] * len(columns))) != json_line(dict.fromkeys(columns)).encode("utf-8"):
                return None
        except Exception:
            return None
        column_set = frozenset(columns)

        def encode_row(record: Mapping[str, Any]) -> bytes | None:
            values = list(map(record.get, columns))
            if column_set.issuperset(record):
                if not plain_json(values):
                    return None
                try:
                    return encode(row_type(*values))
                except Exception:
                    return None
            names = record.keys() - column_set
            if not all(type(name) is str for name in names):
                return None
            extra = {name: record[name] for name in names}
            if not plain_json([*values, extra]):
                return None
            try:
                return encode(row_type(*values))[:-1] + b"," + encode(extra)[1:]
            except Exception:
                return None

        return encode_row


FAST_JSON_PROBE: Final = {
    "z": ['\x00\x1f\x7f\x80\u2028\u2029\ufeff\U0001f600"\\/', 2**64, -(2**63), True, None, ("t",)],
    "a\x00": {"é": 1, "e": {"b": [], "a": {}}},
    "a": "",
}


def load_fast_json() -> FastJson | None:
    """The msgspec fast path when msgspec is installed (it is optional) and it and the interpreter behave as tested."""
    try:
        fast = FastJson(importlib.import_module("msgspec"))
        agrees = fast.sorted_json(FAST_JSON_PROBE) == json_sorted(FAST_JSON_PROBE).encode("utf-8")
    except Exception:
        return None
    return fast if agrees and referents_are_complete() else None
