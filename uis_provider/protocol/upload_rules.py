"""What ``upload.calls`` accepts: the fields of a call, the documented rule of each, and the API's request limits.

A call is checked against the documented rules (required ``ext_id`` and ``is_lost``, E.164 numbers,
``finish_time`` >= ``start_time``, ``wav_records`` xor ``mp3_records``, https recording URLs, channels, directions,
types) and every problem is named, so the operator can refuse or skip a bad row before anything is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.catalog import child_values
from uis_provider.protocol.dates import parse_local_time

#: Calls one ``upload.calls`` request may carry (the newest docs; older copies say 500).
MAX_BATCH_CALLS = 50
#: Largest ``upload.calls`` request the API accepts, in bytes of JSON.
MAX_REQUEST_BYTES = 512 * 1024

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
#: The fields a call needs.
REQUIRED_FIELDS = ("ext_id", "is_lost")
PHONE_FIELDS = ("calling_phone_number", "called_phone_number")
RECORDING_FIELDS = ("wav_records", "mp3_records")
#: The fields of one recording of each kind.
RECORDING_KEYS = {
    "wav_records": ("employee_id", "employee_name", "employee_channel", "record_url"),
    "mp3_records": ("record_url",),
}

_E164 = re.compile(r"[0-9]{11,15}")
_SHOWN_CHARS = 60


def check_call(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """The call as it will be sent (``null`` members dropped) and every way it breaks the API's rules."""
    if not isinstance(raw, dict):
        return {}, [f"a call must be a JSON object, got {type(raw).__name__}"]
    call = _without_nulls(raw)
    checks = (_check_identity, _check_scalars, _check_times, _check_numbers_and_comment, _check_nested)
    return call, [problem for check in checks for problem in check(call)]


def _check_identity(call: dict[str, Any]) -> list[str]:
    """Problems of what identifies the call: only known fields, the required ones, a usable ``ext_id``."""
    problems = _unknown_keys("the call", call, CALL_FIELDS)
    problems += [f"{name} is required" for name in REQUIRED_FIELDS if name not in call]
    ext_id = call.get("ext_id")
    if ext_id is not None and (not isinstance(ext_id, str) or not ext_id.strip() or len(ext_id) > MAX_EXT_ID_LENGTH):
        problems.append(
            f"ext_id must be a non-empty string of at most {MAX_EXT_ID_LENGTH} characters, got {_shown(ext_id)}"
        )
    return problems


def _check_scalars(call: dict[str, Any]) -> list[str]:
    """Problems of the call's flags, direction and phone numbers."""
    problems = [
        f"{name} must be true or false, got {_shown(call[name])}"
        for name in BOOL_FIELDS
        if name in call and not isinstance(call[name], bool)
    ]
    if "direction" in call and call["direction"] not in DIRECTIONS:
        problems.append(f"direction must be 'in' or 'out', got {_shown(call['direction'])}")
    problems += [
        f"{name} must be an E.164 number: a string of 11 to 15 digits, without '+', spaces or dashes "
        f"(e.g. '74951234567'), got {_shown(call[name])}"
        for name in PHONE_FIELDS
        if name in call and (not isinstance(call[name], str) or not _E164.fullmatch(call[name]))
    ]
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


def _check_numbers_and_comment(call: dict[str, Any]) -> list[str]:
    """Problems of the call's counts and ids (whole numbers >= 0) and of its comment."""
    problems = [
        f"{name} must be a whole number >= 0, got {_shown(call[name])}"
        for name in INT_FIELDS
        if name in call and (not _is_int(call[name]) or call[name] < 0)
    ]
    if "comment" in call and not isinstance(call["comment"], str):
        problems.append(f"comment must be a string, got {_shown(call['comment'])}")
    return problems


def _check_nested(call: dict[str, Any]) -> list[str]:
    """Problems of the nested callback, tags and recordings (one kind of recording per call)."""
    problems = _check_callback(call["callback"]) if "callback" in call else []
    if "tags" in call:
        problems += _check_tags(call["tags"])
    if all(name in call for name in RECORDING_FIELDS):
        problems.append("a call carries wav_records or mp3_records, not both")
    for name in RECORDING_FIELDS:
        if name in call:
            problems += _check_recordings(name, call[name])
    return problems


