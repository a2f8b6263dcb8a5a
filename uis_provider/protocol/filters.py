"""Validate and combine the API's ``filter``, ``sort`` and ``fields`` parameters before any call is made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.methods import ReportMethod

OPERATORS = frozenset(
    {
        "=",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "like",
        "ilike",
        "not_like",
        "not_ilike",
        "regexp",
        "jsquery",
        "in",
        "not_in",
        "overlap",
        "not_overlap",
        "is_null",
        "is_not_null",
    }
)
CONDITIONS = frozenset({"and", "or"})
#: ``get.uploaded_calls`` allows at most two levels of filter groups (a group inside a group).
MAX_FILTER_DEPTH = 2


def filter_depth(node: dict[str, Any]) -> int:
    """Levels of ``{filters, condition}`` groups in a filter tree (a single condition has depth 0)."""
    if "filters" in node:
        children = node.get("filters") or []
        return 1 + max((filter_depth(c) for c in children if isinstance(c, dict)), default=0)
    return 0


def validate_filter(
    node: Any, *, method: ReportMethod | None = None, parameter: str = "filter", max_depth: int = MAX_FILTER_DEPTH
) -> dict[str, Any] | None:
    """Check a filter tree's shape, operators and depth; return it unchanged (``None`` when not set)."""
    if node is None or node == {}:
        return None
    if not isinstance(node, dict):
        raise UISConfigurationError(
            f"{parameter} must be a dict {{'field', 'operator', 'value'}} or {{'filters': [...], 'condition': "
            f"'and'|'or'}}, got {type(node).__name__}"
        )
    _check_node(node, parameter, method)
    depth = filter_depth(node)
    if depth > max_depth:
        raise UISConfigurationError(
            f"{parameter} nests {depth} levels of filter groups; the API allows at most {max_depth}. "
            "Flatten the tree (a group of groups of conditions is the deepest allowed)"
        )
    return node


def _check_node(node: Any, path: str, method: ReportMethod | None) -> None:
    if not isinstance(node, dict):
        raise UISConfigurationError(f"{path} must be a dict, got {type(node).__name__} {node!r}")
    if "filters" in node:
        children = node.get("filters")
        if not isinstance(children, list) or not children:
            raise UISConfigurationError(f"{path}.filters must be a non-empty list of filters")
        condition = node.get("condition", "and")
        if condition not in CONDITIONS:
            raise UISConfigurationError(f"{path}.condition={condition!r} is not one of 'and', 'or'")
        extra = set(node) - {"filters", "condition"}
        if extra:
            raise UISConfigurationError(f"{path} has unknown keys {sorted(extra)}; a group has 'filters', 'condition'")
        for index, child in enumerate(children):
            _check_node(child, f"{path}.filters[{index}]", method)
        return
    field = node.get("field")
    operator = node.get("operator")
    if not isinstance(field, str) or not field:
        raise UISConfigurationError(f"{path} needs a 'field' (the column to filter on), got {node!r}")
    if operator not in OPERATORS:
        raise UISConfigurationError(
            f"{path}.operator={operator!r} is not an operator of the API; use one of {', '.join(sorted(OPERATORS))}"
        )
    extra = set(node) - {"field", "operator", "value"}
    if extra:
        raise UISConfigurationError(
            f"{path} has unknown keys {sorted(extra)}; a condition has 'field', 'operator', 'value'"
        )
    if method is not None:
        if method.columns and field not in method.columns:
            raise UISConfigurationError(f"{path}.field={field!r} is not a field of {method.name}")
        if field in method.not_filterable:
            raise UISConfigurationError(
                f"{path}.field={field!r} cannot be filtered on in {method.name}; "
                + (
                    f"the window (date_from/date_till) already selects on {field}"
                    if field == method.time_field
                    else "filter on another field"
                )
            )


def combine_filters(user: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """AND two filters together without adding a nesting level when ``user`` is already an AND group."""
    if not user:
        return extra
    if not extra:
        return user
    if "filters" in user and user.get("condition", "and") == "and":
        return {"filters": [*user["filters"], extra], "condition": "and"}
    return {"filters": [user, extra], "condition": "and"}


def validate_fields(fields: Any, method: ReportMethod, *, parameter: str = "fields") -> list[str] | None:
    """Check ``fields`` is a list of known column names of ``method`` (``None`` = the method's defaults)."""
    if fields is None:
        return None
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise UISConfigurationError(f"{parameter} must be a list of column names, got {type(fields).__name__}")
    names = list(fields)
    if not names:
        raise UISConfigurationError(f"{parameter} is an empty list; leave it unset for the default columns")
    for name in names:
        if not isinstance(name, str):
            raise UISConfigurationError(f"{parameter} holds {name!r}, not a column name")
        if method.columns and name not in method.columns:
            raise UISConfigurationError(
                f"{parameter} holds {name!r}, not a field of {method.name}; known fields: {', '.join(method.columns)}"
            )
    if len(set(names)) != len(names):
        raise UISConfigurationError(f"{parameter} lists a column twice: {names}")
    return names


def validate_sort(sort: Any, method: ReportMethod, *, parameter: str = "sort") -> list[dict[str, str]]:
    """Check ``sort`` is ``[{field, order}]`` on sortable fields; returns it with ``order`` filled in."""
    if sort is None:
        return []
    if isinstance(sort, dict):
        sort = [sort]
    if not isinstance(sort, list):
        raise UISConfigurationError(f"{parameter} must be a list of {{'field', 'order'}} dicts")
    checked: list[dict[str, str]] = []
    for index, item in enumerate(sort):
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            raise UISConfigurationError(f"{parameter}[{index}] must be a dict with a 'field', got {item!r}")
        order = item.get("order", "asc")
        if order not in ("asc", "desc"):
            raise UISConfigurationError(f"{parameter}[{index}].order={order!r} must be 'asc' or 'desc'")
        field = item["field"]
        if method.columns and field not in method.columns:
            raise UISConfigurationError(f"{parameter}[{index}].field={field!r} is not a field of {method.name}")
        if field in method.not_sortable:
            raise UISConfigurationError(f"{parameter}[{index}].field={field!r} cannot be sorted on in {method.name}")
        checked.append({"field": field, "order": order})
    return checked


def stable_sort(sort: list[dict[str, str]], method: ReportMethod) -> list[dict[str, str]]:
    """The user's sort with the method's unique key appended, so offset pages neither skip nor repeat a record."""
    if any(item["field"] == method.key_field for item in sort):
        return sort
    return [*sort, {"field": method.key_field, "order": "asc"}]
