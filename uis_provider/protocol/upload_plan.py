"""From checked rows to ``upload.calls`` requests: which rows go, in which batches, under which request ids.

Rows (:mod:`uis_provider.protocol.upload_rows`) are checked against the API's rules
(:mod:`uis_provider.protocol.upload_rules`); valid calls are cut, in input order, into batches of at most 50 calls
and 512 KB of JSON, each with a request id that is the same on every retry of the same task run. The names of the
reading, rule and parameter modules stay importable from here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from uis_provider.protocol.upload_params import (
    INPUT_FORMATS,
    ON_INVALID,
    input_format,
    validate_batch_size,
    validate_csv_delimiter,
    validate_on_invalid,
    validate_request_prefix,
)
from uis_provider.protocol.upload_rows import SourceRow, csv_rows, jsonl_rows, list_rows
from uis_provider.protocol.upload_rules import (
    BOOL_FIELDS,
    CALL_FIELDS,
    CALLBACK_EVENTS,
    CHANNELS,
    DIRECTIONS,
    INT_FIELDS,
    JSON_FIELDS,
    MAX_BATCH_CALLS,
    MAX_EXT_ID_LENGTH,
    MAX_REQUEST_BYTES,
    STRING_FIELDS,
    check_call,
)

__all__ = [
    "BOOL_FIELDS",
    "CALLBACK_EVENTS",
    "CALL_FIELDS",
    "CHANNELS",
    "DIRECTIONS",
    "INPUT_FORMATS",
    "INT_FIELDS",
    "JSON_FIELDS",
    "LISTED_INVALID",
    "MAX_BATCH_CALLS",
    "MAX_CALL_BYTES",
    "MAX_EXT_ID_LENGTH",
    "MAX_REQUEST_BYTES",
    "ON_INVALID",
    "PARAMS_RESERVE_BYTES",
    "REPORTED_INVALID",
    "STRING_FIELDS",
    "Batch",
    "InvalidRow",
    "SourceRow",
    "ValidCall",
    "call_size",
    "check_call",
    "csv_rows",
    "input_format",
    "jsonl_rows",
    "list_rows",
    "params_size",
    "plan_batches",
    "request_ids",
    "request_prefix",
    "summarize_invalid",
    "validate_batch_size",
    "validate_csv_delimiter",
    "validate_on_invalid",
    "validate_request_prefix",
    "validate_rows",
]

#: Bytes kept free in every request for what the hook adds to ``params``: ``access_token`` and ``user_id``.
PARAMS_RESERVE_BYTES = 2048
_EMPTY_PARAMS_BYTES = len('{"calls": []}')
_ITEM_SEPARATOR_BYTES = len(", ")
#: The largest single call that still fits in a request on its own.
MAX_CALL_BYTES = MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES - _EMPTY_PARAMS_BYTES

#: How many invalid rows an error message lists (all are counted).
LISTED_INVALID = 20
#: How many skipped rows the XCom value lists (all are counted in ``skipped_count``).
REPORTED_INVALID = 1000


@dataclass(frozen=True)
class InvalidRow:
    """A row that will not be sent: where it is, its ``ext_id`` when readable, and every reason."""

    line: int
    ext_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for XCom."""
        return {"line": self.line, "ext_id": self.ext_id, "reason": self.reason}


@dataclass(frozen=True)
class ValidCall:
    """A checked call ready to send, its input line and the bytes of its JSON inside ``params.calls``."""

    line: int
    call: dict[str, Any]
    size: int


@dataclass(frozen=True)
class Batch:
    """The calls of one ``upload.calls`` request (``number`` is 1-based) and the JSON bytes of its ``params``."""

    number: int
    calls: tuple[ValidCall, ...]
    size: int

    def payload(self) -> list[dict[str, Any]]:
        """``params.calls`` of the request."""
        return [item.call for item in self.calls]

    @property
    def lines(self) -> list[int]:
        """Input lines of the calls, in request order."""
        return [item.line for item in self.calls]

    def line_of(self, api_field: str | None) -> int | None:
        """The input line an API error field such as ``calls[3].finish_time`` points at, if any."""
        match = re.match(r"calls\[([0-9]+)\]", api_field or "")
        if match is None:
            return None
        index = int(match.group(1))
        return self.calls[index].line if index < len(self.calls) else None

    def describe(self) -> str:
        """``N calls, lines A-B`` (``1 call, line A``) for logs and errors."""
        lines = self.lines
        if len(lines) == 1:
            return f"1 call, line {lines[0]}"
        return f"{len(lines)} calls, lines {lines[0]}-{lines[-1]}"


