"""The list mechanics shared by every ``get.*`` method: fields, filter, sort, paging and shuffled keys."""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uis_provider.protocol.catalog import MethodSpec
from uis_provider.protocol.filter_syntax import OPERATORS
from uis_provider.testing.errors import APIError
from uis_provider.testing.timefmt import parse_api_datetime

Record = dict[str, Any]
#: A filter's test of one record, read by column name (the record, or only the columns the filter reads).
Predicate = Callable[[Mapping[str, Any]], bool]

MAX_LIMIT = 10_000
MAX_OFFSET = 100_000
DEFAULT_LIMIT = 1000
#: Operators on array columns: null tests, and whether any item (or any value of an item object) is listed.
_ARRAY_OPERATORS = frozenset({"overlap", "not_overlap"})
#: The emulator's value kind of each vendor column type.
KINDS = {
    "number": "number",
    "string": "str",
    "enum": "str",
    "boolean": "bool",
    "iso8601": "datetime",
    "array": "array",
    "object": "object",
}
_NUMBER = re.compile(r"-?\d{1,19}(\.\d{1,9})?")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class FieldSpec:
    """One column of a method's answer: its value kind and whether it may be filtered or sorted on."""

    name: str
    kind: str
    filterable: bool = True
    sortable: bool = True


def columns_of(method: MethodSpec) -> dict[str, FieldSpec]:
    """The columns of a catalog method by name, in the vendor's order, with its Filter / Sort flags."""
    return {
        column.name: FieldSpec(column.name, KINDS[column.type], column.filterable, column.sortable)
        for column in method.columns
    }


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise APIError("data_type_error", field=name, value=value)
    if not low <= value <= high:
        raise APIError("invalid_parameter_value", field=name, value=value)
    return value


def parse_paging(params: dict[str, Any]) -> tuple[int, int]:
    """``(limit, offset)``: limit 1..10 000 (default 1000), offset 0..100 000 (default 0)."""
    limit = _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(params, "offset", 0, 0, MAX_OFFSET)
    return limit, offset


def parse_fields(raw: Any, columns: dict[str, FieldSpec], default: Sequence[str]) -> list[str]:
    """The requested columns (``default`` when omitted or empty); unknown names are ``unexpected_parameters``."""
    if raw is None:
        return list(default)
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise APIError("data_type_error", field="fields", value=raw)
    for name in raw:
        if name not in columns:
            raise APIError("unexpected_parameters", field="fields", value=name)
    return list(dict.fromkeys(raw)) or list(default)


def parse_sort(raw: Any, columns: dict[str, FieldSpec]) -> list[tuple[str, bool]]:
    """``[(field, descending)]`` from ``[{field, order}]``; order defaults to asc."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise APIError("data_type_error", field="sort", value=raw)
    result = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str) or set(item) - {"field", "order"}:
            raise APIError("invalid_parameter_value", field="sort", value=item)
        name = item["field"]
        if name not in columns:
            raise APIError("unexpected_parameters", field="sort", value=name)
        if not columns[name].sortable:
            raise APIError("sort_prohibited", field="sort", value=name)
        order = item.get("order", "asc")
        if order not in ("asc", "desc"):
            raise APIError("invalid_parameter_value", field="sort", value=order)
        result.append((name, order == "desc"))
    return result


def _coerce(spec: FieldSpec, value: Any) -> Any:
    kind = spec.kind
    if kind == "number" and not isinstance(value, bool):
        if isinstance(value, int | float):
            return value
        if isinstance(value, str) and _NUMBER.fullmatch(value):
            return float(value) if "." in value else int(value)
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
    elif kind == "datetime":
        if parse_api_datetime(value) is not None:
            return value
    elif kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    raise APIError("invalid_parameter_value", field="filter", value=value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _like(pattern: Any, ignore_case: bool) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise APIError("invalid_parameter_value", field="filter", value=pattern)
    parts = [".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _leaf(node: dict[str, Any], columns: dict[str, FieldSpec]) -> Predicate:
    name, op = node.get("field"), node.get("operator")
    if not isinstance(name, str) or not isinstance(op, str) or set(node) - {"field", "operator", "value"}:
        raise APIError("invalid_parameter_value", field="filter", value=node)
    if name not in columns:
        raise APIError("unexpected_parameters", field="filter", value=name)
    spec = columns[name]
    if not spec.filterable:
        raise APIError("filter_prohibited", field="filter", value=name)
    value = node.get("value")
    if op not in OPERATORS or op == "jsquery":
        raise APIError("invalid_parameter_value", field="filter", value=op)
    if op == "is_null" or (op == "=" and value is None):
        return lambda record: _empty(record[name])
    if op == "is_not_null" or (op == "!=" and value is None):
        return lambda record: not _empty(record[name])
    if (op in _ARRAY_OPERATORS) != (spec.kind == "array") or spec.kind == "object":
        raise APIError("invalid_parameter_value", field="filter", value=op)
    if op in _ARRAY_OPERATORS:
        if not isinstance(value, list) or not value or not all(isinstance(item, str | int) for item in value):
            raise APIError("invalid_parameter_value", field="filter", value=value)
        listed = {_text(item) for item in value}
        if op == "overlap":
            return lambda record: bool(listed & _items(record[name]))
        return lambda record: not listed & _items(record[name])
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise APIError("invalid_parameter_value", field="filter", value=value)
        choices = {_coerce(spec, item) for item in value}
        if op == "in":
            return lambda record: record[name] in choices
        return lambda record: record[name] is not None and record[name] not in choices
    if op in ("like", "ilike", "not_like", "not_ilike", "regexp"):
        if op == "regexp":
            try:
                pattern = re.compile(value) if isinstance(value, str) else None
            except re.error:
                pattern = None
            if pattern is None:
                raise APIError("invalid_parameter_value", field="filter", value=value)
            return lambda record: record[name] is not None and pattern.search(_text(record[name])) is not None
        compiled = _like(value, ignore_case=op.endswith("ilike"))
        wanted = not op.startswith("not_")
        return lambda record: (
            record[name] is not None and (compiled.fullmatch(_text(record[name])) is not None) == wanted
        )
    target = _coerce(spec, value)
    if op == "=":
        return lambda record: record[name] == target
    if op == "!=":
        return lambda record: record[name] is not None and record[name] != target
    compare = _COMPARE[op]
    return lambda record: record[name] is not None and compare(record[name], target)


def _empty(value: Any) -> bool:
    """Null, and (for arrays and objects) empty, as the API's null filters read them."""
    return value is None or value == [] or value == {}


