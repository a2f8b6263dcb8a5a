"""CSV: RFC-4180 rows under a ``columns`` header, ``\\n`` line ends, booleans as ``true``/``false``, nested values as
sorted-key JSON; a typed page is written column by column when that gives the csv module's bytes (checked at import).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Final

from uis_provider.storage.formats.json_text import _sorted_json_text
from uis_provider.storage.formats.text import _TEXT_FLUSH_LINES, _ByteSink, _TextWriter
from uis_provider.storage.rows import ANY, BOOL, NESTED, Rows

_CSV_SPECIAL: Final = frozenset({bool, dict, list, tuple})
_BOOL_CELL: Final[Mapping[Any, str]] = {True: "true", False: "false", None: ""}
_CSV_QUOTE_TRIGGERS: Final = (",", '"', "\r", "\n")


def _csv_cell(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _sorted_json_text(value)


def _quoted_csv_line(row: list[Any]) -> str:
    """Render a row quoting every field that needs it, including a bare ``\\r`` the csv module leaves as is."""
    cells = []
    for value in row:
        text = "" if value is None else str(value)
        if any(trigger in text for trigger in _CSV_QUOTE_TRIGGERS):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells) + "\n"


def _csv_text(value: Any) -> str:
    """A cell's text before quoting, as the csv module writes ``_CsvWriter``'s row values."""
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    if value.__class__ in _CSV_SPECIAL:
        return str(_csv_cell(value))
    return repr(value) if isinstance(value, float) else str(value)


def _plain_texts(values: Sequence[Any]) -> list[str]:
    """A column of str, int or float values (or None) as cell texts; whole columns of one type are converted in C."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(values)
    if kinds == {int}:
        return list(map(str, values))
    return ["" if value is None else value if value.__class__ is str else str(value) for value in values]


def _quoted_cells(texts: list[str]) -> list[str]:
    """One column's cells, those holding a delimiter, quote or line break quoted (looked for once per column)."""
    joined = "".join(texts)
    if not any(trigger in joined for trigger in _CSV_QUOTE_TRIGGERS):
        return texts
    return [
        '"' + text.replace('"', '""') + '"' if "," in text or '"' in text or "\n" in text or "\r" in text else text
        for text in texts
    ]


def _csv_lines(cells: list[list[str]]) -> str:
    """Rows of already quoted cells (given column by column) as ``\n``-terminated CSV lines."""
    return "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"


def _csv_writes_nul() -> bool:
    """Whether the csv module writes a NUL (Python 3.11+); before, it refuses one with ``csv.Error``."""
    try:
        csv.writer(SimpleNamespace(write=lambda _line: None)).writerow(["\x00"])
    except csv.Error:
        return False
    return True


_CSV_WRITES_NUL: Final = _csv_writes_nul()


def _csv_by_column_agrees() -> bool:
    """Check at import that cells quoted column by column make the csv module's lines (with ``\r`` quoted)."""
    values = ["", "a", 'say "hi"', "a,b", "line\nbreak", "cr\ronly", "crlf\r\n", " lead", "tab\t", "é\u2028"]
    if _CSV_WRITES_NUL:
        values.append("\x00")
    rows = [[value, index, None, index % 2 == 0] for index, value in enumerate(values)]
    lines: list[str] = []
    writer = csv.writer(SimpleNamespace(write=lines.append), lineterminator="\n")
    for row in rows:
        cells_row = [value if value.__class__ is not bool else _csv_cell(value) for value in row]
        writer.writerow(cells_row)
        if "\r" in lines[-1]:
            lines[-1] = _quoted_csv_line(cells_row)
    columns = [[_csv_text(value) for value in column] for column in zip(*rows, strict=True)]
    return _csv_lines([_quoted_cells(column) for column in columns]) == "".join(lines)


_CSV_BY_COLUMN: Final = _csv_by_column_agrees()
"""Whether typed pages are written as CSV column by column (else through the csv module, row by row)."""


class _CsvWriter(_TextWriter[str]):
    """RFC-4180 CSV with a ``columns`` header and ``\\n`` line ends; nested values as sorted-key JSON.

    A typed page is turned into text column by column, in C where it can.
    """

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        super().__init__(sink, columns)
        self._lines: list[str] = []
        self._csv = csv.writer(SimpleNamespace(write=self._lines.append), lineterminator="\n")
        self._csv.writerow(columns)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a CSV row (keys beyond ``columns`` are not part of the fixed header)."""
        self._check_open()
        get = record.get
        row = [value if value.__class__ not in _CSV_SPECIAL else _csv_cell(value) for value in map(get, self._columns)]
        self._csv.writerow(row)
        if "\r" in self._lines[-1]:
            self._lines[-1] = _quoted_csv_line(row)
        self.records += 1
        if len(self._lines) >= _TEXT_FLUSH_LINES:
            self._flush()

    def _write_page(self, page: str, count: int) -> None:
        self._flush()
        self._sink.write(page.encode("utf-8"))
        self.records += count

    def _typed_page(self, rows: Rows) -> str | None:
        """The page's CSV lines, or None when they might differ from the csv module's (then records go one by one)."""
        if not _CSV_BY_COLUMN or len(self._columns) < 2:
            return None
        if not self._column_set.issubset(rows.visible) or not rows.exact():
            return None
        if not rows:
            return ""
        row_type = rows.row_type
        fields = rows.columns()
        cells = []
        try:
            for name in self._columns:
                values = fields[row_type.index[name]]
                shape = row_type.shapes[name]
                if shape == BOOL:
                    texts = list(map(_BOOL_CELL.__getitem__, values))
                elif shape == NESTED:
                    texts = row_type.json_texts(list(values), null="")
                elif shape == ANY:
                    texts = list(map(_csv_text, values))
                else:
                    texts = _plain_texts(values)
                cells.append(_quoted_cells(texts))
        except Exception:  # text UTF-8 cannot hold (lone surrogates): the reference path raises it as before
            return None
        text = _csv_lines(cells)
        if not _CSV_WRITES_NUL and "\x00" in text:
            return None  # Python 3.10's csv module refuses a NUL: the reference path raises it as before
        return text

    def _flush(self) -> None:
        if self._lines:
            self._sink.write("".join(self._lines).encode("utf-8"))
            self._lines.clear()

    def _discard(self) -> None:
        self._closed = True
        self._lines.clear()
