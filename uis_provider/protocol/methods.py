"""What the extract engine must know of a windowed ``get.*`` method, built from the method catalog.

:class:`ReportMethod` is the engine's view of one method: the field its window selects on, how it can be paged
without a skip or a repeat, the columns it writes by default, and the columns a filter, a sort or ``fields`` may
name. Every documented method has one built from :mod:`uis_provider.protocol.catalog`; a user can build one for a
method the catalog does not know (its checks then stay open where they are not given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from uis_provider.protocol.catalog import MethodSpec, catalog, method_spec

#: Parameters the engine always sends; every windowed method takes them.
ENGINE_PARAMS = frozenset({"access_token", "date_from", "date_till", "limit", "offset", "fields", "filter", "sort"})
#: Levels of filter groups: get.uploaded_calls states two; the general section's examples nest three.
UPLOADED_CALLS_FILTER_DEPTH = 2
GENERAL_FILTER_DEPTH = 3


@dataclass(frozen=True)
class ReportMethod:
    """One windowed list method as the extract engine pages it.

    :param name: the JSON-RPC method, e.g. ``get.calls_report``.
    :param time_field: the record field ``date_from``/``date_till`` select on; records are placed in windows by it.
    :param columns: the columns written when the user gives no ``fields`` (the API's default reply).
    :param key_field: a sortable column unique per record: pages sorted by it alone neither skip nor repeat a
        record, and a keyset continues past the offset cap. ``None`` when the method has none; the engine then
        pages by ``time_field`` instead (see :mod:`uis_provider.protocol.time_pages`).
    :param unique_field: a column unique per record, sortable or not: the tie-break that makes the order of
        records with the same time the same on every run.
    :param max_window_days: the longest window one request may span (``None``: no limit).
    :param known_columns: every column the method has (empty: not checked).
    :param filterable: the columns a filter may name (``None``: not checked).
    :param sortable: the columns a sort may name (``None``: not checked).
    :param params: the method's own parameters beyond the engine's (``None``: not checked), e.g. ``report_id``.
    :param column_kinds: parquet kinds of the columns that are not strings (``int64``, ``float64``, ``bool``, ``json``).
    :param column_types: the vendor's type of each column (``number``, ``iso8601``, ...; empty: not checked).
    :param max_filter_depth: levels of filter groups the method takes (two for ``get.uploaded_calls``).
    """

    name: str
    time_field: str
    columns: tuple[str, ...]
    key_field: str | None = None
    unique_field: str | None = None
    max_window_days: int | None = 90
    known_columns: tuple[str, ...] = ()
    filterable: frozenset[str] | None = None
    sortable: frozenset[str] | None = None
    params: frozenset[str] | None = None
    column_kinds: tuple[tuple[str, str], ...] = ()
    column_types: tuple[tuple[str, str], ...] = ()
    max_filter_depth: int = 3

    @classmethod
    def from_spec(cls, spec: MethodSpec, *, columns: tuple[str, ...] | None = None) -> ReportMethod:
        """The engine's view of a documented method; ``columns`` overrides the default written columns."""
        if spec.window is None:
            raise ValueError(f"{spec.name} has no date window")
        return cls(
            name=spec.name,
            time_field=spec.window.field,
            columns=columns if columns is not None else spec.default_columns,
            key_field=spec.paging_key,
            unique_field=spec.paging_key or (spec.unique[0] if spec.unique else None),
            max_window_days=spec.window.max_days,
            known_columns=spec.column_names,
            filterable=frozenset(spec.filterable),
            sortable=frozenset(spec.sortable),
            params=frozenset(spec.param_names) - ENGINE_PARAMS - {"user_id"},
            column_kinds=tuple((name, kind) for name, kind in spec.kinds().items() if kind != "string"),
            column_types=tuple((column.name, column.type) for column in spec.columns),
            max_filter_depth=UPLOADED_CALLS_FILTER_DEPTH if spec.name == "get.uploaded_calls" else GENERAL_FILTER_DEPTH,
        )

    def __repr__(self) -> str:
        return f"ReportMethod({self.name!r}, time_field={self.time_field!r}, key_field={self.key_field!r})"

    def can_filter(self, field: str) -> bool:
        """Whether a filter may name ``field``."""
        return self.filterable is None or field in self.filterable

    def can_sort(self, field: str) -> bool:
        """Whether a sort may name ``field``."""
        return self.sortable is None or field in self.sortable

    def column_type(self, field: str) -> str | None:
        """The vendor's type of ``field`` (``None`` when not known)."""
        return dict(self.column_types).get(field)

    def knows(self, field: str) -> bool:
        """Whether ``field`` is a column of the method (any name passes when the columns are not known)."""
        return not self.known_columns or field in self.known_columns


@cache
def _documented() -> Mapping[str, ReportMethod]:
    methods = {name: ReportMethod.from_spec(spec) for name, spec in catalog().items() if spec.window is not None}
    uploaded = catalog()["get.uploaded_calls"]
    # the uploaded-calls extract lands every column, not just the API's default reply: upload_time says when a call
    # came in, and callback, tags and records are what was uploaded
    methods["get.uploaded_calls"] = ReportMethod.from_spec(uploaded, columns=uploaded.column_names)
    return methods


def report_methods() -> Mapping[str, ReportMethod]:
    """Every documented windowed method by name (the eight reports and ``get.uploaded_calls``)."""
    return _documented()


def report_method(name: str) -> ReportMethod | None:
    """The documented windowed method ``name``, or ``None`` when the catalog has no such method with a window."""
    return _documented().get(name)


def takes_user_id(method: str) -> bool:
    """Whether an agent's ``user_id`` may be sent with ``method`` (methods the catalog does not know: yes)."""
    spec = method_spec(method)
    return spec is None or "user_id" in spec.param_names


UPLOADED_CALLS = _documented()["get.uploaded_calls"]
"""``get.uploaded_calls``: windows on ``upload_time``, paged by ``ext_id``, every column written by default."""

CALLS_REPORT = _documented()["get.calls_report"]
"""``get.calls_report``: windows on ``start_time`` (no sortable unique key), its 23 default columns."""
