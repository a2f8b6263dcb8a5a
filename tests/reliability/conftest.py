"""Shared pieces of the reliability and security suites: credentials, connections, a fast retry policy, and a
scriptable JSON-RPC server on loopback for answers the emulator cannot give (hostile records, echoed secrets).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import API_KEY, conn_json
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.testing import UISEmulator

if TYPE_CHECKING:
    from typing_extensions import Self

LOGIN = "reliability.tester@example.com"
PASSWORD = "Rel1ab1l1ty-Pa55-w0rd"
TZ = "Europe/Moscow"
FAST = RetryPolicy(max_retries=5, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)
API_FORMAT = "%Y-%m-%d %H:%M:%S"

Answer = tuple[int, bytes]
Handler = Callable[[dict[str, Any]], Answer]


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, url: str, **kwargs: Any) -> str:
    """Define connection ``conn_id`` for this test through the environment; returns the id."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(url, **kwargs))
    return conn_id


def emulator(**knobs: Any) -> UISEmulator:
    """A started emulator holding this suite's API key and login (stop it yourself)."""
    options: dict[str, Any] = {
        "calls": 2000,
        "seed": 5,
        "start": "2026-01-01",
        "days": 31,
        "api_keys": {API_KEY: "valid"},
        "users": {LOGIN: PASSWORD},
        **knobs,
    }
    return UISEmulator(**options).start()


@pytest.fixture
def api() -> Iterator[UISEmulator]:
    """A 2 000-call January 2026 emulator (Moscow time), stopped after the test."""
    started = emulator()
    try:
        yield started
    finally:
        started.stop()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rpc_result(request: dict[str, Any], result: Any) -> Answer:
    """A JSON-RPC success answer to ``request`` carrying ``result`` as given (hostile shapes included)."""
    body = {"jsonrpc": "2.0", "id": request.get("id"), "result": result}
    return 200, json.dumps(body, ensure_ascii=False).encode()


def rpc_error(request: dict[str, Any], mnemonic: str, *, message: str, **data: Any) -> Answer:
    """A JSON-RPC error answer with ``data.mnemonic`` and any other ``data`` members."""
    error = {"code": -32602, "message": message, "data": {"mnemonic": mnemonic, **data}}
    return 200, json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "error": error}).encode()


class LoopbackServer:
    """An HTTP server on 127.0.0.1 served from a daemon thread: start and stop it with ``with``."""

    scheme = "http"

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to put in a connection's host."""
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}/v2.0"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class ScriptedAPI(LoopbackServer):
    """A JSON-RPC server on 127.0.0.1 whose every answer comes from ``handler(request)``; it logs each request.

    For answers the emulator never gives: records of the wrong type, a ``data`` that is not a list, errors that
    echo the caller's token back.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        scripted = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the access log."""

            def do_POST(self) -> None:
                """Log the request and send whatever the handler scripts for it."""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(body)
                with scripted._lock:
                    scripted.requests.append(request)
                status, answer = scripted.handler(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), _Handler))

    def methods(self) -> list[str]:
        """The JSON-RPC method of every request received, in order."""
        with self._lock:
            return [r.get("method", "") for r in self.requests]
