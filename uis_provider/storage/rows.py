"""Typed records: a page decoded in C straight into msgspec Structs typed by the method catalog, and written whole.

A :class:`RowType` is the record of one query: a Struct whose fields are the requested columns in order, each typed
from :class:`~uis_provider.protocol.methods.ReportMethod` and the catalog (the vendor's type, the parquet kind, the
fields of nested objects, sorted as the writers sort nested keys). Decoding a page into it skips the tens of
thousands of dicts of the generic path, and the writers encode a :class:`Rows` page as a whole (JSON lines by
msgspec a slice of records per call, CSV and parquet column by column) into the same bytes the record-by-record
path writes.

A page that does not fit the type is decoded generically instead (:meth:`RowType.decode` returns ``None``): a key
the query did not ask for (a column the API adds), a value of another type than documented, a float msgspec would
print differently from the standard library. So the typed path can only make a page faster, never drop or change a
value. A column the catalog does not know is typed ``Any`` and checked like the generic path's values. msgspec is
optional (Airflow 3 brings it): without it :func:`row_type_for` returns ``None`` and every page goes the generic way.
"""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from operator import attrgetter
from types import GenericAlias, ModuleType
from typing import TYPE_CHECKING, Any, Final, overload

from uis_provider.protocol.catalog import Child, method_spec
from uis_provider.storage.fastjson import json_line

if TYPE_CHECKING:
    from uis_provider.protocol.methods import ReportMethod

log = logging.getLogger(__name__)

#: How a column is handled when a page is written column by column.
PLAIN: Final = "plain"  # str, int or float values: written as they are
BOOL: Final = "bool"  # True/False/None
NESTED: Final = "nested"  # typed lists and objects (their keys sorted by the type itself)
ANY: Final = "any"  # a column the catalog does not type: any JSON value

_SCALAR_TYPES: Final = frozenset({str, int, bool, type(None)})
#: The items of a list, or the values of an object, the catalog documents no fields of: JSON scalars but floats.
_SCALAR: Final[Any] = str | int | bool | None
_CONTAINER_TYPES: Final = frozenset({dict, list})
_MAX_DEPTH: Final = 64


def _load_msgspec() -> ModuleType | None:
    try:
        return importlib.import_module("msgspec")
    except ImportError:
        return None


_msgspec: ModuleType | None = _load_msgspec()
"""msgspec when installed; ``None`` turns the typed path off (the benchmark's record-by-record variant does too)."""


class _Types:
    """msgspec types of the catalog's vendor types; nested objects become Structs with their keys in sorted order."""

    def __init__(self, msgspec: ModuleType, method: str) -> None:
        self._msgspec = msgspec
        self._method = method

    def column(
        self, name: str, vendor_type: str | None, kind: str | None, children: tuple[Child, ...]
    ) -> tuple[Any, str]:
        """The type of a top-level column and its shape (see :data:`PLAIN` ...); ``Any`` for an unknown type."""
        if vendor_type in ("string", "enum", "iso8601"):
            return str | None, PLAIN
        if vendor_type == "boolean":
            return bool | None, BOOL
        if vendor_type == "number":
            return (int | float | None if kind == "float64" else int | None), PLAIN
        nested = self._nested(name, vendor_type, children)
        if nested is not None:
            return nested | None, NESTED
        return Any, ANY

    def _nested(self, name: str, vendor_type: str | None, children: tuple[Child, ...]) -> Any:
        if vendor_type == "array":
            return GenericAlias(list, (self._child_struct(name, children) if children else _SCALAR,))
        if vendor_type == "object":
            return self._child_struct(name, children) if children else GenericAlias(dict, (str, _SCALAR))
        return None

    def _child(self, vendor_type: str) -> Any:
        if vendor_type in ("string", "enum", "iso8601"):
            return str
        if vendor_type == "boolean":
            return bool
        if vendor_type == "number":
            return int
        nested = self._nested("", vendor_type, ())
        if nested is None:
            raise ValueError(f"no typed form for a nested {vendor_type!r}")
        return nested

    def _child_struct(self, name: str, children: tuple[Child, ...]) -> Any:
        """A Struct of the nested object's documented keys, sorted: a key it lacks stays missing (``UNSET``)."""
        names = sorted(child.name for child in children)
        by_name = {child.name: child for child in children}
        unset = self._msgspec.UNSET
        fields = [(key, self._child(by_name[key].type) | None, unset) for key in names]
        return _struct(self._msgspec, f"{self._method}.{name}", fields, probe_names=names)


