"""The IO-free half of ``upload.calls``: read rows into calls, check them against the API's rules, plan the batches.

Rows come from JSON lines, CSV or a list and keep their 1-based line number (for a list: the position). Each call
is checked against the documented rules (required ``ext_id`` and ``is_lost``, E.164 numbers, ``finish_time`` >=
``start_time``, ``wav_records`` xor ``mp3_records``, https recording URLs, channels, directions, types) and every
problem is named, so the operator can refuse or skip bad rows before anything is sent. Valid calls are cut, in input
order, into batches of at most 50 calls and 512 KB of JSON, each with a request id that is the same on every retry of
the same task run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.catalog import child_values
from uis_provider.protocol.dates import parse_local_time

#: Calls one ``upload.calls`` request may carry (the newest docs; older copies say 500).
MAX_BATCH_CALLS = 50
#: Largest ``upload.calls`` request the API accepts, in bytes of JSON.
MAX_REQUEST_BYTES = 512 * 1024
#: Bytes kept free in every request for what the hook adds to ``params``: ``access_token`` and ``user_id``.
PARAMS_RESERVE_BYTES = 2048
_EMPTY_PARAMS_BYTES = len('{"calls": []}')
_ITEM_SEPARATOR_BYTES = len(", ")
#: The largest single call that still fits in a request on its own.
MAX_CALL_BYTES = MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES - _EMPTY_PARAMS_BYTES

INPUT_FORMATS = ("jsonl", "csv")
ON_INVALID = ("fail", "skip")
#: How many invalid rows an error message lists (all are counted).
LISTED_INVALID = 20
#: How many skipped rows the XCom value lists (all are counted in ``skipped_count``).
REPORTED_INVALID = 1000

DIRECTIONS = ("in", "out")
CHANNELS = ("left", "right")
#: The events a callback may ask for: the English page lists six, the Russian three; both readings are accepted.
CALLBACK_EVENTS = child_values("get.uploaded_calls", "callback", "events")
MAX_EXT_ID_LENGTH = 255
STRING_FIELDS = ("ext_id", "direction", "calling_phone_number", "called_phone_number", "start_time", "finish_time")
BOOL_FIELDS = ("is_lost", "is_transfer")
INT_FIELDS = ("wait_duration", "talk_duration", "visitor_session_id", "campaign_id", "source_id", "site_id")
JSON_FIELDS = ("callback", "tags", "wav_records", "mp3_records")
#: Every field ``upload.calls`` takes per call (REFERENCE.md); anything else is refused by the API.
CALL_FIELDS = (*STRING_FIELDS, *BOOL_FIELDS, *INT_FIELDS, "comment", *JSON_FIELDS)

_E164 = re.compile(r"[0-9]{11,15}")
_CSV_INT = re.compile(r"[+-]?[0-9]+")
_CSV_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_CSV_FALSE = frozenset({"false", "0", "no", "n", "f"})
_REQUEST_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}")
_SHOWN_CHARS = 60


@dataclass(frozen=True)
class SourceRow:
    """One input row: its 1-based line (or list position) and the parsed value, or why it could not be parsed."""

    line: int
    value: Any = None
    error: str | None = None


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


# -- reading ---------------------------------------------------------------------------------------------------------


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
    missing = [name for name in ("ext_id", "is_lost") if name not in columns]
    if missing:
        raise UISConfigurationError(f"the CSV header has no {' and no '.join(missing)} column; both are required")


def _csv_call(line: int, columns: list[str], cells: list[str]) -> SourceRow:
    """A call from CSV cells; text that is not a boolean or a number stays text, so validation names it."""
    call: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in zip(columns, cells, strict=True):
        text = raw if name == "comment" else raw.strip()
        if text == "":
            continue
        if name in BOOL_FIELDS:
            flag = text.lower()
            call[name] = True if flag in _CSV_TRUE else False if flag in _CSV_FALSE else text
        elif name in INT_FIELDS:
            call[name] = int(text) if _CSV_INT.fullmatch(text) else text
        elif name in JSON_FIELDS:
            try:
                call[name] = json.loads(text)
            except ValueError as exc:
                problems.append(f"{name} must hold JSON ({exc})")
        else:
            call[name] = text
    return SourceRow(line, value=call, error="; ".join(problems) or None)


# -- validation ------------------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A short, safe rendering of a user value for messages: URLs lose user-info, query and fragment."""
    if isinstance(value, str):
        text = value
        if "://" in text:
            parts = urlsplit(text)
            host = parts.hostname or ""
            text = f"{parts.scheme}://{host}{parts.path}" + ("?..." if parts.query or parts.fragment else "")
        if len(text) > _SHOWN_CHARS:
            text = text[: _SHOWN_CHARS - 3] + "..."
        return repr(text)
    text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _without_nulls(value: Any) -> Any:
    """A dict without its ``None`` members (the API reads a missing member and ``null`` alike)."""
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


