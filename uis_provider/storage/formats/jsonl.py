"""JSON lines: one compact JSON object per line, keys in ``columns`` order then extra keys sorted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from uis_provider.storage.fastjson import json_line as _json_line
from uis_provider.storage.formats import json_text
from uis_provider.storage.formats.json_text import _NESTED
from uis_provider.storage.formats.text import _TEXT_FLUSH_LINES, _ByteSink, _TextWriter
from uis_provider.storage.rows import Rows

#: Typed records encoded per msgspec call: a 10 000-record page's 7 MB of JSON lines go out in slices of ~1.5 MB.
_TYPED_SLICE: Final = 2048


def _canonical(value: dict[str, Any] | list[Any] | tuple[Any, ...]) -> Any:
    """Return a nested value with every dict's keys sorted, so equal records encode identically."""
    if isinstance(value, dict):
        return {key: _canonical(item) if item.__class__ in _NESTED else item for key, item in sorted(value.items())}
    return [_canonical(item) if item.__class__ in _NESTED else item for item in value]


class _JsonLinesWriter(_TextWriter[Rows]):
    """One compact JSON object per ``\\n``-terminated line, keys in ``columns`` order.

    A typed page holding exactly the columns is encoded by msgspec, a slice of :data:`_TYPED_SLICE` records per
    call (a page's text is never held whole).
    """

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        super().__init__(sink, columns)
        self._lines: list[bytes] = []
        fast = json_text._fast_json
        self._fast_line = fast.row_encoder(columns) if fast is not None else None

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line (msgspec when the record is plain JSON, else the stdlib encoder).

        Text that UTF-8 cannot encode (lone surrogates) raises UnicodeEncodeError here.
        """
        self._check_open()
        line = self._fast_line(record) if self._fast_line is not None else None
        if line is None:
            line = self._stdlib_line(record).encode("utf-8")
        self._lines.append(line + b"\n")
        self.records += 1
        if len(self._lines) >= _TEXT_FLUSH_LINES:
            self._flush()

    def _typed_page(self, rows: Rows) -> Rows | None:
        """The page itself when it holds exactly the columns, in order."""
        if rows.visible != self._columns or not rows.exact():
            return None
        return rows

    def _write_page(self, page: Rows, count: int) -> None:
        self._flush()
        items, row_type = page.items, page.row_type
        for start in range(0, len(items), _TYPED_SLICE):
            part = items[start : start + _TYPED_SLICE]
            try:
                data = row_type.encode_lines(part)
            except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
                for record in row_type.to_dicts(items[start:]):
                    self.write(record)
                return
            self._sink.write(data)
            self.records += len(part)

    def _flush(self) -> None:
        if self._lines:
            self._sink.write(b"".join(self._lines))
            self._lines.clear()

    def _discard(self) -> None:
        self._closed = True
        self._lines.clear()

    def _stdlib_line(self, record: Mapping[str, Any]) -> str:
        """The reference layout: columns, then extra keys sorted, nested dicts key-sorted, stdlib ``json``."""
        get = record.get
        row = {name: get(name) for name in self._columns}
        if not self._column_set.issuperset(record):
            for name in sorted(record.keys() - self._column_set):
                row[name] = record[name]
        for name, value in row.items():
            if value.__class__ in _NESTED:
                row[name] = _canonical(value)
        return _json_line(row)