def _struct(msgspec: ModuleType, name: str, fields: list[tuple[str, Any, Any]], *, probe_names: list[str]) -> Any:
    """A Struct with these fields in order, named on the wire exactly as the standard library writes the names.

    Attributes are ``f0``, ``f1``, ... renamed to the names, so any text can be a column; a name msgspec would
    write otherwise than ``json`` (some escapes) raises ValueError, and the caller goes without a typed path.
    """
    attributes = [(f"f{index}", field_type, default) for index, (_, field_type, default) in enumerate(fields)]
    rename = {f"f{index}": field_name for index, (field_name, _, _) in enumerate(fields)}
    struct = msgspec.defstruct(name, attributes, rename=rename, forbid_unknown_fields=True, gc=False)
    encoded = msgspec.json.encode(struct(*[None] * len(fields)))
    if encoded != json_line(dict.fromkeys(probe_names)).encode("utf-8"):
        raise ValueError(f"msgspec writes the names {probe_names!r} differently from json")
    return struct


class RowType:
    """The typed record of one query of one method: its Struct, decoder and encoder, and what each column holds.

    :param msgspec: the msgspec module.
    :param method: the method (its columns' vendor types and parquet kinds; nested keys from the catalog).
    :param columns: the columns written, in order.
    :param fields: the columns asked for: ``columns`` then those asked only to page (dropped before writing).
    """

    def __init__(self, msgspec: ModuleType, method: ReportMethod, columns: tuple[str, ...], fields: tuple[str, ...]):
        if fields[: len(columns)] != columns:
            raise ValueError("the requested fields must start with the written columns")
        self.method = method.name
        self.columns = columns
        self.fields = fields
        self._msgspec = msgspec
        vendor_types = dict(method.column_types)
        kinds = dict(method.column_kinds)
        spec = method_spec(method.name)
        documented = spec.by_name if spec is not None else {}
        types = _Types(msgspec, method.name)
        typed = []
        self.shapes: dict[str, str] = {}
        for name in fields:
            column = documented.get(name)
            children = column.children if column is not None and vendor_types.get(name) == column.type else ()
            field_type, shape = types.column(name, vendor_types.get(name), kinds.get(name), children)
            typed.append((name, field_type, None))
            self.shapes[name] = shape
        self.struct = _struct(msgspec, method.name, typed, probe_names=list(fields))
        self._records_type = GenericAlias(list, (self.struct,))
        self._decoder = msgspec.json.Decoder(self._records_type)
        self._encoder = msgspec.json.Encoder(order="deterministic")
        self._errors = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, TypeError, ValueError)
        self._attributes = {name: f"f{index}" for index, name in enumerate(fields)}
        #: The position of each field in a record (and in :meth:`Rows.columns`).
        self.index = {name: index for index, name in enumerate(fields)}
        self._astuple = msgspec.structs.astuple
        self._floats = [
            self.getter(name) for name in fields if kinds.get(name) == "float64" and self.shapes[name] == PLAIN
        ]
        self._untyped = [self.getter(name) for name in fields if self.shapes[name] == ANY]
        self.unset = msgspec.UNSET

    def __repr__(self) -> str:
        return f"RowType({self.method!r}, {len(self.fields)} fields)"

    def astuple(self, item: Any) -> tuple[Any, ...]:
        """A typed record's values in field order."""
        values: tuple[Any, ...] = self._astuple(item)
        return values

    def getter(self, name: str) -> Callable[[Any], Any]:
        """A function reading column ``name`` of a typed record."""
        return attrgetter(self._attributes[name])

    def attribute(self, name: str) -> str:
        """The attribute of a typed record holding column ``name``."""
        return self._attributes[name]

    def decode(self, data: Any) -> Rows | None:
        """The records of an encoded ``data`` member, or ``None`` when a record does not fit the type.

        ``None`` means: decode it generically (a key not asked for, a value of another type, malformed JSON, which
        the generic decoder then reports). Why is logged at DEBUG.
        """
        try:
            items = self._decoder.decode(data)
        except self._errors as exc:
            log.debug("%s: a page is decoded as plain records, not typed ones: %s", self.method, exc)
            return None
        return Rows(self, items)

    def convert(self, records: Sequence[Mapping[str, Any]]) -> Rows | None:
        """Already decoded records as typed ones, or ``None`` when one does not fit the type (as :meth:`decode`)."""
        if not isinstance(records, list) or not all(type(record) is dict for record in records):
            return None
        try:
            items = self._msgspec.convert(records, self._records_type)
        except self._errors as exc:
            log.debug("%s: records stay plain, not typed: %s", self.method, exc)
            return None
        return Rows(self, items)

    def encode_lines(self, items: list[Any]) -> bytes:
        """Each record (or value) as one compact JSON line, nested keys sorted; UNSET fields left out."""
        data: bytes = self._encoder.encode_lines(items)
        return data

    def json_texts(self, values: list[Any], null: Any = None) -> list[Any]:
        """Each value as compact JSON text with sorted keys, ``null`` for ``None`` (in C: one call per column)."""
        texts = self.encode_lines(values).decode("utf-8").split("\n")
        texts.pop()
        return list(map({"null": null}.get, texts, texts))

    def to_dicts(self, items: list[Any]) -> list[dict[str, Any]]:
        """Typed records as plain dicts (nested objects too), without the fields set to UNSET."""
        dicts: list[dict[str, Any]] = self._msgspec.to_builtins(items)
        return dicts

    def exact(self, items: list[Any]) -> bool:
        """Whether msgspec writes every value of these records as the standard library does (only floats differ)."""
        for getter in self._floats:
            if not _floats_exact(self._encoder.encode, [value for value in map(getter, items) if type(value) is float]):
                return False
        if self._untyped:
            values = [getter(item) for item in items for getter in self._untyped]
            return _plain_or_exact_floats(self._encoder.encode, values)
        return True


