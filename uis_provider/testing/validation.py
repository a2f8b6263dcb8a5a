"""Validation of ``upload.calls`` payloads, following the vendor's rules (see REFERENCE.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from uis_provider.protocol.catalog import child_values
from uis_provider.testing.errors import APIError
from uis_provider.testing.timefmt import parse_api_datetime

#: Callback events an upload may ask for (the English page's six; the Russian lists three of them).
CALLBACK_EVENTS = child_values("get.uploaded_calls", "callback", "events")
MAX_CALLS = 50
MAX_PARAMS_BYTES = 512 * 1024
CALL_FIELDS = frozenset(
    {
        "ext_id",
        "direction",
        "calling_phone_number",
        "called_phone_number",
        "start_time",
        "finish_time",
        "is_lost",
        "is_transfer",
        "wait_duration",
        "talk_duration",
        "visitor_session_id",
        "campaign_id",
        "source_id",
        "site_id",
        "comment",
        "callback",
        "tags",
        "wav_records",
        "mp3_records",
    }
)
_E164 = re.compile(r"\d{11,15}")
_INT_FIELDS = ("wait_duration", "talk_duration", "visitor_session_id", "campaign_id", "source_id", "site_id")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(path: str, value: Any) -> APIError:
    return APIError("invalid_parameter_value", field=path, value=value)


def _check_keys(path: str, item: Any, allowed: frozenset[str] | set[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _bad(path, item)
    for key in item:
        if key not in allowed:
            raise APIError("unexpected_parameters", field=path, value=key)
    return item


def _https(path: str, url: Any) -> None:
    if not isinstance(url, str) or not url.startswith("https://") or len(url) <= len("https://"):
        raise _bad(path, url)


def _recordings(path: str, items: Any, wav: bool) -> None:
    if not isinstance(items, list) or not items:
        raise _bad(path, items)
    allowed = {"employee_id", "employee_name", "employee_channel", "record_url"} if wav else {"record_url"}
    for number, raw in enumerate(items):
        item_path = f"{path}[{number}]"
        item = _check_keys(item_path, raw, allowed)
        if "record_url" not in item:
            raise APIError("required_parameter_missed", field=f"{item_path}.record_url")
        _https(f"{item_path}.record_url", item["record_url"])
        if wav:
            if item.get("employee_channel") not in ("left", "right"):
                raise _bad(f"{item_path}.employee_channel", item.get("employee_channel"))
            employee_id, employee_name = item.get("employee_id"), item.get("employee_name")
            if employee_id is None and employee_name is None:
                raise APIError("required_parameter_missed", field=f"{item_path}.employee_id")
            if employee_id is not None and not _is_int(employee_id):
                raise _bad(f"{item_path}.employee_id", employee_id)
            if employee_name is not None and not isinstance(employee_name, str):
                raise _bad(f"{item_path}.employee_name", employee_name)


def _callback(path: str, raw: Any) -> None:
    callback = _check_keys(path, raw, {"url", "events"})
    url = callback.get("url")
    if not isinstance(url, str) or not re.match(r"https?://.", url):
        raise _bad(f"{path}.url", url)
    events = callback.get("events", [])
    if not isinstance(events, list) or any(event not in CALLBACK_EVENTS for event in events):
        raise _bad(f"{path}.events", events)


def _tags(path: str, raw: Any) -> None:
    if not isinstance(raw, list):
        raise _bad(path, raw)
    for number, item in enumerate(raw):
        tag = _check_keys(f"{path}[{number}]", item, {"tag_id", "tag_name"})
        tag_id, tag_name = tag.get("tag_id"), tag.get("tag_name")
        if (tag_id is None and tag_name is None) or (tag_id is not None and not _is_int(tag_id)):
            raise _bad(f"{path}[{number}]", item)
        if tag_name is not None and (not isinstance(tag_name, str) or not tag_name):
            raise _bad(f"{path}[{number}].tag_name", tag_name)


def validate_call(number: int, raw: Any) -> dict[str, Any]:
    """Check one call of ``params.calls``; errors name the field like ``calls[3].finish_time``."""
    path = f"calls[{number}]"
    call = {key: value for key, value in _check_keys(path, raw, CALL_FIELDS).items() if value is not None}
    for required in ("ext_id", "is_lost"):
        if required not in call:
            raise APIError("required_parameter_missed", field=f"{path}.{required}")
    if not isinstance(call["ext_id"], str) or not call["ext_id"] or len(call["ext_id"]) > 255:
        raise _bad(f"{path}.ext_id", call["ext_id"])
    for flag in ("is_lost", "is_transfer"):
        if flag in call and not isinstance(call[flag], bool):
            raise _bad(f"{path}.{flag}", call[flag])
    if call.get("direction", "in") not in ("in", "out"):
        raise _bad(f"{path}.direction", call["direction"])
    for phone in ("calling_phone_number", "called_phone_number"):
        if phone in call and (not isinstance(call[phone], str) or not _E164.fullmatch(call[phone])):
            raise _bad(f"{path}.{phone}", call[phone])
    moments = {}
    for name in ("start_time", "finish_time"):
        if name in call:
            moments[name] = parse_api_datetime(call[name])
            if moments[name] is None:
                raise _bad(f"{path}.{name}", call[name])
    if len(moments) == 2 and moments["finish_time"] < moments["start_time"]:  # type: ignore[operator]
        raise _bad(f"{path}.finish_time", call["finish_time"])
    for name in _INT_FIELDS:
        if name in call and (not _is_int(call[name]) or call[name] < 0):
            raise _bad(f"{path}.{name}", call[name])
    if "comment" in call and not isinstance(call["comment"], str):
        raise _bad(f"{path}.comment", call["comment"])
    if "callback" in call:
        _callback(f"{path}.callback", call["callback"])
    if "tags" in call:
        _tags(f"{path}.tags", call["tags"])
    if "wav_records" in call and "mp3_records" in call:
        raise _bad(f"{path}.mp3_records", call["mp3_records"])
    if "wav_records" in call:
        _recordings(f"{path}.wav_records", call["wav_records"], wav=True)
    if "mp3_records" in call:
        _recordings(f"{path}.mp3_records", call["mp3_records"], wav=False)
    return call


def validate_upload(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The checked ``params.calls`` of an ``upload.calls`` request: 1..50 calls, params JSON at most 512 KB."""
    if "calls" not in params:
        raise APIError("required_parameter_missed", field="calls")
    calls = params["calls"]
    if not isinstance(calls, list):
        raise APIError("data_type_error", field="calls", value=None)
    if not calls or len(calls) > MAX_CALLS:
        raise APIError("invalid_parameter_value", field="calls", value=len(calls), params={"max_calls": MAX_CALLS})
    size = len(json.dumps(params, ensure_ascii=False).encode("utf-8"))
    if size > MAX_PARAMS_BYTES:
        raise APIError("invalid_parameter_value", field="calls", value=size, params={"max_bytes": MAX_PARAMS_BYTES})
    return [validate_call(number, raw) for number, raw in enumerate(calls)]