def _unknown_keys(path: str, item: dict[str, Any], allowed: Sequence[str]) -> list[str]:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if not unknown:
        return []
    return [f"{path} has unknown field(s) {unknown}; allowed: {', '.join(allowed)}"]


def _check_url(path: str, url: Any, *, schemes: tuple[str, ...]) -> list[str]:
    if not isinstance(url, str):
        return [f"{path} must be a URL string, got {_shown(url)}"]
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        return [f"{path} must be an absolute {wanted} URL, got {_shown(url)}"]
    return []


def _check_recordings(name: str, items: Any) -> list[str]:
    if not isinstance(items, list) or not items:
        return [f"{name} must be a non-empty list of recordings, got {_shown(items)}"]
    wav = name == "wav_records"
    allowed = ("employee_id", "employee_name", "employee_channel", "record_url") if wav else ("record_url",)
    problems: list[str] = []
    for index, raw in enumerate(items):
        path = f"{name}[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{path} must be an object, got {_shown(raw)}")
            continue
        item = _without_nulls(raw)
        problems += _unknown_keys(path, item, allowed)
        if "record_url" not in item:
            problems.append(f"{path}.record_url is required")
        else:
            problems += _check_url(f"{path}.record_url", item["record_url"], schemes=("https",))
        if not wav:
            continue
        if item.get("employee_channel") not in CHANNELS:
            problems.append(
                f"{path}.employee_channel must be 'left' or 'right', got {_shown(item.get('employee_channel'))}"
            )
        if "employee_id" not in item and "employee_name" not in item:
            problems.append(f"{path} needs employee_id or employee_name")
        if "employee_id" in item and not _is_int(item["employee_id"]):
            problems.append(f"{path}.employee_id must be a whole number, got {_shown(item['employee_id'])}")
        if "employee_name" in item and (not isinstance(item["employee_name"], str) or not item["employee_name"]):
            problems.append(f"{path}.employee_name must be a non-empty string, got {_shown(item['employee_name'])}")
    return problems


def _check_callback(raw: Any) -> list[str]:
    if not isinstance(raw, dict):
        return [f"callback must be an object {{url, events}}, got {_shown(raw)}"]
    callback = _without_nulls(raw)
    problems = _unknown_keys("callback", callback, ("url", "events"))
    if "url" not in callback:
        problems.append("callback.url is required")
    else:
        problems += _check_url("callback.url", callback["url"], schemes=("http", "https"))
    events = callback.get("events", [])
    if not isinstance(events, list) or any(event not in CALLBACK_EVENTS for event in events):
        problems.append(f"callback.events must be a list of {', '.join(CALLBACK_EVENTS)}; got {_shown(events)}")
    return problems


def _check_tags(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return [f"tags must be a list of {{tag_id | tag_name}}, got {_shown(raw)}"]
    problems: list[str] = []
    for index, item in enumerate(raw):
        path = f"tags[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{path} must be an object, got {_shown(item)}")
            continue
        tag = _without_nulls(item)
        problems += _unknown_keys(path, tag, ("tag_id", "tag_name"))
        if "tag_id" not in tag and "tag_name" not in tag:
            problems.append(f"{path} needs tag_id or tag_name")
        if "tag_id" in tag and not _is_int(tag["tag_id"]):
            problems.append(f"{path}.tag_id must be a whole number, got {_shown(tag['tag_id'])}")
        if "tag_name" in tag and (not isinstance(tag["tag_name"], str) or not tag["tag_name"]):
            problems.append(f"{path}.tag_name must be a non-empty string, got {_shown(tag['tag_name'])}")
    return problems


def _check_times(call: dict[str, Any]) -> list[str]:
    """Problems of the call's times; valid ones are rewritten in the API's form (``14.01.2026 10:03:11`` too)."""
    problems: list[str] = []
    moments: dict[str, str] = {}
    for name in ("start_time", "finish_time"):
        if name not in call:
            continue
        try:
            moments[name] = call[name] = parse_local_time(call[name], name)
        except UISConfigurationError as exc:
            problems.append(
                f"{name} must be 'YYYY-MM-DD hh:mm:ss' in the account's time zone (no zone; 'DD.MM.YYYY hh:mm:ss' "
                f"also works): {exc.message}"
            )
    if len(moments) == 2 and moments["finish_time"] < moments["start_time"]:
        problems.append(f"finish_time {call['finish_time']} is before start_time {call['start_time']}")
    return problems