def _floats_exact(encode: Callable[[Any], bytes], floats: list[float]) -> bool:
    return all(encode(value) == repr(value).encode("ascii") for value in floats)


def _plain_or_exact_floats(encode: Callable[[Any], bytes], values: list[Any]) -> bool:
    """Whether ``values`` hold only JSON scalars, dicts and lists, with floats msgspec writes as ``json`` does.

    Walks level by level in C (``gc.get_referents`` lists the items of lists and the values of dicts); the dict
    keys of decoded JSON are always ``str``.
    """
    level = values
    for _ in range(_MAX_DEPTH):
        kinds = set(map(type, level))
        if float in kinds:
            kinds.discard(float)
            if not _floats_exact(encode, [value for value in level if type(value) is float]):
                return False
        if not _SCALAR_TYPES.issuperset(kinds - _CONTAINER_TYPES):
            return False
        level = gc.get_referents(*(value for value in level if type(value) in _CONTAINER_TYPES))
        if not level:
            return True
    return False


class Rows(Sequence[dict[str, Any]]):
    """A page of typed records (:attr:`items`), read as plain dicts wherever a sequence of records is expected.

    Writers take :attr:`items` as a whole; indexing and iterating make dicts, for code that wants records.
    """

    __slots__ = ("_exact", "items", "row_type", "visible")

    def __init__(self, row_type: RowType, items: list[Any], visible: tuple[str, ...] | None = None) -> None:
        self.row_type = row_type
        self.items = items
        #: The fields still held (those set to UNSET by :meth:`forget` are left out).
        self.visible = visible if visible is not None else row_type.fields
        self._exact: bool | None = None

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return self.row_type.to_dicts(self.items[index])
        return self.row_type.to_dicts([self.items[index]])[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def records(self) -> list[dict[str, Any]]:
        """Every record as a plain dict."""
        return self.row_type.to_dicts(self.items)

    def column(self, name: str) -> list[Any]:
        """The values of column ``name``, in record order."""
        return list(map(self.row_type.getter(name), self.items))

    def columns(self) -> list[tuple[Any, ...]]:
        """The values of every field, column by column in ``RowType.fields`` order (empty without records)."""
        return list(zip(*map(self.row_type.astuple, self.items), strict=True))

    def subset(self, indexes: list[int]) -> Rows:
        """The records at ``indexes``, in that order."""
        items = self.items
        return Rows(self.row_type, [items[index] for index in indexes], self.visible)

    def forget(self, names: Sequence[str]) -> None:
        """Drop fields from every record (set to UNSET, which encoders leave out)."""
        if not names:
            return
        unset = self.row_type.unset
        for name in names:
            attribute = self.row_type.attribute(name)
            for item in self.items:
                setattr(item, attribute, unset)
        self.visible = tuple(name for name in self.visible if name not in names)

    def exact(self) -> bool:
        """Whether msgspec writes these records byte for byte as the reference encoder would (see
        :meth:`RowType.exact`)."""
        if self._exact is None:
            self._exact = self.row_type.exact(self.items)
        return self._exact


@lru_cache(maxsize=64)
def _cached_row_type(method: ReportMethod, columns: tuple[str, ...], fields: tuple[str, ...]) -> RowType | None:
    msgspec = _msgspec
    if msgspec is None:
        return None
    try:
        return RowType(msgspec, method, columns, fields)
    except Exception as exc:  # an older msgspec, or names msgspec writes otherwise: the generic path serves
        log.debug("%s: no typed records for %s: %s", method.name, fields, exc)
        return None


def row_type_for(method: ReportMethod, columns: Sequence[str], fields: Sequence[str]) -> RowType | None:
    """The typed record of a query writing ``columns`` and asking ``fields``; ``None`` without msgspec (or when
    msgspec cannot name the fields as ``json`` does). Built once per query shape."""
    if _msgspec is None:
        return None
    return _cached_row_type(method, tuple(columns), tuple(fields))


def column_of(batch: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """The values of column ``name`` in a page, typed or plain, in record order (``None`` where a record has none)."""
    if isinstance(batch, Rows):
        if name not in batch.row_type.index:
            return [None] * len(batch)
        unset = batch.row_type.unset
        return [None if value is unset else value for value in batch.column(name)]
    return [record.get(name) for record in batch]
