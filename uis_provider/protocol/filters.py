"""Validate and combine the API's ``filter``, ``sort`` and ``fields`` parameters before any call is made.

What a method allows comes from its :class:`~uis_provider.protocol.methods.ReportMethod` (the catalog's Filter /
Sort flags and columns); a refusal names the parameter and lists what is allowed instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.filter_syntax import (
    CONDITIONS,
    LIST_OPERATORS,
    OPERATORS,
    ORDER_OPERATORS,
    PATTERN_OPERATORS,
)
from uis_provider.protocol.methods import ReportMethod

#: ``get.uploaded_calls`` allows at most two levels of filter groups (a group inside a group); the general
#: section's examples nest three.
MAX_FILTER_DEPTH = 2


def filter_depth(node: dict[str, Any]) -> int:
    """Levels of ``{filters, condition}`` groups in a filter tree (a single condition has depth 0)."""
    if "filters" in node:
        children = node.get("filters") or []
        return 1 + max((filter_depth(c) for c in children if isinstance(c, dict)), default=0)
    return 0


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def validate_filter(
    node: Any, *, method: ReportMethod | None = None, parameter: str = "filter", max_depth: int | None = None
) -> dict[str, Any] | None:
    """Check a filter tree's shape, fields, operators, values and depth; return it unchanged (``None`` when not set).

    ``max_depth`` defaults to the method's (two levels of groups for ``get.uploaded_calls``).
    """
    if node is None or node == {}:
        return None
    if not isinstance(node, dict):
        raise UISConfigurationError(
            f"{parameter} must be a dict {{'field', 'operator', 'value'}} or {{'filters': [...], 'condition': "
            f"'and'|'or'}}, got {type(node).__name__}"
        )
    _check_node(node, parameter, method)
    depth = filter_depth(node)
    limit = max_depth if max_depth is not None else (method.max_filter_depth if method else MAX_FILTER_DEPTH)
    if depth > limit:
        raise UISConfigurationError(
            f"{parameter} nests {depth} levels of filter groups; the API allows at most {limit}"
            + (f" for {method.name}" if method else "")
            + ". Flatten the tree"
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
        _check_filter_field(path, field, method)
    _check_value(path, field, operator, node, method)


def _check_filter_field(path: str, field: str, method: ReportMethod) -> None:
    allowed = sorted(method.filterable) if method.filterable is not None else None
    if not method.knows(field):
        raise UISConfigurationError(
            f"{path}.field={field!r} is not a column of {method.name}; "
            + (f"filterable columns: {_listing(allowed)}" if allowed is not None else "see its reference page")
        )
    if not method.can_filter(field):
        why = (
            f"the window (date_from/date_till) already selects on {field}"
            if field == method.time_field
            else "the API answers filter_prohibited"
        )
        raise UISConfigurationError(
            f"{path}.field={field!r} cannot be filtered on in {method.name} ({why}); "
            f"filterable columns: {_listing(allowed or ())}"
        )


def _check_value(path: str, field: str, operator: str, node: dict[str, Any], method: ReportMethod | None) -> None:
    """Refuse a value the operator cannot take, so a malformed condition costs no call."""
    value = node.get("value")
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            raise UISConfigurationError(
                f"{path}: operator {operator!r} takes a non-empty list of values, got {value!r}; "
                f"e.g. {{'field': {field!r}, 'operator': {operator!r}, 'value': [{value!r}]}}"
            )
    elif operator in ("is_null", "is_not_null"):
        if value is not None:
            raise UISConfigurationError(
                f"{path}: operator {operator!r} takes no value, got {value!r}; leave 'value' out (or use '=' "
                "to compare with a value)"
            )
    elif isinstance(value, (list, dict)):
        hint = " (use 'in' for a list of values)" if isinstance(value, list) else ""
        raise UISConfigurationError(f"{path}: operator {operator!r} takes one value, got {value!r}{hint}")
    elif operator in PATTERN_OPERATORS and not isinstance(value, str):
        raise UISConfigurationError(f"{path}: operator {operator!r} takes a text pattern, got {value!r}")
    elif operator in ORDER_OPERATORS:
        _check_order_value(path, field, operator, value, method)


def _check_order_value(path: str, field: str, operator: str, value: Any, method: ReportMethod | None) -> None:
    """``<``, ``>``, ``<=``, ``>=`` need a value, and the reference applies them to numbers and date-times only."""
    if value is None:
        raise UISConfigurationError(f"{path}: operator {operator!r} needs a value to compare with")
    kind = method.column_type(field) if method is not None else None
    if method is not None and kind is not None and kind not in ("number", "iso8601"):
        raise UISConfigurationError(
            f"{path}: operator {operator!r} compares numbers and date-times, and {field!r} of {method.name} "
            f"is {kind}; use '=', '!=', 'in' or a pattern operator"
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
    """Check ``fields`` is a list of columns of ``method`` (``None`` = the method's default columns)."""
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
        if not method.knows(name):
            raise UISConfigurationError(
                f"{parameter} holds {name!r}, not a column of {method.name}; its columns: "
                f"{_listing(method.known_columns)}"
            )
    if len(set(names)) != len(names):
        raise UISConfigurationError(f"{parameter} lists a column twice: {names}")
    return names


def validate_sort(sort: Any, method: ReportMethod, *, parameter: str = "sort") -> list[dict[str, str]]:
    """Check ``sort`` is ``[{field, order}]`` on sortable columns; returns it with ``order`` filled in."""
    if sort is None:
        return []
    if isinstance(sort, dict):
        sort = [sort]
    if not isinstance(sort, list):
        raise UISConfigurationError(f"{parameter} must be a list of {{'field', 'order'}} dicts")
    checked: list[dict[str, str]] = []
    for index, item in enumerate(sort):
        entry = _sort_entry(item, f"{parameter}[{index}]", method)
        if any(earlier["field"] == entry["field"] for earlier in checked):
            raise UISConfigurationError(f"{parameter} sorts by {entry['field']!r} twice")
        checked.append(entry)
    return checked


def _sort_entry(item: Any, path: str, method: ReportMethod) -> dict[str, str]:
    """One ``{field, order}`` of a sort, on a column the method lets you sort on."""
    if not isinstance(item, dict) or not isinstance(item.get("field"), str) or set(item) - {"field", "order"}:
        raise UISConfigurationError(f"{path} must be a dict {{'field', 'order'}}, got {item!r}")
    order = item.get("order", "asc")
    if order not in ("asc", "desc"):
        raise UISConfigurationError(f"{path}.order={order!r} must be 'asc' or 'desc'")
    field = item["field"]
    if not method.knows(field) or not method.can_sort(field):
        what = "is not a column of" if not method.knows(field) else "cannot be sorted on in"
        allowed = _listing(sorted(method.sortable)) if method.sortable is not None else "see its reference page"
        raise UISConfigurationError(f"{path}.field={field!r} {what} {method.name}; sortable columns: {allowed}")
    return {"field": field, "order": order}


def stable_sort(sort: list[dict[str, str]], method: ReportMethod) -> list[dict[str, str]]:
    """The user's sort with the method's sortable unique key appended, so offset pages neither skip nor repeat.

    A method without such a key is returned unchanged: the engine pages it by its time field instead.
    """
    key = method.key_field
    if key is None or any(item["field"] == key for item in sort):
        return sort
    return [*sort, {"field": key, "order": "asc"}]