def check_call(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """The call as it will be sent (``null`` members dropped) and every way it breaks the API's rules."""
    if not isinstance(raw, dict):
        return {}, [f"a call must be a JSON object, got {type(raw).__name__}"]
    call = _without_nulls(raw)
    problems = _unknown_keys("the call", call, CALL_FIELDS)
    for name in ("ext_id", "is_lost"):
        if name not in call:
            problems.append(f"{name} is required")
    ext_id = call.get("ext_id")
    if ext_id is not None and (not isinstance(ext_id, str) or not ext_id.strip() or len(ext_id) > MAX_EXT_ID_LENGTH):
        problems.append(
            f"ext_id must be a non-empty string of at most {MAX_EXT_ID_LENGTH} characters, got {_shown(ext_id)}"
        )
    for name in BOOL_FIELDS:
        if name in call and not isinstance(call[name], bool):
            problems.append(f"{name} must be true or false, got {_shown(call[name])}")
    if "direction" in call and call["direction"] not in DIRECTIONS:
        problems.append(f"direction must be 'in' or 'out', got {_shown(call['direction'])}")
    for name in ("calling_phone_number", "called_phone_number"):
        if name in call and (not isinstance(call[name], str) or not _E164.fullmatch(call[name])):
            problems.append(
                f"{name} must be an E.164 number: a string of 11 to 15 digits, without '+', spaces or dashes "
                f"(e.g. '74951234567'), got {_shown(call[name])}"
            )
    problems += _check_times(call)
    for name in INT_FIELDS:
        if name in call and (not _is_int(call[name]) or call[name] < 0):
            problems.append(f"{name} must be a whole number >= 0, got {_shown(call[name])}")
    if "comment" in call and not isinstance(call["comment"], str):
        problems.append(f"comment must be a string, got {_shown(call['comment'])}")
    if "callback" in call:
        problems += _check_callback(call["callback"])
    if "tags" in call:
        problems += _check_tags(call["tags"])
    if "wav_records" in call and "mp3_records" in call:
        problems.append("a call carries wav_records or mp3_records, not both")
    for name in ("wav_records", "mp3_records"):
        if name in call:
            problems += _check_recordings(name, call[name])
    return call, problems


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


# -- planning --------------------------------------------------------------------------------------------------------


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


# -- parameters ------------------------------------------------------------------------------------------------------


def validate_batch_size(value: Any) -> int:
    """``batch_size`` as an int in 1..50."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or not 1 <= value <= MAX_BATCH_CALLS:
        raise UISConfigurationError(
            f"batch_size must be a whole number from 1 to {MAX_BATCH_CALLS} (the API's limit of calls per "
            f"upload.calls request), got {value!r}"
        )
    return int(value)


def validate_on_invalid(value: Any) -> str:
    """``on_invalid`` as ``"fail"`` or ``"skip"``."""
    if value not in ON_INVALID:
        raise UISConfigurationError(
            f"on_invalid must be 'fail' (send nothing when a row is invalid) or 'skip' (send the valid rows, report "
            f"the others), got {value!r}"
        )
    return str(value)


def validate_csv_delimiter(value: Any) -> str:
    """``csv_delimiter``: one character other than a quote, a line break or a space."""
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n ':
        raise UISConfigurationError(f"csv_delimiter must be one character such as ',' or ';', got {value!r}")
    return value


def validate_request_prefix(value: Any) -> str | None:
    """``request_id_prefix``: unset, or 1..100 characters of letters, digits and ``. _ : + -``."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _REQUEST_PREFIX.fullmatch(value):
        raise UISConfigurationError(
            "request_id_prefix must be 1 to 100 characters of letters, digits and . _ : + - (starting with a letter "
            f"or digit), got {value!r}"
        )
    return value


def input_format(name: str, file_format: Any = None) -> str:
    """The format of a source file: ``file_format`` when given, else from its name (``.gz`` ignored)."""
    if file_format not in (None, ""):
        if file_format not in INPUT_FORMATS:
            raise UISConfigurationError(
                f"file_format must be one of {INPUT_FORMATS} (or None to infer), got {file_format!r}"
            )
        return str(file_format)
    stem = name.lower()
    for suffix in (".gz", ".gzip"):
        stem = stem.removesuffix(suffix)
    if stem.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if stem.endswith(".csv"):
        return "csv"
    raise UISConfigurationError(
        f"source_path {name!r} does not end in .jsonl, .ndjson or .csv (optionally .gz); set file_format to "
        "'jsonl' or 'csv'"
    )


def summarize_invalid(invalid: Sequence[InvalidRow], *, unit: str = "line") -> str:
    """A multi-line list of the first invalid rows (``line 7 (ext_id 'x'): reason``) and how many more there are."""
    shown = [
        f"  {unit} {row.line}" + (f" (ext_id {row.ext_id!r})" if row.ext_id else "") + f": {row.reason}"
        for row in invalid[:LISTED_INVALID]
    ]
    if len(invalid) > LISTED_INVALID:
        shown.append(f"  ... and {len(invalid) - LISTED_INVALID} more")
    return "\n".join(shown)
