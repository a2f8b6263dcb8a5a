"""What a ``filter`` may say, as the API reference lists it: its operators, and how a group combines its filters.

Pure data without Airflow: the provider checks filters against it (:mod:`uis_provider.protocol.filters`) and the
emulator refuses what it does not list, so both follow one table.
"""

from __future__ import annotations

#: Every comparison operator of the reference.
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
#: Operators whose value is a list of values.
LIST_OPERATORS = frozenset({"in", "not_in", "overlap", "not_overlap"})
#: Operators that compare order: the reference applies them to numbers and date-times only.
ORDER_OPERATORS = frozenset({"<", ">", "<=", ">="})
#: Operators whose value is a text pattern.
PATTERN_OPERATORS = frozenset({"like", "ilike", "not_like", "not_ilike", "regexp"})
#: How the filters of a group combine.
CONDITIONS = frozenset({"and", "or"})
