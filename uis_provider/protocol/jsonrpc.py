"""Build JSON-RPC 2.0 requests for the UIS Data API and turn raw HTTP answers into results or exceptions.

Pure functions: no sockets, no clocks. Both the sync (requests) and async (httpx) transports call these.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from uis_provider.exceptions import UISError, UISTransportError, error_class_for

if TYPE_CHECKING:
    import mmap

JSONRPC_VERSION = "2.0"
CONTENT_TYPE = "application/json; charset=UTF-8"
WRONG_URL_HINT = (
    ": nothing answers JSON-RPC at this URL — wrong host or path? The connection's host must be the API base URL "
    "with its version, e.g. https://dataapi.uiscom.ru/v2.0"
)


def _stdlib_decode(body: bytes | bytearray | mmap.mmap) -> Any:
    """The standard library's decoder, for any body the transports hand over (it wants bytes, not a memory map)."""
    return json.loads(body if isinstance(body, (bytes, bytearray)) else bytes(body))


def _fast_decoder() -> Callable[[bytes | bytearray | mmap.mmap], Any]:
    try:
        import msgspec
    except ImportError:
        return _stdlib_decode
    return msgspec.json.Decoder().decode


_fast_decode = _fast_decoder()


def _envelope_decoder() -> Callable[[bytes | bytearray | mmap.mmap], Any] | None:
    """A decoder of the JSON-RPC envelope that leaves each member of ``result`` encoded, if msgspec is there."""
    try:
        import msgspec
    except ImportError:
        return None

    fields = [("jsonrpc", Any, None), ("id", Any, None), ("result", dict[str, msgspec.Raw] | None, None)]
    envelope = msgspec.defstruct("Envelope", [*fields, ("error", Any, None)])
    return msgspec.json.Decoder(envelope).decode


_envelope_decode = _envelope_decoder()