def _check_callback(raw: Any) -> list[str]:
    if not isinstance(raw, dict):
        return [f"callback must be an object {{url, events}}, got {_shown(raw)}"]
    callback = _without_nulls(raw)
    problems = _unknown_keys("callback", callback, ("url", "events"))
    problems += _check_required_url("callback.url", callback.get("url"), schemes=("http", "https"))
    events = callback.get("events", [])
    if not isinstance(events, list) or any(event not in CALLBACK_EVENTS for event in events):
        problems.append(f"callback.events must be a list of {', '.join(CALLBACK_EVENTS)}; got {_shown(events)}")
    return problems


def _check_tags(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return [f"tags must be a list of {{tag_id | tag_name}}, got {_shown(raw)}"]
    return _check_each("tags", raw, ("tag_id", "tag_name"), lambda path, tag: _check_id_or_name(path, tag, "tag"))


def _check_recordings(name: str, items: Any) -> list[str]:
    if not isinstance(items, list) or not items:
        return [f"{name} must be a non-empty list of recordings, got {_shown(items)}"]
    return _check_each(name, items, RECORDING_KEYS[name], _check_wav if name == "wav_records" else _check_mp3)


def _check_mp3(path: str, recording: dict[str, Any]) -> list[str]:
    """Problems of an mp3 recording: its https ``record_url``."""
    return _check_required_url(f"{path}.record_url", recording.get("record_url"), schemes=("https",))


def _check_wav(path: str, recording: dict[str, Any]) -> list[str]:
    """Problems of a wav recording: its URL, then whose side it is: a channel and an employee."""
    problems = _check_mp3(path, recording)
    channel = recording.get("employee_channel")
    if channel not in CHANNELS:
        problems.append(f"{path}.employee_channel must be 'left' or 'right', got {_shown(channel)}")
    return problems + _check_id_or_name(path, recording, "employee")


def _check_each(
    name: str, items: list[Any], allowed: Sequence[str], check: Callable[[str, dict[str, Any]], list[str]]
) -> list[str]:
    """Problems of each object of a nested list, in order, named by its path (``tags[0]``): not an object, unknown
    fields, then what ``check`` finds in it once its ``null`` members are dropped."""
    problems: list[str] = []
    for index, raw in enumerate(items):
        path = f"{name}[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{path} must be an object, got {_shown(raw)}")
            continue
        item = _without_nulls(raw)
        problems += _unknown_keys(path, item, allowed)
        problems += check(path, item)
    return problems


def _check_id_or_name(path: str, item: dict[str, Any], kind: str) -> list[str]:
    """Problems of a reference to a tag or an employee: ``<kind>_id`` (a whole number) or ``<kind>_name`` (text)."""
    id_key, name_key = f"{kind}_id", f"{kind}_name"
    problems: list[str] = []
    if id_key not in item and name_key not in item:
        problems.append(f"{path} needs {id_key} or {name_key}")
    if id_key in item and not _is_int(item[id_key]):
        problems.append(f"{path}.{id_key} must be a whole number, got {_shown(item[id_key])}")
    if name_key in item and (not isinstance(item[name_key], str) or not item[name_key]):
        problems.append(f"{path}.{name_key} must be a non-empty string, got {_shown(item[name_key])}")
    return problems


def _check_required_url(path: str, url: Any, *, schemes: tuple[str, ...]) -> list[str]:
    """Problems of a URL the object needs: missing, not a string, not absolute, or of another scheme."""
    if url is None:
        return [f"{path} is required"]
    if not isinstance(url, str):
        return [f"{path} must be a URL string, got {_shown(url)}"]
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        return [f"{path} must be an absolute {wanted} URL, got {_shown(url)}"]
    return []


def _unknown_keys(path: str, item: dict[str, Any], allowed: Sequence[str]) -> list[str]:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if not unknown:
        return []
    return [f"{path} has unknown field(s) {unknown}; allowed: {', '.join(allowed)}"]


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    """The dict without its ``None`` members (the API reads a missing member and ``null`` alike)."""
    return {key: item for key, item in value.items() if item is not None}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