def _items(value: Any) -> set[str]:
    """The values an array column holds, as text: its items, or every value of its item objects."""
    found: set[str] = set()
    for item in value or ():
        values = item.values() if isinstance(item, dict) else (item,)
        found.update(_text(part) for part in values if part is not None)
    return found


def _node(node: Any, columns: dict[str, FieldSpec], depth: int, max_depth: int) -> Predicate:
    if not isinstance(node, dict):
        raise APIError("invalid_parameter_value", field="filter", value=node)
    if "filters" not in node:
        return _leaf(node, columns)
    if depth > max_depth:
        raise APIError("invalid_parameter_value", field="filter", value=node, params={"max_depth": max_depth})
    children = node["filters"]
    condition = node.get("condition", "and")
    if (
        not isinstance(children, list)
        or not children
        or condition not in ("and", "or")
        or (set(node) - {"filters", "condition"})
    ):
        raise APIError("invalid_parameter_value", field="filter", value=node)
    parts = [_node(child, columns, depth + 1, max_depth) for child in children]
    if condition == "and":
        return lambda record: all(part(record) for part in parts)
    return lambda record: any(part(record) for part in parts)


def compile_filter(raw: Any, columns: dict[str, FieldSpec], max_depth: int = 2) -> Predicate | None:
    """A predicate for ``filter`` (a leaf or a group tree at most ``max_depth`` groups deep); None if absent."""
    if raw is None or raw == {}:
        return None
    return _node(raw, columns, 1, max_depth)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, 0) if value is None else (0, value)


def filter_fields(raw: Any) -> frozenset[str]:
    """The columns a (valid) ``filter`` reads: every leaf's ``field``, at any depth."""
    if not isinstance(raw, dict):
        return frozenset()
    if "filters" in raw:
        return frozenset().union(*(filter_fields(child) for child in raw["filters"]))
    return frozenset({raw["field"]}) if "field" in raw else frozenset()


def select(
    refs: Sequence[int],
    materialize: Callable[[int], Record],
    predicate: Predicate | None,
    sort: list[tuple[str, bool]],
    cheap: Mapping[str, Callable[[int], Any]] | None = None,
    reads: Collection[str] | None = None,
) -> list[int]:
    """Refs that pass ``predicate``, stably ordered by ``sort`` (ties keep natural order: a total order).

    ``cheap`` maps fields to functions reading them from a ref without building the record; when every column the
    predicate ``reads`` (:func:`filter_fields`; not known when ``None``) and the sort orders by is one of them (a
    keyset query: ``ext_id > last``, by ``ext_id``), the selection builds no record.
    """
    if predicate is None and not sort:
        return list(refs)
    names = [name for name, _descending in sort]
    known = predicate is None or reads is not None
    needed = {*names, *(reads or ())}
    rows: Iterable[Mapping[str, Any]]
    if cheap and known and needed <= cheap.keys():
        readers = [(name, cheap[name]) for name in needed]
        rows = ({name: read(ref) for name, read in readers} for ref in refs)
    else:
        rows = map(materialize, refs)
    items = [
        (ref, tuple(row[name] for name in names))
        for ref, row in zip(refs, rows, strict=True)
        if predicate is None or predicate(row)
    ]
    for position in reversed(range(len(sort))):
        items.sort(key=lambda item: _sort_key(item[1][position]), reverse=sort[position][1])
    return [ref for ref, _record in items]


def shuffled(records: Iterable[Record], fields: list[str], rng: random.Random, variants: int = 8) -> list[Record]:
    """Project ``records`` onto ``fields`` with keys in arbitrary (seeded) order, as the real API answers."""
    orders = []
    for _ in range(variants):
        order = list(fields)
        rng.shuffle(order)
        orders.append(order)
    return [{name: record[name] for name in orders[rng.randrange(variants)]} for record in records]
