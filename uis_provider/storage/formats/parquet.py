"""Parquet: a schema fixed by ``columns`` and their kinds, one row group per ``row_group_size`` records (pyarrow).

A typed page is converted column by column (json columns encoded in one call each); a value its column cannot hold
fails with :class:`~uis_provider.exceptions.UISDataError` naming the column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, BinaryIO, Final

from uis_provider.exceptions import UISDataError
from uis_provider.storage.formats.base import _PageWriter
from uis_provider.storage.formats.json_text import _NESTED, _sorted_json_text
from uis_provider.storage.formats.options import parquet_missing_message, validate_column_kinds
from uis_provider.storage.rows import NESTED, Rows

_PARQUET_CODECS: Final[Mapping[str | None, str]] = {None: "snappy", "gzip": "gzip"}


def _import_pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:
        raise ValueError(parquet_missing_message()) from err
    return pyarrow, pyarrow.parquet


def _int_or_fail(column: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise UISDataError(f"column {column!r} is int64 in the parquet schema but a record holds {value!r:.80}")

    return convert


def _float_or_fail(column: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, float, str)):
            try:
                return float(value)
            except ValueError:
                pass
        raise UISDataError(f"column {column!r} is float64 in the parquet schema but a record holds {value!r:.80}")

    return convert


def _bool_or_fail(column: str) -> Callable[[Any], Any]:
    words = {"true": True, "false": False, "1": True, "0": False}

    def convert(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in words:
            return words[value.strip().lower()]
        raise UISDataError(f"column {column!r} is bool in the parquet schema but a record holds {value!r:.80}")

    return convert


def _string_cell(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value.__class__ in _NESTED:
        return _sorted_json_text(value)
    return str(value)


class _ParquetWriter(_PageWriter[list[Sequence[Any]]]):
    """Parquet with a schema fixed by ``columns``; one row group per ``row_group_size`` records.

    Records are buffered as Arrow arrays, a chunk per page (a typed page converted column by column, records written
    one by one converted when a page or a row group follows them); a row group is cut from the chunks, so the groups
    and their values are those of writing every record one by one.
    """

    def __init__(
        self,
        binary_file: BinaryIO,
        columns: tuple[str, ...],
        kinds: Mapping[str, str],
        codec: str,
        row_group_size: int,
    ) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be at least 1; got {row_group_size!r}")
        validate_column_kinds(kinds)
        column_kinds = tuple(kinds.get(name, "string") for name in columns)
        self._pa, parquet = _import_pyarrow()
        pa = self._pa
        arrow_types = {
            "string": pa.string(),
            "json": pa.string(),
            "int64": pa.int64(),
            "float64": pa.float64(),
            "bool": pa.bool_(),
        }
        self.records = 0
        self._columns = columns
        self._column_set = frozenset(columns)
        self._kinds = column_kinds
        self._arrow_types = tuple(arrow_types[kind] for kind in column_kinds)
        self._schema = pa.schema(
            [pa.field(name, arrow_types[kind]) for name, kind in zip(columns, column_kinds, strict=True)]
        )
        self._row_group_size = row_group_size
        self._rows: list[tuple[Any, ...]] = []
        #: Buffered chunks of records, each an Arrow array per column.
        self._chunks: list[list[Any]] = []
        self._buffered = 0
        self._writer = parquet.ParquetWriter(binary_file, self._schema, compression=codec)
        self._closed = False

    def write(self, record: Mapping[str, Any]) -> None:
        """Buffer one record; a full buffer becomes a row group."""
        self._check_open()
        self._rows.append(tuple(map(record.get, self._columns)))
        self.records += 1
        self._buffered += 1
        if self._buffered >= self._row_group_size:
            self._flush()

    def _write_page(self, page: list[Sequence[Any]], count: int) -> None:
        self._seal_rows()
        self._chunks.append([self._array(index, values) for index, values in enumerate(page)])
        self.records += count
        self._buffered += count
        if self._buffered >= self._row_group_size:
            self._flush()

    def _typed_page(self, rows: Rows) -> list[Sequence[Any]] | None:
        """The page's values column by column (json columns as text), or None when msgspec could write a cell
        otherwise."""
        if not self._column_set.issubset(rows.visible) or not rows.exact():
            return None
        row_type = rows.row_type
        fields = rows.columns() if rows else [() for _ in row_type.fields]
        columns: list[Sequence[Any]] = []
        try:
            for name, kind in zip(self._columns, self._kinds, strict=True):
                values: Sequence[Any] = fields[row_type.index[name]]
                if kind == "json":
                    values = row_type.json_texts(list(values))
                elif row_type.shapes[name] == NESTED:
                    values = row_type.to_dicts(list(values))
                columns.append(values)
        except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
            return None
        return columns

    def _seal_rows(self) -> None:
        """Turn the records written one by one into a chunk."""
        if not self._rows:
            return
        columns: list[Sequence[Any]] = list(zip(*self._rows, strict=True))
        self._rows = []
        for index, kind in enumerate(self._kinds):
            if kind == "json":
                columns[index] = [None if value is None else _sorted_json_text(value) for value in columns[index]]
        self._chunks.append([self._array(index, values) for index, values in enumerate(columns)])

    def _array(self, index: int, values: Sequence[Any]) -> Any:
        """One column's values as an Arrow array of its kind (json values already as text)."""
        pa = self._pa
        kind = self._kinds[index]
        arrow_type = self._arrow_types[index]
        if kind == "json":
            return pa.array(values, arrow_type)
        try:
            return pa.array(values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            column = self._columns[index]
            converters: dict[str, Callable[[Any], Any]] = {
                "int64": _int_or_fail(column),
                "float64": _float_or_fail(column),
                "bool": _bool_or_fail(column),
                "string": _string_cell,
            }
            return pa.array([converters[kind](value) for value in values], arrow_type)

    def _flush(self, *, last: bool = False) -> None:
        """Write a row group per ``row_group_size`` records buffered; with ``last`` the rest too."""
        self._seal_rows()
        while self._buffered >= self._row_group_size or (last and self._buffered):
            size = min(self._buffered, self._row_group_size)
            chunks = self._chunks
            joined = [
                chunks[0][index] if len(chunks) == 1 else self._pa.concat_arrays([chunk[index] for chunk in chunks])
                for index in range(len(self._columns))
            ]
            self._chunks = [[array.slice(size) for array in joined]] if self._buffered > size else []
            self._buffered -= size
            group = [array.slice(0, size) if len(array) > size else array for array in joined]
            table = self._pa.Table.from_arrays(group, schema=self._schema)
            self._writer.write_table(table, row_group_size=len(table))

    def close(self) -> None:
        """Write the last row group and the footer; the underlying file stays open.

        When the last row group fails (a value its column cannot hold), the Parquet writer is discarded before the
        error goes on: left open, it would try to finish the file when collected, after the file is closed.
        """
        if self._closed:
            return
        try:
            self._flush(last=True)
        except BaseException:
            self._discard()
            raise
        self._writer.close()
        self._closed = True

    def _discard(self) -> None:
        self._closed = True
        self._rows = []
        self._chunks = []
        self._buffered = 0
        with contextlib.suppress(Exception):
            self._writer.close()
