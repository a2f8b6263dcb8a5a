"""Shared pieces of the emulator's tests: credentials, a small emulator, and plain-``requests`` JSON-RPC helpers
(the emulator is always spoken to over its real HTTP endpoint on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from uis_provider.testing import UISEmulator

KEY = "key-valid"
LOGIN, PASSWORD = "analyst", "pa55-word"
FMT = "%Y-%m-%d %H:%M:%S"


def make(**overrides: Any) -> UISEmulator:
    """A small emulator with the test credentials (not started)."""
    settings: dict[str, Any] = {
        "calls": 400,
        "seed": 3,
        "start": "2026-01-01",
        "days": 4,
        "api_keys": {KEY: "valid", "key-expired": "expired", "key-blocked": "blocked"},
        "users": {LOGIN: PASSWORD},
    }
    settings.update(overrides)
    return UISEmulator(**settings)


@pytest.fixture
def api() -> Iterator[UISEmulator]:
    with make() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def big() -> Iterator[UISEmulator]:
    """A read-only emulator shared by a module's query tests (budget large enough never to interfere)."""
    with make(calls=3000, seed=11, days=10, minute_limit=10**9, day_limit=10**9) as emulator:
        yield emulator


def rpc(url: str, method: str, params: dict[str, Any] | None = None, call_id: Any = 1, **kwargs: Any) -> Any:
    """POST one JSON-RPC request and return the decoded answer."""
    body = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params or {}}
    response = requests.post(url, json=body, timeout=kwargs.pop("timeout", 30), **kwargs)
    assert response.status_code == 200
    return response.json()


def result(url: str, method: str, params: dict[str, Any]) -> Any:
    """The ``result`` of a call that must succeed."""
    answer = rpc(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]


def error(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` of a call that must fail."""
    answer = rpc(url, method, params)
    assert "result" not in answer, answer
    return answer["error"]


def window(start: str, till: str, **params: Any) -> dict[str, Any]:
    """Parameters of a windowed read with the test key."""
    return {"access_token": KEY, "date_from": start, "date_till": till, **params}


def fetch_all(url: str, method: str, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every row of a query, paged by total_items."""
    rows: list[dict[str, Any]] = []
    offset, total = 0, None
    while total is None or offset < total:
        answer = result(url, method, {**params, "limit": limit, "offset": offset})
        total = answer["metadata"]["total_items"]
        rows.extend(answer["data"])
        offset += limit
    assert total is not None
    return rows, total


def plus_second(text: str) -> str:
    """The API date-time one second later."""
    return (datetime.strptime(text, FMT) + timedelta(seconds=1)).strftime(FMT)


def upload_call(ext: str, /, **fields: Any) -> dict[str, Any]:
    """One ``upload.calls`` item with a WAV recording; ``fields`` override (None drops a field)."""
    base: dict[str, Any] = {
        "ext_id": ext,
        "is_lost": False,
        "direction": "in",
        "calling_phone_number": "79161234567",
        "called_phone_number": "74951234567",
        "start_time": "2026-01-10 10:00:00",
        "finish_time": "2026-01-10 10:02:00",
        "talk_duration": 110,
        "wait_duration": 10,
        "tags": [{"tag_name": "Загружен"}],
        "wav_records": [
            {"employee_name": "Оператор", "employee_channel": "left", "record_url": "https://r.example/1.wav"}
        ],
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def post(api: UISEmulator, **kwargs: Any) -> requests.Response:
    """POST one ``get.account`` call with plain ``requests`` (the fault tests look at the raw answer)."""
    body = {"jsonrpc": "2.0", "id": 5, "method": "get.account", "params": {"access_token": KEY}}
    return requests.post(api.url, json=body, timeout=kwargs.pop("timeout", 30), **kwargs)
