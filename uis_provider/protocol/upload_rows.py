"""Read the user's calls into rows: JSON lines, CSV or a list, each row keeping its 1-based line (list: position).

A row holds the parsed value or why it could not be parsed; :func:`uis_provider.protocol.upload_plan.validate_rows`
checks the values against :mod:`uis_provider.protocol.upload_rules`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.upload_rules import BOOL_FIELDS, CALL_FIELDS, INT_FIELDS, JSON_FIELDS, REQUIRED_FIELDS

_CSV_INT = re.compile(r"[+-]?[0-9]+")
_CSV_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_CSV_FALSE = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class SourceRow:
    """One input row: its 1-based line (or list position) and the parsed value, or why it could not be parsed."""

    line: int
    value: Any = None
    error: str | None = None


def jsonl_rows(lines: Iterable[str]) -> Iterator[SourceRow]:
    """Rows of JSON-lines text: one JSON object per line; blank lines are skipped but still counted."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            yield SourceRow(number, error="the JSON is nested too deeply")
        except ValueError as exc:
            yield SourceRow(number, error=f"not valid JSON ({exc})")
        else:
            yield SourceRow(number, value=value)


def list_rows(calls: Sequence[Any]) -> Iterator[SourceRow]:
    """Rows of a list of calls (e.g. from XCom); ``line`` is the 1-based position."""
    for number, value in enumerate(calls, start=1):
        yield SourceRow(number, value=value)


def csv_rows(lines: Iterable[str], *, delimiter: str = ",") -> Iterator[SourceRow]:
    """Rows of CSV text with a header of call field names; nested fields hold JSON, empty cells mean "not set".

    ``lines`` must keep their line endings (open the text with ``newline=""``). A header naming an unknown field,
    naming one twice or lacking ``ext_id`` or ``is_lost`` is refused before any row is read.
    """
    counter = _LineCounter(lines)
    reader = csv.reader(counter, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UISConfigurationError(f"the CSV header (line 1) cannot be read: {exc}") from None
    columns = [name.strip().lstrip("\ufeff") for name in header]
    _check_csv_header(columns)
    while True:
        first_line = counter.count + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceRow(first_line, error=f"malformed CSV ({exc})")
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield SourceRow(first_line, error=f"has {len(cells)} cells, the header has {len(columns)} columns")
            continue
        yield _csv_call(first_line, columns, cells)


class _LineCounter:
    """Iterate text lines while counting them, so CSV records spanning lines keep their first line number."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.count = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


def _check_csv_header(columns: list[str]) -> None:
    unknown = [name for name in columns if name not in CALL_FIELDS]
    if unknown:
        raise UISConfigurationError(
            f"the CSV header names {unknown}, which upload.calls does not take; the columns are call fields: "
            f"{', '.join(CALL_FIELDS)}"
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise UISConfigurationError(f"the CSV header names {repeated} more than once")
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise UISConfigurationError(f"the CSV header has no {' and no '.join(missing)} column; both are required")


def _csv_call(line: int, columns: list[str], cells: list[str]) -> SourceRow:
    """A call from CSV cells; empty cells are left out, and a nested field that is not JSON is named."""
    call: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in zip(columns, cells, strict=True):
        text = raw if name == "comment" else raw.strip()
        if text == "":
            continue
        try:
            call[name] = _csv_value(name, text)
        except ValueError as exc:
            problems.append(f"{name} must hold JSON ({exc})")
    return SourceRow(line, value=call, error="; ".join(problems) or None)


def _csv_value(name: str, text: str) -> Any:
    """The value of one non-empty cell: text that is not a boolean or a number stays text, so validation names it;
    a nested field's JSON is parsed (``ValueError`` when it is not JSON)."""
    if name in BOOL_FIELDS:
        flag = text.lower()
        return True if flag in _CSV_TRUE else False if flag in _CSV_FALSE else text
    if name in INT_FIELDS:
        return int(text) if _CSV_INT.fullmatch(text) else text
    if name in JSON_FIELDS:
        return json.loads(text)
    return text