def call_size(call: dict[str, Any]) -> int:
    """Bytes of ``call``'s JSON inside ``params.calls`` (UTF-8, the default ``", "``/``": "`` separators)."""
    return len(json.dumps(call, ensure_ascii=False).encode("utf-8"))


def params_size(sizes: Iterable[int]) -> int:
    """Bytes of ``{"calls": [...]}`` holding calls of these sizes (the compact JSON the hook sends is smaller)."""
    items = list(sizes)
    return _EMPTY_PARAMS_BYTES + sum(items) + _ITEM_SEPARATOR_BYTES * max(0, len(items) - 1)


def validate_rows(rows: Iterable[SourceRow]) -> tuple[list[ValidCall], list[InvalidRow]]:
    """Split rows into calls to send and rows to report; an ``ext_id`` seen on an earlier line is invalid too."""
    valid: list[ValidCall] = []
    invalid: list[InvalidRow] = []
    first_line: dict[str, int] = {}
    for row in rows:
        call, problems = check_call(row.value) if row.value is not None or row.error is None else ({}, [])
        if row.error is not None:
            problems.insert(0, row.error)
        ext_id = call.get("ext_id") if isinstance(call.get("ext_id"), str) else None
        if ext_id is not None:
            if ext_id in first_line:
                problems.append(f"ext_id {ext_id!r} repeats line {first_line[ext_id]}; every call needs its own ext_id")
            else:
                first_line[ext_id] = row.line
        size = call_size(call) if not problems else 0
        if size > MAX_CALL_BYTES:
            problems.append(f"the call is {size} bytes of JSON; one request holds at most {MAX_CALL_BYTES}")
        if problems:
            invalid.append(InvalidRow(row.line, ext_id, "; ".join(problems)))
        else:
            valid.append(ValidCall(row.line, call, size))
    return valid, invalid


def plan_batches(
    calls: Sequence[ValidCall], *, batch_size: int = MAX_BATCH_CALLS, max_bytes: int = MAX_REQUEST_BYTES
) -> list[Batch]:
    """Cut calls, in order, into requests of at most ``batch_size`` calls and ``max_bytes`` of JSON (with reserve)."""
    budget = max_bytes - PARAMS_RESERVE_BYTES
    batches: list[Batch] = []
    current: list[ValidCall] = []
    size = _EMPTY_PARAMS_BYTES
    for item in calls:
        grown = size + item.size + (_ITEM_SEPARATOR_BYTES if current else 0)
        if current and (len(current) >= batch_size or grown > budget):
            batches.append(Batch(len(batches) + 1, tuple(current), size))
            current, grown = [], _EMPTY_PARAMS_BYTES + item.size
        current.append(item)
        size = grown
    if current:
        batches.append(Batch(len(batches) + 1, tuple(current), size))
    return batches


def request_prefix(dag_id: str, task_id: str, run_key: str, map_index: int = -1) -> str:
    """A request-id prefix that is the same for every try (and every re-run) of one task over one run key.

    ``run_key`` names what the upload is about: the run's data interval when it has one (so a re-triggered or
    backfilled run of the same day reuses the ids), else its run id.
    """
    identity = "\n".join((dag_id, task_id, run_key, str(map_index)))
    return "upload-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]


def request_ids(prefix: str, count: int) -> list[str]:
    """The JSON-RPC ids of ``count`` batches: ``<prefix>-0001``, ``<prefix>-0002``, ..."""
    return [f"{prefix}-{number:04d}" for number in range(1, count + 1)]


def summarize_invalid(invalid: Sequence[InvalidRow], *, unit: str = "line") -> str:
    """A multi-line list of the first invalid rows (``line 7 (ext_id 'x'): reason``) and how many more there are."""
    shown = [
        f"  {unit} {row.line}" + (f" (ext_id {row.ext_id!r})" if row.ext_id else "") + f": {row.reason}"
        for row in invalid[:LISTED_INVALID]
    ]
    if len(invalid) > LISTED_INVALID:
        shown.append(f"  ... and {len(invalid) - LISTED_INVALID} more")
    return "\n".join(shown)
