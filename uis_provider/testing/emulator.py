"""An offline UIS Data API (v2.0) on loopback for tests and demos: ``UISEmulator`` and its command line.

    with UISEmulator(calls=5000, seed=1) as api:
        requests.post(api.url, json={"jsonrpc": "2.0", "id": 1, "method": "get.account",
                                     "params": {"access_token": "test-api-key"}})

Run standalone: ``python -m uis_provider.testing.emulator --port 8765 --calls 5000``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from uis_provider.protocol.catalog import method_spec
from uis_provider.testing.clock import EmulatorClock
from uis_provider.testing.data import CallHistory
from uis_provider.testing.errors import APIError
from uis_provider.testing.faults import Faults
from uis_provider.testing.methods import LISTS, SOURCES, account_row
from uis_provider.testing.service import UISService, new_entry
from uis_provider.testing.state import Accounts, Budget
from uis_provider.testing.store import UploadedCalls
from uis_provider.testing.tables import build_tables
from uis_provider.testing.timefmt import coerce_local

API_PATH = "/v2.0"
HUGE_BYTES = 256 * 1024 * 1024  # past the clients' 128 MiB cap: sent only until the client hangs up
DEEP_LEVELS = 100_000
_HTTP_FAULTS = {"http_500": 500, "http_502": 502, "http_503": 503}
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class _Server(ThreadingHTTPServer):
    """Threaded HTTP server that remembers open keep-alive connections so ``stop()`` can close them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: UISEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_sockets = list(self.connections)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler: POST goes to the emulator, every other verb gets 405."""

    protocol_version = "HTTP/1.1"
    server_version = "UISEmulator/1.0"
    timeout = 120
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_POST(self) -> None:
        self.server.emulator._serve(self)

    def _not_allowed(self) -> None:
        self.server.emulator._reject(self, 405, "Method Not Allowed")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed


class UISEmulator:
    """A faithful, seeded UIS Data API on ``http://127.0.0.1:<port>/v2.0`` with knobs and faults for tests.

    State (calls, sessions, budgets, uploads) lives in memory; ``clock`` drives every time-dependent behaviour.
    Use it as a context manager (or :meth:`start` / :meth:`stop`); :attr:`url` is the connection's host.

    :param calls: historical uploaded calls to generate.
    :param seed: the generator's seed: the same seed gives the same records.
    :param start: first day of the generated upload times (a date, datetime or ``YYYY-MM-DD``).
    :param days: how many days the history spans.
    :param timezone: the account's IANA time zone, as ``get.account`` reports it.
    :param api_keys: API keys and their state (``valid``, ``expired``, ``blocked``); default ``test-api-key``.
    :param users: logins and passwords for ``login.user``; default ``demo`` / ``demo-password``.
    :param session_ttl: seconds a login session lives.
    :param minute_limit: points per minute window (``limit_exceeded`` with ``limit_type=minute`` past it).
    :param day_limit: points per day (``limit_exceeded`` with ``limit_type=day`` past it).
    :param minute_window: seconds of one minute window (shorten it to test waiting for the reset).
    :param latency: seconds added to every answer.
    :param till_inclusive: read ``date_till`` as inclusive (the default); False reads it as exclusive.
    :param host: the address to bind; keep the loopback default.
    :param port: the TCP port; 0 (the default) picks a free one.
    :param new_seconds: seconds an uploaded call stays ``new`` on the emulator's clock.
    :param process_seconds: seconds after upload until it is ``processed`` (or ``error``).
    :param report_calls: calls of the account's own telephony in ``get.calls_report`` (with their legs) besides
        the processed uploads; default half of ``calls``.
    :param chats_per_day: chats a day of the history (each with its messages).
    :param goals_per_day: goals reached a day of the history.
    :param offline_messages_per_day: offline messages (form requests) a day of the history.
    :param token_log: append every issued session token to this file (for leak checks).
    """

    def __init__(
        self,
        calls: int = 5000,
        seed: int = 1,
        start: str | date | datetime = "2026-01-01",
        days: int = 30,
        timezone: str = "Europe/Moscow",
        api_keys: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
        session_ttl: float = 3600.0,
        minute_limit: int = 3000,
        day_limit: int = 1_000_000,
        minute_window: float = 60.0,
        latency: float = 0.0,
        till_inclusive: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        new_seconds: float = 2.0,
        process_seconds: float = 5.0,
        report_calls: int | None = None,
        token_log: str | None = None,
        chats_per_day: int = 6,
        goals_per_day: int = 10,
        offline_messages_per_day: int = 3,
    ) -> None:
        self.timezone = ZoneInfo(timezone)
        self.clock = EmulatorClock()
        self.faults = Faults()
        self.latency = latency
        self.host = host
        self._requested_port = port
        history = CallHistory(calls=calls, seed=seed, start=coerce_local(start, self.timezone), days=days)
        self._uploads = UploadedCalls(history, new_seconds=new_seconds, process_seconds=process_seconds)
        self._service = UISService(
            clock=self.clock,
            timezone_name=timezone,
            accounts=Accounts(
                self.clock,
                api_keys=api_keys if api_keys is not None else {"test-api-key": "valid"},
                users=users if users is not None else {"demo": "demo-password"},
                session_ttl=session_ttl,
                app_id=40_000 + seed % 10_000,
            ),
            budget=Budget(self.clock, minute_limit=minute_limit, day_limit=day_limit, minute_window=minute_window),
            tables=build_tables(
                self._uploads,
                native_calls=calls // 2 if report_calls is None else report_calls,
                chats_per_day=chats_per_day,
                goals_per_day=goals_per_day,
                offline_messages_per_day=offline_messages_per_day,
                timezone=self.timezone,
            ),
            seed=seed,
            till_inclusive=till_inclusive,
            account_name="Демо-аккаунт UIS (эмулятор)",
        )
        self._service.accounts.token_log = token_log
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"UISEmulator({where}, calls={self._uploads.history.size})"

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> UISEmulator:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="uis-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join the server thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> UISEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API base URL including the version (POST JSON-RPC here)."""
        return f"http://{self.host}:{self.port}{API_PATH}"

    # -- introspection ---------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per HTTP request received: method, params, id, http_status, error, points, fault."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def count(self, method: str | None = None) -> int:
        """Number of JSON-RPC calls received (faulted ones included), optionally of one method."""
        with self._log_lock:
            return sum(1 for entry in self._log if entry["method"] and (method is None or entry["method"] == method))

    def reset_log(self) -> None:
        """Forget the request log."""
        with self._log_lock:
            self._log.clear()

    def records(
        self, date_from: str | date | datetime | None = None, date_till: str | date | datetime | None = None
    ) -> list[dict[str, Any]]:
        """Ground truth: every uploaded-call record (all fields, current status) uploaded in ``[from, till)``."""
        low = coerce_local(date_from, self.timezone) if date_from is not None else -(1 << 62)
        high = coerce_local(date_till, self.timezone) if date_till is not None else 1 << 62
        with self._service.lock:
            now = self.clock.time()
            return [copy.deepcopy(self._uploads.materialize(ref, now)) for ref in self._uploads.window(low, high)]

    def warm(self) -> None:
        """Build every historical record now, so the first pages cost what later ones do (benchmarks use it)."""
        with self._service.lock:
            self._uploads.history.warm()

    def rows(
        self,
        method: str,
        date_from: str | date | datetime | None = None,
        date_till: str | date | datetime | None = None,
        *,
        include_ongoing_calls: bool = False,
    ) -> list[dict[str, Any]]:
        """Ground truth of any documented read method: every documented column of each row, in the order the API
        answers without a ``sort``; for a method with a date window, the rows its window field puts in
        ``[from, till)`` (each bound optional)."""
        spec = method_spec(method)
        if spec is None:
            raise ValueError(f"{method!r} is not a documented read method")
        low = coerce_local(date_from, self.timezone) if date_from is not None else -(1 << 40)
        high = coerce_local(date_till, self.timezone) if date_till is not None else 1 << 40
        service = self._service
        with service.lock:
            now = self.clock.time()
            if method == "get.account":
                found = [account_row(service)]
            elif method in LISTS:
                found = list(LISTS[method])
            else:
                source = SOURCES[method]
                found = [
                    source.row(service, ref, now) for ref in source.refs(service, low, high, now, include_ongoing_calls)
                ]
            return [{name: copy.deepcopy(row[name]) for name in spec.column_names} for row in found]

    def report_rows(
        self, date_from: str | date | datetime | None = None, date_till: str | date | datetime | None = None
    ) -> list[dict[str, Any]]:
        """Ground truth of ``get.calls_report``: rows whose start_time lies in ``[from, till)``."""
        return self.rows("get.calls_report", date_from, date_till)

    def pending_uploads(self) -> list[str]:
        """ext_ids of uploaded calls still ``new`` or ``in_process``."""
        with self._service.lock:
            return self._uploads.pending(self.clock.time())

    @property
    def limits(self) -> dict[str, int]:
        """The current budgets as ``metadata.limits`` would report them."""
        return self._service.budget.limits()

    @property
    def issued_tokens(self) -> list[str]:
        """Every session token ``login.user`` handed out, so tests can scan outputs for them."""
        return list(self._service.accounts.issued_tokens)

    @property
    def open_sessions(self) -> int:
        """Number of live ``login.user`` sessions."""
        return self._service.accounts.open_sessions

    # -- knobs -----------------------------------------------------------------------------------------------

    def add_calls(
        self, n: int, start: str | date | datetime, end: str | date | datetime, status: str | None = None
    ) -> list[str]:
        """Add ``n`` generated calls uploaded in ``[start, end)`` (changes ``total_items``); returns ext_ids."""
        low, high = coerce_local(start, self.timezone), coerce_local(end, self.timezone)
        with self._service.lock:
            return self._uploads.add_generated(n, low, high, status)

    def expire_sessions(self) -> None:
        """End every open ``login.user`` session now."""
        self._service.accounts.expire_sessions()

    def expire_sessions_every(self, n: int | None) -> None:
        """From now on a session dies after ``n`` authenticated calls (0: refused at once; ``None``: off)."""
        if n is not None and n < 0:
            raise ValueError("n must be >= 0")
        self._service.accounts.uses_per_session = n

    def disable_method(self, name: str, disabled: bool = True) -> None:
        """Make ``name`` answer ``method_component_disabled`` (code -32602, as observed live)."""
        with self._service.lock:
            if disabled:
                self._service.disabled.add(name)
            else:
                self._service.disabled.discard(name)

    def block_ip(self, blocked: bool = True) -> None:
        """Make every call answer ``ip_not_whitelisted`` (-32003)."""
        self._service.ip_blocked = blocked

    # -- serving ---------------------------------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self._log.append(entry)

    def _reject(self, handler: _Handler, status: int, reason: str) -> None:
        entry = new_entry()
        entry["http_status"] = status
        self._record(entry)
        body = f"{status} {reason}\n".encode()
        handler.close_connection = True
        handler.send_response(status, reason)
        if status == 405:
            handler.send_header("Allow", "POST")
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _serve(self, handler: _Handler) -> None:
        length = handler.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reject(handler, 411, "Length Required")
            return
        body = handler.rfile.read(int(length))
        if handler.path.rstrip("/") != API_PATH:
            self._reject(handler, 404, "Not Found")
            return
        fault = self.faults.next()
        if self.latency and self._stopping.wait(self.latency):
            return
        if fault is None or fault in ("slow", "short_page"):
            if fault == "slow" and self._stopping.wait(self.faults.timeout_delay):
                return
            reply = self._service.handle(body, handler.client_address[0])
            reply.entry["fault"] = fault
            if fault == "short_page":
                _drop_last_record(reply.payload)
            self._record(reply.entry)
            self._send(handler, reply.status, _encode(reply.payload))
            return
        self._inject(handler, fault, body)

    def _inject(self, handler: _Handler, fault: str, body: bytes) -> None:
        entry = new_entry()
        entry["fault"] = fault
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            request = None
        if isinstance(request, dict):
            entry.update(method=request.get("method"), params=request.get("params"), id=request.get("id"))
        call_id = entry["id"]
        if fault in _HTTP_FAULTS:
            status = _HTTP_FAULTS[fault]
            entry["http_status"] = status
            self._record(entry)
            page = f"<html><body><h1>{status} {_REASONS[status]}</h1>nginx</body></html>".encode()
            self._send(handler, status, page, content_type="text/html")
            return
        if fault in ("drop", "timeout"):
            entry["http_status"] = None
            self._record(entry)
            if fault == "timeout":
                self._stopping.wait(self.faults.timeout_delay)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        self._record(entry)
        head = f'{{"jsonrpc":"2.0","id":{json.dumps(call_id)},'.encode()
        if fault == "malformed":
            self._send(handler, 200, head + b'"result":{"data":[{"ext_id":"ext-00000')
        elif fault == "not_jsonrpc":
            self._send(handler, 200, b'{"ok":1}')
        elif fault == "deep":
            self._send(handler, 200, head + b'"result":{"data":' + b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS + b"}}")
        elif fault == "huge":
            self._send_huge(handler, head)
        else:
            exhausted = {"limit_minute": "minute", "limit_day": "day"}.get(fault)
            budget = self._service.budget
            if exhausted is None:
                error = APIError("internal_error")
            else:
                limit = budget.minute_limit if exhausted == "minute" else budget.day_limit
                error = APIError("limit_exceeded", params={"limit_type": exhausted, "limit_max_value": limit})
            entry["error"] = error.mnemonic
            error.method = entry["method"] if isinstance(entry["method"], str) else None
            payload = {"jsonrpc": "2.0", "id": call_id, "error": error.error_object(budget.limits(exhausted))}
            self._send(handler, 200, _encode(payload))

    def _send(
        self, handler: _Handler, status: int, body: bytes, content_type: str = "application/json; charset=UTF-8"
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            handler.close_connection = True

    def _send_huge(self, handler: _Handler, head: bytes) -> None:
        opening = head + b'"result":{"data":[],"metadata":{"total_items":0},"padding":"'
        closing = b'"}}'
        padding = HUGE_BYTES - len(opening) - len(closing)
        chunk = b"x" * (1 << 20)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json; charset=UTF-8")
            handler.send_header("Content-Length", str(HUGE_BYTES))
            handler.end_headers()
            handler.wfile.write(opening)
            while padding > 0:
                piece = chunk[: min(padding, len(chunk))]
                handler.wfile.write(piece)
                padding -= len(piece)
            handler.wfile.write(closing)
        except OSError:
            handler.close_connection = True


def _drop_last_record(payload: dict[str, Any]) -> None:
    """The ``short_page`` fault: a list answer loses its last record while ``total_items`` stays (a capped page)."""
    data = payload.get("result", {}).get("data")
    if isinstance(data, list) and data:
        data.pop()


def _fast_encoder() -> Callable[[Any], bytes] | None:
    """msgspec's JSON encoder (an Airflow dependency), or ``None`` without msgspec."""
    try:
        import msgspec
    except ImportError:
        return None
    return msgspec.json.Encoder().encode


_fast_encode = _fast_encoder()


def _encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as the API answers; msgspec (an Airflow dependency) when present, ~7x faster on pages."""
    if _fast_encode is not None:
        try:
            return _fast_encode(payload)
        except (TypeError, ValueError, OverflowError):
            pass
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


#: What the command line serves when no key or login is given (the class's own defaults).
CLI_API_KEY = "test-api-key"
CLI_USER = ("demo", "demo-password")


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, except the empty ones (flags, and options whose help says it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m uis_provider.testing.emulator",
        description="Serve an offline UIS Data API on 127.0.0.1 until Ctrl+C or SIGTERM.",
        formatter_class=_DefaultsShown,
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = a free one)")
    parser.add_argument("--calls", type=int, default=5000, help="historical uploaded calls to generate")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed: the same seed, the same records")
    parser.add_argument("--start", default="2026-01-01", help="first day of generated upload times (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, default=31, help="days of history from --start (31: January 2026)")
    parser.add_argument("--timezone", default="Europe/Moscow", help="the account's time zone (IANA name)")
    parser.add_argument(
        "--api-key", action="extend", nargs="+", default=[], help=f"valid API key(s) (none given: {CLI_API_KEY})"
    )
    parser.add_argument("--login", help=f"login for login.user, with --password (none given: {CLI_USER[0]})")
    parser.add_argument("--password", help=f"password for login.user (none given: {CLI_USER[1]})")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--minute-limit", type=int, default=3000, help="points per minute window")
    parser.add_argument("--day-limit", type=int, default=1_000_000, help="points per day")
    parser.add_argument("--minute-window", type=float, default=60.0, help="seconds of one minute window")
    parser.add_argument("--till-exclusive", action="store_true", help="read date_till as exclusive")
    parser.add_argument("--token-log", help="append every issued session token to this file (for leak checks in tests)")
    parser.add_argument(
        "--report-calls",
        type=int,
        default=None,
        help="calls of the account's own telephony in get.calls_report, with their legs (none given: --calls / 2)",
    )
    parser.add_argument("--chats-per-day", type=int, default=6, help="chats a day of the history, with their messages")
    parser.add_argument("--goals-per-day", type=int, default=10, help="goals reached a day of the history")
    parser.add_argument("--offline-messages-per-day", type=int, default=3, help="offline messages a day of the history")
    parser.add_argument(
        "--warm", action="store_true", help="build every record before listening, so first pages are not slower"
    )
    return parser


def _settings(argv: Iterable[str] | None) -> dict[str, Any]:
    parser = _parser()
    args = parser.parse_args(None if argv is None else list(argv))
    if (args.login is None) != (args.password is None):
        parser.error("--login and --password go together")
    try:
        datetime.fromisoformat(args.start)
        ZoneInfo(args.timezone)
    except (ValueError, KeyError) as exc:
        parser.error(f"--start {args.start!r} / --timezone {args.timezone!r}: {exc}")
    return {
        "port": args.port,
        "calls": args.calls,
        "seed": args.seed,
        "start": args.start,
        "days": args.days,
        "timezone": args.timezone,
        "api_keys": dict.fromkeys(args.api_key or [CLI_API_KEY], "valid"),
        "users": {args.login: args.password} if args.login is not None else dict([CLI_USER]),
        "latency": args.latency,
        "minute_limit": args.minute_limit,
        "day_limit": args.day_limit,
        "minute_window": args.minute_window,
        "till_inclusive": not args.till_exclusive,
        "token_log": args.token_log,
        "report_calls": args.report_calls,
        "chats_per_day": args.chats_per_day,
        "goals_per_day": args.goals_per_day,
        "offline_messages_per_day": args.offline_messages_per_day,
        "warm": args.warm,
    }


def start_lines(url: str, settings: dict[str, Any]) -> list[str]:
    """What the command line prints once it listens: the URL, the credentials, the data and its time zone."""
    first = datetime.fromisoformat(settings["start"])
    end = first + timedelta(days=settings["days"])
    keys = ", ".join(settings["api_keys"])
    users = ", ".join(f"{login} / {password}" for login, password in settings["users"].items())
    return [
        f"UIS emulator listening on {url}",
        f"  API key(s):     {keys}  (the connection's password, login empty)",
        f"  login.user:     {users}",
        f"  data:           {settings['calls']} uploaded calls, upload times from {first:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} (excluded), seed {settings['seed']}",
        f"  reports:        {_report_calls(settings)} own calls with their legs, a day {settings['chats_per_day']} chats, "
        f"{settings['goals_per_day']} goals, {settings['offline_messages_per_day']} offline messages; every read "
        "method of the reference",
        f"  time zone:      {settings['timezone']} (what get.account answers)",
        "  stop:           Ctrl+C",
    ]


def _report_calls(settings: dict[str, Any]) -> int:
    given = settings.get("report_calls")
    return settings["calls"] // 2 if given is None else int(given)


def main(argv: Iterable[str] | None = None) -> int:
    """Run the emulator on 127.0.0.1 until SIGINT or SIGTERM; prints the URL it listens on."""
    settings = _settings(argv)
    warm = settings.pop("warm")
    emulator = UISEmulator(host="127.0.0.1", **settings)
    if warm:
        emulator.warm()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator.start()
    print("\n".join(start_lines(emulator.url, settings)), flush=True)
    while not stop.wait(0.5):
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
