"""The JSON-RPC 2.0 core of the emulator: request shape, auth, switches, budgets and method dispatch.

Transport-free: ``handle(body)`` turns one POST body into an HTTP status, a JSON answer and a log entry.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from uis_provider.testing.clock import EmulatorClock
from uis_provider.testing.errors import APIError
from uis_provider.testing.memo import LRU
from uis_provider.testing.methods import METHODS, Method, Run
from uis_provider.testing.state import Accounts, Budget
from uis_provider.testing.store import UploadedCalls
from uis_provider.testing.tables import Tables


@dataclass
class Reply:
    """What to send back for one request, and what to record about it."""

    status: int
    payload: dict[str, Any]
    entry: dict[str, Any]


def new_entry() -> dict[str, Any]:
    """A blank request-log entry."""
    return {"method": None, "params": None, "id": None, "http_status": 200, "error": None, "points": 0, "fault": None}


class UISService:
    """Answers JSON-RPC requests against the emulator's state; one lock serialises the work of all requests."""

    def __init__(
        self,
        *,
        clock: EmulatorClock,
        timezone_name: str,
        accounts: Accounts,
        budget: Budget,
        tables: Tables,
        seed: int,
        till_inclusive: bool,
        account_name: str,
    ) -> None:
        self.clock = clock
        self.timezone_name = timezone_name
        self.timezone = ZoneInfo(timezone_name)
        self.accounts = accounts
        self.budget = budget
        self.tables: Tables = tables
        self.uploads: UploadedCalls = tables.uploads
        self.seed = seed
        self.till_inclusive = till_inclusive
        self.account_name = account_name
        self.lock = threading.RLock()
        #: Selected refs of filtered or sorted queries, so paging through one evaluates it once.
        self.cache: LRU[tuple[Any, ...], list[int]] = LRU(64)
        self.disabled: set[str] = set()
        self.ip_blocked = False
        self._answers = 0

    def request_rng(self) -> random.Random:
        """A seeded generator for this answer (key order of records), different for every answer."""
        self._answers += 1
        return random.Random(f"{self.seed}:answer:{self._answers}")

    def _error(self, error: APIError, call_id: Any, entry: dict[str, Any], method: str | None) -> Reply:
        error.method = error.method or method
        entry["error"] = error.mnemonic
        payload = {"jsonrpc": "2.0", "id": call_id, "error": error.error_object(self.budget.limits())}
        return Reply(200, payload, entry)

    def handle(self, body: bytes, client_ip: str = "127.0.0.1") -> Reply:
        """Answer one POST body (never raises: unexpected failures become ``internal_error``)."""
        entry = new_entry()
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return self._error(APIError("parse_error"), None, entry, None)
        if isinstance(request, list):
            return self._error(APIError("batch_opreations_not_supported"), None, entry, None)
        if not isinstance(request, dict):
            return self._error(APIError("invalid_request"), None, entry, None)
        name = request.get("method")
        entry.update(method=name if isinstance(name, str) else None, params=request.get("params"))
        entry["id"] = request.get("id")
        if "id" not in request:
            return self._error(APIError("notifications_not_supported"), None, entry, None)
        call_id = request["id"]
        if isinstance(call_id, bool) or not isinstance(call_id, str | int):
            return self._error(APIError("invalid_request", field="id"), None, entry, None)
        params = request.get("params", {})
        if request.get("jsonrpc") != "2.0" or not isinstance(name, str) or not isinstance(params, dict):
            return self._error(APIError("invalid_request"), call_id, entry, None)
        method = METHODS.get(name)
        if method is None:
            return self._error(APIError("method_not_found", value=name), call_id, entry, name)
        with self.lock:
            try:
                result = self._dispatch(method, params, call_id, client_ip, entry)
            except APIError as error:
                return self._error(error, call_id, entry, name)
            except Exception as error:  # an emulator bug must still answer like the API does
                entry["exception"] = repr(error)
                return self._error(APIError("internal_error"), call_id, entry, name)
        return Reply(200, {"jsonrpc": "2.0", "id": call_id, "result": result}, entry)

    def _dispatch(
        self, method: Method, params: dict[str, Any], call_id: Any, client_ip: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        if self.ip_blocked:
            raise APIError("ip_not_whitelisted", params={"ip": client_ip})
        if method.auth:
            if "access_token" not in params:
                raise APIError("required_parameter_missed", field="access_token")
            token = params["access_token"]
            if not isinstance(token, str):
                raise APIError("access_token_invalid")
            self.accounts.authenticate(token)
        if method.name in self.disabled:
            raise APIError("method_component_disabled", params={"method": method.name})
        for param in params:
            if param not in method.params:
                raise APIError("unexpected_parameters", field=param, value=param)
        user_id = params.get("user_id")
        if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
            raise APIError("data_type_error", field="user_id", value=user_id)
        run: Run = method.prepare(self, params, call_id)
        if method.weight:
            exceeded = self.budget.exceeded(method.weight)
            if exceeded is not None:
                limit = self.budget.minute_limit if exceeded == "minute" else self.budget.day_limit
                raise APIError("limit_exceeded", params={"limit_type": exceeded, "limit_max_value": limit})
        result = run()
        self.budget.charge(method.weight)
        entry["points"] = method.weight
        if method.metered:
            result.setdefault("metadata", {})["limits"] = self.budget.limits()
        return result
