from __future__ import annotations

import json

import pytest

from uis_provider.exceptions import (
    UISAuthError,
    UISInvalidParamsError,
    UISPermissionError,
    UISRateLimitError,
    UISServerError,
    UISTransportError,
)
from uis_provider.protocol.jsonrpc import build_request, new_request_id, parse_response, result_records


def _error(mnemonic: str, code: int, **data: object) -> bytes:
    body = {
        "jsonrpc": "2.0",
        "id": "r1",
        "error": {"code": code, "message": f"msg {mnemonic}", "data": {"mnemonic": mnemonic, **data}},
    }
    return json.dumps(body).encode()


def test_request_is_a_single_jsonrpc_call_with_string_id() -> None:
    rid = new_request_id()
    body = json.loads(build_request("get.account", {"access_token": "t"}, rid))
    assert body == {"jsonrpc": "2.0", "id": rid, "method": "get.account", "params": {"access_token": "t"}}
    assert isinstance(rid, str)
    assert rid != new_request_id()


@pytest.mark.parametrize(
    ("mnemonic", "code", "cls"),
    [
        ("access_token_invalid", -32001, UISAuthError),
        ("auth_error", -32001, UISAuthError),
        ("limit_exceeded", -32029, UISRateLimitError),
        ("internal_error", -32603, UISServerError),
        # observed live: a component error arriving with the params code; the mnemonic decides
        ("method_component_disabled", -32602, UISPermissionError),
        ("ip_not_whitelisted", -32003, UISPermissionError),
        ("invalid_parameter_value", -32602, UISInvalidParamsError),
        ("date_interval_limit_reached", -32602, UISInvalidParamsError),
    ],
)
def test_errors_map_by_mnemonic_not_code(mnemonic: str, code: int, cls: type) -> None:
    with pytest.raises(cls) as info:
        parse_response("get.calls_report", "r1", 200, _error(mnemonic, code, field="date_from", value="x"))
    assert type(info.value) is cls
    assert info.value.mnemonic == mnemonic
    assert info.value.code == code
    assert mnemonic in str(info.value)


def test_invalid_parameter_names_field_and_value() -> None:
    with pytest.raises(UISInvalidParamsError) as info:
        parse_response(
            "get.uploaded_calls",
            "r1",
            200,
            _error("invalid_parameter_value", -32602, field="date_from", value="2024-13-01"),
        )
    err = info.value
    assert err.field == "date_from"
    assert err.value == "2024-13-01"
    assert "field=date_from" in str(err)
    assert not err.retryable


def test_minute_limit_is_retryable_day_limit_is_not() -> None:
    minute = _error("limit_exceeded", -32029, params={"limit_type": "minute"}, metadata={"limits": {"minute_reset": 7}})
    day = _error("limit_exceeded", -32029, params={"limit_type": "day"}, metadata={"limits": {"day_reset": 3600}})
    with pytest.raises(UISRateLimitError) as m:
        parse_response("m", "r1", 200, minute)
    assert m.value.retryable
    assert m.value.reset_seconds == 7
    with pytest.raises(UISRateLimitError) as d:
        parse_response("m", "r1", 200, day)
    assert not d.value.retryable
    assert "3600 s" in str(d.value)


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (502, b"bad gateway", True),
        (503, b"", True),
        (404, b"not found", False),
        (200, b'{"jsonrpc": "2.0", "id": "r1", "result": {"data": [', True),
        (200, b'{"ok": 1}', True),
        (200, b"[" * 100_000 + b"]" * 100_000, True),
        (200, b'{"jsonrpc": "2.0", "id": "r1"}', True),
    ],
)
def test_transport_failures(status: int, body: bytes, retryable: bool) -> None:
    with pytest.raises(UISTransportError) as info:
        parse_response("get.account", "r1", status, body)
    assert info.value.retryable is retryable


def test_result_returned_and_records_checked() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": "r1", "result": {"data": [{"a": 1}], "metadata": {"total_items": 1}}})
    result = parse_response("m", "r1", 200, body.encode())
    assert result_records(result) == [{"a": 1}]
    with pytest.raises(UISTransportError):
        result_records({"data": "not a list"})


def test_answer_for_another_request_is_refused() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": "other", "result": {"data": []}}).encode()
    with pytest.raises(UISTransportError, match="belongs to request"):
        parse_response("m", "r1", 200, body)


def test_errors_pickle_round_trip() -> None:
    import pickle

    with pytest.raises(UISInvalidParamsError) as info:
        parse_response("m", "r1", 200, _error("invalid_parameter_value", -32602, field="limit", value=20000))
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is UISInvalidParamsError
    assert str(clone) == str(info.value)