def _items_decoder() -> Callable[[Any], list[Any] | None] | None:
    """A decoder of a list that leaves each item encoded, if msgspec is there."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec.json.Decoder(list[msgspec.Raw] | None).decode


_items_decode = _items_decoder()


def _encoded_types() -> tuple[type, ...]:
    try:
        import msgspec
    except ImportError:
        return ()
    return (msgspec.Raw,)


#: What a member left encoded by the envelope decoder looks like.
_ENCODED = _encoded_types()


def new_request_id() -> str:
    """A unique string id for one logical call (UIS reports it back as ``ext_request_id`` for ``upload.calls``)."""
    return f"uis-{uuid.uuid4().hex}"


def build_request(method: str, params: dict[str, Any], request_id: str) -> bytes:
    """Encode one JSON-RPC 2.0 request body (never a batch, never a notification: the API rejects both)."""
    envelope = {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": method, "params": params}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_json(body: bytes | bytearray | mmap.mmap) -> Any:
    """Decode a JSON body; malformed, truncated or absurdly nested JSON becomes a retryable transport error.

    msgspec (an Airflow core dependency) decodes a page faster than ``json`` (``bench/README.md``); what it
    refuses but ``json`` accepts (a BOM, NaN, numbers beyond float range) still goes through ``json``. Callers
    decoding large bodies pause the garbage collector around it (:mod:`uis_provider.transport.collector`).
    """
    try:
        return _fast_decode(body)
    except RecursionError:
        raise UISTransportError("the API answered JSON nested too deeply to be a UIS answer") from None
    except ValueError:
        pass
    try:
        return _stdlib_decode(body)
    except RecursionError:
        raise UISTransportError("the API answered JSON nested too deeply to be a UIS answer") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UISTransportError(f"the API answered a body that is not valid JSON ({type(exc).__name__})") from None


def parse_response(
    method: str,
    request_id: str,
    http_status: int,
    body: bytes | bytearray | mmap.mmap,
    *,
    defer_data: bool = False,
    decode_records: RecordsDecoder | None = None,
) -> dict[str, Any]:
    """Return the ``result`` object of a JSON-RPC answer, or raise the matching :class:`UISError`.

    Any HTTP status but 200 is a transport failure (retryable for 5xx and 429); JSON-RPC errors arrive with 200.
    With ``defer_data`` the ``data`` member may stay encoded until :func:`result_records` reads it: a page fetched
    ahead then waits as its 7 MB body, not as the three times larger objects of 10 000 decoded records. With
    ``decode_records`` it is decoded here into records (see :func:`decoded_records`), so that data no decoder
    takes fails the call like any answer that is not valid JSON (and is retried).
    """
    _check_status(method, http_status)
    try:
        payload = _payload(body) if defer_data or decode_records is not None else decode_json(body)
    except UISTransportError as exc:
        raise UISTransportError(exc.message, method=method) from None
    result = _result_of(method, request_id, payload)
    if decode_records is not None:
        try:
            return {**result, "data": decoded_records(result, decode_records)}
        except UISTransportError as exc:
            raise UISTransportError(exc.message, method=method) from None
    return result


def _check_status(method: str, http_status: int) -> None:
    """Raise the transport failure of an HTTP status other than 200 (retryable for 5xx and 429)."""
    if http_status == 200:
        return
    retryable = http_status >= 500 or http_status == 429
    hint = WRONG_URL_HINT if http_status in (404, 405) else ""
    raise UISTransportError(
        f"HTTP {http_status} from the API{hint}", retryable=retryable, http_status=http_status, method=method
    )


def _result_of(method: str, request_id: str, payload: Any) -> dict[str, Any]:
    """The ``result`` object of a decoded JSON-RPC answer to ``request_id``, or the error it answered."""
    if not isinstance(payload, dict) or payload.get("jsonrpc") != JSONRPC_VERSION:
        raise UISTransportError("the API answered JSON that is not a JSON-RPC 2.0 response", method=method)
    if "error" in payload and payload["error"] is not None:
        raise error_from_payload(method, payload["error"])
    result = payload.get("result")
    if not isinstance(result, dict):
        raise UISTransportError("the JSON-RPC answer has neither an error nor a result object", method=method)
    answered_id = payload.get("id")
    if answered_id is not None and str(answered_id) != str(request_id):
        raise UISTransportError(
            f"the JSON-RPC answer belongs to request {answered_id!r}, not {request_id!r}", method=method
        )
    return result


def _payload(body: bytes | bytearray | mmap.mmap) -> Any:
    """The answer with ``result.data`` still encoded; an answer of another shape is decoded whole."""
    if _envelope_decode is None:
        return decode_json(body)
    try:
        envelope = _envelope_decode(body)
    except RecursionError:
        raise UISTransportError("the API answered JSON nested too deeply to be a UIS answer") from None
    except ValueError:
        return decode_json(body)
    result = envelope.result
    if result is not None:
        result = {name: value if name == "data" else decode_json(value) for name, value in result.items()}
    return {"jsonrpc": envelope.jsonrpc, "id": envelope.id, "error": envelope.error, "result": result}


def error_from_payload(method: str, error: Any) -> UISError:
    """Map a JSON-RPC ``error`` member to an exception by its ``data.mnemonic``."""
    if not isinstance(error, dict):
        return UISTransportError("the JSON-RPC error member is not an object", method=method)
    data = _member(error, "data")
    raw_mnemonic = data.get("mnemonic")
    mnemonic = str(raw_mnemonic) if raw_mnemonic is not None else None
    limits = _member(_member(data, "metadata"), "limits")
    code = error.get("code")
    params = _member(data, "params")
    field = data.get("field")
    return error_class_for(mnemonic)(
        str(error.get("message") or "error without a message"),
        code=code if isinstance(code, int) else None,
        mnemonic=mnemonic,
        field=str(field) if field is not None else None,
        value=data.get("value"),
        params=params,
        method=method,
        limits=limits,
    )


def _member(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` when it is an object, else an empty dict (hostile answers carry anything anywhere)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def result_data(result: dict[str, Any]) -> Any:
    """The ``data`` member of a result (a list for reports, an object for single answers)."""
    return result.get("data")


def result_records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a list answer; a malformed ``data`` member is a transport error, not silently nothing."""
    data = result.get("data")
    if isinstance(data, _ENCODED):
        data = decode_json(cast("bytes", data))
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UISTransportError("the API answered a 'data' member that is not a list of records")
    return data


def last_record(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The last record of a list answer as a list of one (none when it has none), the others left encoded."""
    data = result.get("data")
    if isinstance(data, _ENCODED) and _items_decode is not None:
        try:
            items = _items_decode(data)
        except (ValueError, RecursionError):
            return result_records(result)[-1:]  # decoded whole, to fail as any malformed page does
        if not items:
            return []
        last = decode_json(items[-1])
        if not isinstance(last, dict):
            raise UISTransportError("the API answered a 'data' member that is not a list of records")
        return [last]
    return result_records(result)[-1:]


#: Decodes a page's still-encoded ``data`` member into records of its own type, or returns None when it cannot.
RecordsDecoder = Callable[[Any], "Sequence[dict[str, Any]] | None"]


def decoded_records(result: dict[str, Any], decode: RecordsDecoder | None) -> Sequence[dict[str, Any]]:
    """The records of a list answer, through ``decode`` when its ``data`` member was left encoded (``defer_data``).

    ``decode`` makes typed records, e.g. a :class:`uis_provider.storage.rows.Rows` page; a page it returns None for
    is decoded into dicts by :func:`result_records`, as without it.
    """
    data = result.get("data")
    if decode is not None and isinstance(data, _ENCODED):
        records = decode(data)
        if records is not None:
            return records
    return result_records(result)


def result_metadata(result: dict[str, Any]) -> dict[str, Any]:
    """The ``metadata`` member of a result, or an empty dict."""
    return _member(result, "metadata")
