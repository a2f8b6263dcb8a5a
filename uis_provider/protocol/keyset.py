"""Keyset continuation: page one query past the API's offset cap by its unique sort key.

Offsets reach at most 110 000 rows of a query (``offset`` <= 100 000). When the query is sorted by a unique key
alone, the rows after the last one reached are exactly the same query plus ``key > last`` (``<`` when descending):
a new query whose offsets start again at 0 and whose ``total_items`` is the rows still to come. Every page but the
last is then full, so N rows take ``ceil(N / limit)`` calls: no first page thrown away, no split by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uis_provider.exceptions import UISError
from uis_provider.protocol.filters import combine_filters, filter_depth
from uis_provider.protocol.methods import ReportMethod


@dataclass(frozen=True)
class Keyset:
    """The unique field a query is sorted by, and its direction: what continues the query after a given row.

    :param field: the unique key the query is sorted by alone, e.g. ``ext_id`` (uploaded calls) or ``leg_id`` (financial legs).
    :param descending: True when that sort is descending (then the next rows are ``< last``).
    """

    field: str
    descending: bool = False

    def after(self, user_filter: dict[str, Any] | None, last: Any) -> dict[str, Any]:
        """The query's filter narrowed to the rows after ``last`` in its order."""
        bound = {"field": self.field, "operator": "<" if self.descending else ">", "value": last}
        return combine_filters(user_filter, bound) or bound

    def last_value(self, records: Sequence[dict[str, Any]], method: str) -> Any:
        """The key of the last record of a page: where the next query starts. A missing key is a broken answer."""
        value = records[-1].get(self.field) if records else None
        if value is None or isinstance(value, (dict, list, bool)):
            raise UISError(
                f"the last record of a page has no usable {self.field!r} ({value!r}), the unique key the query is "
                "sorted by, so the rows after it cannot be asked for; nothing was written",
                method=method,
            )
        return value


def keyset_for(
    method: ReportMethod,
    sort: Sequence[dict[str, str]],
    user_filter: dict[str, Any] | None,
    fields: Sequence[str],
) -> Keyset | None:
    """The keyset that continues a query of ``method``, or ``None`` when none can.

    It needs the sort to be the method's unique key alone, the key filterable and among the returned ``fields``,
    and room in the filter for one more condition within the API's nesting limit.
    """
    key = method.key_field
    if key is None or len(sort) != 1 or sort[0].get("field") != key:
        return None
    if not method.can_filter(key) or key not in fields:
        return None
    keyset = Keyset(key, descending=sort[0].get("order") == "desc")
    if filter_depth(keyset.after(user_filter, "")) > method.max_filter_depth:
        return None
    return keyset
