"""A replaying JSON-RPC server: each answer of the emulator recorded once, then served again as stored bytes.

The client's CPU per record is measured against it, so that no emulator work runs beside the client: the first
request of a kind (method and parameters, the key left out) is passed to the emulator and its ``result`` kept as the
emulator encoded it; every later one is answered from memory, only the request's ``id`` put in.

    python bench/replay.py --upstream http://127.0.0.1:8765/v2.0     # prints its own URL on the first line
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import requests


class _Answer(msgspec.Struct):
    """A JSON-RPC answer with its ``result`` left as the emulator encoded it."""

    result: msgspec.Raw = msgspec.Raw(b"null")


def request_key(body: bytes) -> tuple[Any, str]:
    """The request's ``id`` and what makes it the same question: the method and parameters without the key."""
    request = json.loads(body)
    params = dict(request.get("params") or {})
    params.pop("access_token", None)
    return request.get("id"), json.dumps([request.get("method"), params], sort_keys=True)


class Replay:
    """Answers stored by question; a question not seen yet goes to the emulator (errors are never stored)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answers: dict[str, bytes] = {}
        self.forwarded = 0
        self.replayed = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def answer(self, body: bytes) -> list[bytes]:
        """The answer to one request body, in parts written one after the other."""
        call_id, key = request_key(body)
        with self._lock:
            result = self.answers.get(key)
            if result is not None:
                self.replayed += 1
        if result is None:
            if not hasattr(self._local, "http"):
                self._local.http = requests.Session()
            reply = self._local.http.post(self.upstream, data=body, timeout=600)
            result = bytes(msgspec.json.decode(reply.content, type=_Answer).result)
            if result == b"null":  # an error: passed on, never stored
                return [reply.content]
            with self._lock:
                self.answers[key] = result
                self.forwarded += 1
        head = b'{"jsonrpc":"2.0","id":' + json.dumps(call_id).encode() + b',"result":'
        return [head, result, b"}"]


def serve(upstream: str, port: int) -> ThreadingHTTPServer:
    """Start the server on loopback (``port`` 0 picks a free one)."""
    replay = Replay(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = replay.answer(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(sum(len(part) for part in parts)))
            self.end_headers()
            for part in parts:
                self.wfile.write(part)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM; the first line printed is the URL to use."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator's URL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = serve(args.upstream, args.port)
    path = args.upstream[args.upstream.index("/", len("http://")) :]
    print(f"replaying at http://127.0.0.1:{server.server_address[1]}{path}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
