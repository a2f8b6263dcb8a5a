"""The method catalog: every read method of the UIS Data API as its vendor documents it, as data.

``catalog.json`` beside this module is generated from the vendor's pages (``scripts/catalog/build.py``): per method
its request parameters, its reply columns with type, Filter / Sort / Default flags and nested children, the field
its window selects on and the longest window it takes, and its source pages. The extract engine, the parquet
types, the docs' data dictionary and the emulator all read it from here. Pure data: no Airflow, no I/O beyond
reading the file once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

#: The vendor's column types (``iso8601`` is always ``YYYY-MM-DD hh:mm:ss``).
COLUMN_TYPES = ("number", "string", "boolean", "enum", "iso8601", "array", "object")
#: How a column is stored in parquet: ``json`` is nested values as JSON text.
STORAGE_KINDS = ("string", "int64", "float64", "bool", "json")


@dataclass(frozen=True)
class Child:
    """A field of the objects nested in a column (e.g. ``tag_name`` of ``tags``)."""

    name: str
    type: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    """One reply column: the vendor's type, the parquet kind, what may be filtered or sorted, whether it is
    in the reply when ``fields`` is not sent."""

    name: str
    type: str
    kind: str
    filterable: bool
    sortable: bool
    default: bool
    children: tuple[Child, ...] = ()
    #: For an array of scalars: what its items are (``codes``, ``link IDs``, ``visitor IDs``).
    items: str | None = None
    #: The codes an enum (or an array of codes) may hold, as printed by the vendor; never used to refuse a value.
    values: tuple[str, ...] = ()
    values_are_codes: bool = True
    #: ``EN`` or ``RU`` when only one language's table has the column.
    only: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class Param:
    """One request parameter; ``condition`` says when a conditionally required one is needed."""

    name: str
    type: str
    required: bool
    condition: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class MethodWindow:
    """The date window of a method: the field ``date_from``/``date_till`` select on and the longest span.

    ``field_stated`` / ``max_days_stated`` are False where the vendor's page is silent and the value is ours.
    """

    field: str
    max_days: int | None
    field_stated: bool
    max_days_stated: bool


@dataclass(frozen=True)
class MethodSpec:
    """One read method as documented: parameters, columns, window, paging key, weight and sources."""

    name: str
    title: str
    path: str
    sources: Mapping[str, str]
    access: str
    weight: int
    window: MethodWindow | None
    #: Columns the pages call unique per record.
    unique: tuple[str, ...]
    #: A sortable column unique per record: sorting by it alone pages without a skip or a repeat.
    paging_key: str | None
    params: tuple[Param, ...]
    columns: tuple[Column, ...]

    @cached_property
    def by_name(self) -> Mapping[str, Column]:
        """The columns by name."""
        return {column.name: column for column in self.columns}

    @property
    def column_names(self) -> tuple[str, ...]:
        """Every column, in the vendor's order."""
        return tuple(column.name for column in self.columns)

    @property
    def default_columns(self) -> tuple[str, ...]:
        """The columns of the reply when ``fields`` is not sent, in the vendor's order."""
        return tuple(column.name for column in self.columns if column.default)

    @property
    def filterable(self) -> tuple[str, ...]:
        """The columns a ``filter`` may name."""
        return tuple(column.name for column in self.columns if column.filterable)

    @property
    def sortable(self) -> tuple[str, ...]:
        """The columns a ``sort`` may name."""
        return tuple(column.name for column in self.columns if column.sortable)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Every request parameter the method takes."""
        return tuple(param.name for param in self.params)

    @property
    def source(self) -> str:
        """The page to read first: the English one, else the first listed."""
        return self.sources.get("EN") or next(iter(self.sources.values()), "")

    def kinds(self) -> dict[str, str]:
        """The parquet kind of every column."""
        return {column.name: column.kind for column in self.columns}


def _column(raw: Mapping[str, Any]) -> Column:
    return Column(
        name=raw["name"],
        type=raw["type"],
        kind=raw["kind"],
        filterable=raw["filterable"],
        sortable=raw["sortable"],
        default=bool(raw["default"]),
        children=tuple(Child(c["name"], c["type"], tuple(c["values"])) for c in raw["children"]),
        items=raw["items"],
        values=tuple(raw["values"]),
        values_are_codes=raw["values_are_codes"],
        only=raw["only"],
        notes=raw["notes"],
    )


def _method(raw: Mapping[str, Any]) -> MethodSpec:
    window = raw["window"]
    return MethodSpec(
        name=raw["name"],
        title=raw["title"],
        path=raw["path"],
        sources=dict(raw["sources"]),
        access=raw["access"],
        weight=raw["weight"],
        window=MethodWindow(**window) if window else None,
        unique=tuple(raw["unique"]),
        paging_key=raw["paging_key"],
        params=tuple(Param(**param) for param in raw["params"]),
        columns=tuple(_column(column) for column in raw["columns"]),
    )


@cache
def catalog() -> Mapping[str, MethodSpec]:
    """Every documented read method by name, in the reference's order (read once)."""
    text = Path(__file__).with_name("catalog.json").read_text(encoding="utf-8")
    return {raw["name"]: _method(raw) for raw in json.loads(text)["methods"]}


def method_spec(name: str) -> MethodSpec | None:
    """The documented method ``name``, or ``None`` when the catalog does not have it."""
    return catalog().get(name)


def windowed_methods() -> tuple[str, ...]:
    """The methods that read a date window (the report methods and ``get.uploaded_calls``)."""
    return tuple(name for name, spec in catalog().items() if spec.window is not None)


def column_values(method: str, column: str) -> tuple[str, ...]:
    """The documented values of one enum column of a method (e.g. the upload statuses)."""
    return catalog()[method].by_name[column].values


def child_values(method: str, column: str, child: str) -> tuple[str, ...]:
    """The documented values of a nested field (e.g. the ``callback.events`` an upload may ask for)."""
    return next(item.values for item in catalog()[method].by_name[column].children if item.name == child)
