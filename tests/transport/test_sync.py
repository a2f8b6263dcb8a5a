"""The requests transport on loopback: large bodies of declared length land in a memory map, short ones fail."""

from __future__ import annotations

import logging
import mmap
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import API_KEY
from uis_provider.protocol.jsonrpc import build_request, parse_response, result_records
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.session import Send, Sleep
from uis_provider.testing import UISEmulator
from uis_provider.transport import sync


def page_request(limit: int) -> bytes:
    """A get.uploaded_calls page of January with every column."""
    params = {
        "access_token": API_KEY,
        "date_from": "2026-01-01 00:00:00",
        "date_till": "2026-01-31 23:59:59",
        "limit": limit,
        "offset": 0,
        "fields": list(UPLOADED_CALLS.columns),
        "sort": [{"field": "ext_id", "order": "asc"}],
    }
    return build_request("get.uploaded_calls", params, "r1")


def test_a_large_body_lands_in_a_memory_map_and_decodes_to_the_records(emulator: UISEmulator) -> None:
    http = sync.new_http_client()
    try:
        big = sync.post(http, emulator.url, Send("get.uploaded_calls", page_request(2000), 30))
        small = sync.post(http, emulator.url, Send("get.uploaded_calls", page_request(10), 30))
    finally:
        http.close()
    assert isinstance(big.body, mmap.mmap) and len(big.body) >= sync.MAPPED_BODY_BYTES
    assert isinstance(small.body, bytearray) and len(small.body) < sync.MAPPED_BODY_BYTES
    records = result_records(parse_response("get.uploaded_calls", "r1", big.status, big.body, defer_data=True))
    truth = sorted(emulator.records("2026-01-01", "2026-02-01"), key=lambda r: r["ext_id"])
    assert len(records) == 2000
    assert records == [{c: r[c] for c in UPLOADED_CALLS.columns} for r in truth[:2000]]


@pytest.fixture
def cut_short() -> Iterator[str]:
    """A server that declares a 2 MiB answer, sends 1 MiB of it and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"
                connection.sendall(head + b" " * (1024 * 1024))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v2.0"
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def test_a_body_cut_short_is_a_transport_failure_not_a_partial_page(cut_short: str) -> None:
    http = sync.new_http_client()
    try:
        reply = sync.post(http, cut_short, Send("get.uploaded_calls", page_request(10), 10))
    finally:
        http.close()
    assert reply.failure is not None and "get.uploaded_calls" in reply.failure
    assert reply.body == b""


def test_polls_for_another_call_are_logged_at_debug_and_waits_for_the_budget_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def flow() -> Iterator[Sleep]:
        for _ in range(3):
            yield Sleep(0.0, "the minute point budget has reset; one call probes it first", quiet=True)
        yield Sleep(0.0, "minute point budget used up; waiting 3.0 s for it to reset")

    caplog.set_level(logging.DEBUG, logger="uis_provider.transport.sync")
    http = sync.new_http_client()
    try:
        sync.run(flow(), http, "http://127.0.0.1:1/v2.0", sleep=lambda _seconds: None)
    finally:
        http.close()
    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in levels] == [logging.DEBUG] * 3 + [logging.INFO], levels
    assert levels[-1][1] == "UIS: minute point budget used up; waiting 3.0 s for it to reset"
