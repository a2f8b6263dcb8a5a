"""The sans-IO heart of every UIS call: auth (API key or login session), pacing, retries, error mapping.

A call is a generator that yields *effects* — :class:`Send` (POST these bytes) or :class:`Sleep` — and receives
:class:`Reply` objects back. The sync transport (requests) and the async one (httpx, used by the trigger) only
carry the effects out, so the JSON-RPC logic exists once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeGuard

from uis_provider.exceptions import UISAuthError, UISError, UISRateLimitError, UISTransportError
from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.budget import (
    CONCURRENCY_POLL,
    DEFAULT_BUDGET_TIMEOUT,
    BudgetDeadline,
    BudgetGate,
    BudgetShare,
    InFlightWindow,
)
from uis_provider.protocol.jsonrpc import (
    RecordsDecoder,
    build_request,
    new_request_id,
    parse_response,
    result_metadata,
)
from uis_provider.protocol.limits import RateLimits, method_weight
from uis_provider.protocol.methods import takes_user_id
from uis_provider.protocol.retry import RetryPolicy

if TYPE_CHECKING:
    import mmap

#: Renew a login session this long before the API says it expires (it lives one hour).
SESSION_REFRESH_LEAD = 120.0
#: Fresh logins one call may make after its session token is refused (each refusal drops the token first).
MAX_RELOGINS = 3


@dataclass(frozen=True)
class Send:
    """Effect: POST ``body`` to the endpoint and reply with a :class:`Reply`."""

    method: str
    body: bytes = field(repr=False)
    timeout: float


@dataclass(frozen=True)
class Sleep:
    """Effect: wait ``seconds`` (pacing or backoff), then reply with ``None``; ``reason`` is for the log.

    A ``quiet`` sleep is a short poll for another call of the same session (a login, a probe of a reset budget): it
    repeats every :data:`CONCURRENCY_POLL` seconds, so the transports log it at DEBUG rather than INFO.
    """

    seconds: float
    reason: str
    quiet: bool = False

    @property
    def level(self) -> int:
        """The log level a transport reports this sleep at."""
        return logging.DEBUG if self.quiet else logging.INFO


@dataclass(frozen=True)
class Reply:
    """What the transport got for a :class:`Send`: an HTTP status and body, or a failure before a full answer.

    The body may be a ``bytearray``, which the sync transport grows in place rather than joining chunks (one copy of
    a page in memory, not two), or for a large body of declared length an anonymous ``mmap`` of exactly that size.
    """

    status: int = 0
    body: bytes | bytearray | mmap.mmap = field(default=b"", repr=False)
    failure: str | None = None
    #: The failure will not pass on a retry (an untrusted TLS certificate): it is raised at once.
    permanent: bool = False


Effect = Send | Sleep
CallFlow = Generator[Effect, "Reply | None", dict[str, Any]]


@dataclass
class CallStats:
    """Counters a task can log and return: calls sent, retries, re-logins and seconds spent waiting.

    ``refusals`` counts calls the minute budget refused (back-pressure, not retries); ``budget_waited`` is the part
    of ``waited`` spent waiting for the minute budget (pacing and refusals).
    """

    calls: int = 0
    retries: int = 0
    logins: int = 0
    waited: float = 0.0
    refusals: int = 0
    budget_waited: float = 0.0


class UISSession:
    """Per-connection state shared by every call: the token, the minute budget's gate, the counters.

    Flows of one session may run at the same time on several threads (the hook's page prefetch): the counters and
    the token are updated under a lock, one call logs in for all, and a call is sent only once the session's
    :class:`~uis_provider.protocol.budget.BudgetGate` admits it.
    A per-minute refusal is back-pressure from calls this session cannot see (other tasks on the same account):
    the call waits for the reset plus jitter over the reset period, the in-flight ``window`` halves, and no retry is
    used up; only ``budget_deadline`` (default :data:`DEFAULT_BUDGET_TIMEOUT` from now, renewed by
    :meth:`bound_waits` for each task or poke) ends the waiting.
    ``on_secret`` is called with every secret the session learns (the API key, the password, each session
    token) before it can reach a log — the hook passes Airflow's ``mask_secret``.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        on_secret: Callable[[str], None] | None = None,
        budget_deadline: BudgetDeadline | None = None,
        in_flight: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.on_secret = on_secret or (lambda _secret: None)
        self.stats = CallStats()
        self.budget_deadline = budget_deadline or BudgetDeadline.after(DEFAULT_BUDGET_TIMEOUT, clock())
        #: Admission to the minute point budget, by the readings of this session's answers.
        self.gate = BudgetGate(in_flight, rng)
        self._token: str | None = None if settings.uses_session else settings.secret
        self._token_expires_at: float | None = None
        self._lock = threading.Lock()
        self._logging_in = False
        self.on_secret(settings.secret)

    def __repr__(self) -> str:
        return f"UISSession({self.settings!r}, logged_in={self.logged_in})"

    @property
    def limits(self) -> RateLimits | None:
        """The last reading of ``metadata.limits`` to pace by (``None`` before the first answer)."""
        return self.gate.limits

    @property
    def window(self) -> InFlightWindow:
        """Pages a paginator may keep in flight: AIMD between 1 and ``in_flight`` on the minute budget's refusals."""
        return self.gate.window

    @property
    def share(self) -> BudgetShare:
        """How many clients draw on the same minute budget, estimated from its readings."""
        return self.gate.share

    def bound_waits(self, budget_timeout: Any, execution_timeout: timedelta | None = None) -> BudgetDeadline:
        """Let the calls from now on wait for the minute budget ``budget_timeout`` in all (never past
        ``execution_timeout``): each task, poke or trigger check bounds its own waits, not the session's first one."""
        self.budget_deadline = BudgetDeadline.for_task(budget_timeout, execution_timeout, self.clock())
        return self.budget_deadline

    @property
    def logged_in(self) -> bool:
        """True while a login session token is held."""
        return self.settings.uses_session and self._token is not None

    def _needs_login(self) -> bool:
        if not self.settings.uses_session:
            return False
        if self._token is None:
            return True
        return self._token_expires_at is not None and self.clock() >= self._token_expires_at - SESSION_REFRESH_LEAD

    def _params_with_auth(self, method: str, params: dict[str, Any] | None, token: str | None) -> dict[str, Any]:
        merged: dict[str, Any] = {"access_token": token}
        if self.settings.user_id is not None and takes_user_id(method):
            merged["user_id"] = self.settings.user_id
        merged.update(params or {})
        return merged

    def _count(
        self,
        *,
        calls: int = 0,
        retries: int = 0,
        logins: int = 0,
        waited: float = 0.0,
        refusals: int = 0,
        budget_waited: float = 0.0,
    ) -> None:
        with self._lock:
            self.stats.calls += calls
            self.stats.retries += retries
            self.stats.logins += logins
            self.stats.waited += waited + budget_waited
            self.stats.refusals += refusals
            self.stats.budget_waited += budget_waited

    def _record_limits(self, limits: Any, spent: int = 0) -> None:
        """Keep the reading of an answer; ``spent`` is the points the answered call cost (0 when refused)."""
        self.gate.on_answer(RateLimits.parse(limits, self.clock()), spent)

    def _past_deadline(self, method: str, wait: float) -> UISRateLimitError | None:
        """The error to raise when waiting ``wait`` more seconds for the minute budget would pass the deadline."""
        now = self.clock()
        deadline = self.budget_deadline
        if deadline.allows(wait, now):
            return None
        return UISRateLimitError(
            f"the shared minute point budget was still used up at the deadline ({deadline.name}) after "
            f"{self.stats.budget_waited:.0f} s of waiting on it and {self.stats.refusals} refused call(s). Other "
            "tasks use the same account: run fewer at once (an Airflow pool per UIS connection) or raise the deadline",
            mnemonic="limit_exceeded",
            method=method,
            params={"limit_type": "minute", "deadline": deadline.name},
        )

    def _wait_out_refusal(
        self, method: str, refusal: UISRateLimitError, weight: int, refused: str
    ) -> Generator[Effect, Reply | None, None]:
        """Wait out a per-minute refusal as back-pressure (no retry used up), or fail naming the deadline it passes.

        ``refused`` says what was refused, for the log; ``weight`` is the points the refused call would have cost.
        """
        now = self.clock()
        reading = RateLimits.parse(refusal.limits, now)
        wait = self.gate.on_refusal(refusal.reset_seconds, reading, weight, now, self.policy.limit_margin)
        late = self._past_deadline(method, wait)
        if late is not None:
            raise late from refusal
        self._count(refusals=1, budget_waited=wait)
        yield Sleep(wait, f"{refused}; waiting {wait:.1f} s")

    def _retry_after(self, method: str, failure: UISError, attempt: int) -> Sleep:
        """The backoff before retry number ``attempt`` (from 1) of ``method`` after a transient ``failure``."""
        cause = failure.mnemonic or failure.message
        delay = self.policy.delay(failure, attempt - 1)
        return Sleep(delay, f"retry {attempt}/{self.policy.max_retries} of {method} after {cause}")

    def affordable_calls(self, method: str) -> int | None:
        """Calls of ``method`` the last reading's minute and day budgets allow beyond the calls in flight.

        ``None`` when nothing bounds them: no reading yet, or a free method. Of the minute budget, only this client's
        share (:class:`~uis_provider.protocol.budget.BudgetShare`); once it has reset, one call (the probe that reads
        it again).
        """
        return self.gate.affordable(method_weight(method), self.clock())

    def _claim_login(self) -> bool:
        """True when this call may log in; False while another call of the session is logging in."""
        with self._lock:
            if self._logging_in:
                return False
            self._logging_in = True
            return True

    def _end_login(self) -> None:
        with self._lock:
            self._logging_in = False

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        defer_data: bool = False,
        decode_records: RecordsDecoder | None = None,
    ) -> CallFlow:
        """The flow of one logical call: paced, authenticated, retried; returns the ``result`` object.

        Retries reuse ``request_id`` so an ``upload.calls`` batch keeps its ``ext_request_id``. An auth error on a
        login/password connection triggers a fresh login, at most :data:`MAX_RELOGINS` times for one call (a session
        shared by concurrent calls may be refused again before this call's turn; a token that keeps failing right
        after a login is not a session that expired). With ``defer_data`` the result's
        ``data`` may stay encoded until :func:`~uis_provider.protocol.jsonrpc.result_records` reads it; with
        ``decode_records`` it is decoded into those records within the call (see
        :func:`~uis_provider.protocol.jsonrpc.parse_response`).
        """
        request_id = request_id or new_request_id()
        weight = method_weight(method)
        attempt = 0
        relogins = 0
        while True:
            yield from self._admitted(method, weight)
            token = self._token
            outcome = yield from self._attempt(
                method, self._params_with_auth(method, params, token), request_id, weight, defer_data, decode_records
            )
            if not isinstance(outcome, UISError):
                return outcome
            if _minute_refusal(outcome):
                refused = f"the minute point budget refused {method} (shared with other calls)"
                yield from self._wait_out_refusal(method, outcome, weight, refused)
            elif isinstance(outcome, UISAuthError):
                if not self.settings.uses_session or relogins >= MAX_RELOGINS:
                    raise outcome
                relogins += 1
                self._drop_token(token)
            elif self.policy.should_retry(outcome, attempt):
                attempt += 1
                backoff = self._retry_after(method, outcome, attempt)
                self._count(retries=1, waited=backoff.seconds)
                yield backoff
            else:
                raise outcome

    def _admitted(self, method: str, weight: int) -> Generator[Effect, Reply | None, None]:
        """Log in when the session needs it, then wait until the minute budget admits a call of ``weight`` points
        (booked from then until :meth:`_attempt` ends); fail naming the deadline a wait would pass."""
        while True:
            if self._needs_login():
                if not self._claim_login():
                    yield Sleep(CONCURRENCY_POLL, "another call of this connection is logging in; waiting", quiet=True)
                    continue
                try:
                    yield from self._login()
                finally:
                    self._end_login()
            wait = self.gate.admit(weight, self.clock())
            if wait is None:
                return
            late = self._past_deadline(method, wait.seconds)
            if late is not None:
                raise late
            self._count(budget_waited=wait.seconds)
            yield Sleep(wait.seconds, wait.reason, quiet=wait.quiet)

    def _attempt(
        self,
        method: str,
        params: dict[str, Any],
        request_id: str,
        weight: int,
        defer_data: bool,
        decode_records: RecordsDecoder | None,
    ) -> Generator[Effect, Reply | None, dict[str, Any] | UISError]:
        """Send one admitted request and read its answer: the result, or the error it failed with (its reading kept
        either way); the points booked for it are released however it ends."""
        try:
            body = build_request(method, params, request_id)
            reply = yield Send(method, body, self.settings.timeout)
            self._count(calls=1)  # counted once answered: a request cancelled before it was sent is no call
            try:
                result = self._parse(method, request_id, reply, defer_data=defer_data, decode_records=decode_records)
            except UISError as exc:
                self._record_limits(exc.limits)
                return exc
            self._record_limits(result_metadata(result).get("limits"), weight)
            self.gate.on_success()
            return result
        finally:
            self.gate.release(weight)

    def _drop_token(self, token: str | None) -> None:
        """Forget a session token the API refused, unless another call already replaced it by a fresh one."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _login(self) -> Generator[Effect, Reply | None, None]:
        """Start a ``login.user`` session (transient failures retried like any call; refused credentials never)."""
        request_id = new_request_id()
        attempt = 0
        while True:
            body = build_request(
                "login.user", {"login": self.settings.login, "password": self.settings.secret}, request_id
            )
            reply = yield Send("login.user", body, self.settings.timeout)
            try:
                result = self._parse("login.user", request_id, reply)
            except UISError as exc:
                if _minute_refusal(exc):
                    # back-pressure here too: waited out, no retry used up
                    refused = "the minute point budget refused login.user"
                    yield from self._wait_out_refusal("login.user", exc, 0, refused)
                elif self.policy.should_retry(exc, attempt):  # never an auth error: a wrong password stays wrong
                    attempt += 1
                    self._count(retries=1)
                    yield self._retry_after("login.user", exc, attempt)
                else:
                    raise
                continue
            self._keep_token(result)
            return

    def _keep_token(self, result: dict[str, Any]) -> None:
        """Hold the session token of a ``login.user`` result (masked first) and when it expires."""
        data = result.get("data")
        if not isinstance(data, dict):
            raise UISTransportError("login.user answered without a data object", method="login.user")
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise UISTransportError("login.user answered without an access_token", method="login.user")
        self.on_secret(token)
        expire = data.get("expire_at", data.get("expire"))
        with self._lock:
            self._token = token
            self._token_expires_at = float(expire) if isinstance(expire, (int, float)) else None
        self._count(logins=1)

    def _parse(
        self,
        method: str,
        request_id: str,
        reply: Reply | None,
        *extra_secrets: str | None,
        defer_data: bool = False,
        decode_records: RecordsDecoder | None = None,
    ) -> dict[str, Any]:
        """Parse a reply; any error it raises has the connection's secrets scrubbed from its text.

        A request that got no answer also says how the endpoint was made from the connection's host, when that
        was assumed (an empty host, a host without a scheme): the likely cause of such a failure.
        """
        try:
            if reply is None:
                raise UISTransportError("the transport returned no reply", method=method)
            if reply.failure is not None:
                note = f" ({self.settings.endpoint_note})" if self.settings.endpoint_note else ""
                raise UISTransportError(reply.failure + note, method=method, retryable=not reply.permanent)
            return parse_response(
                method, request_id, reply.status, reply.body, defer_data=defer_data, decode_records=decode_records
            )
        except UISError as exc:
            raise exc.redact([self.settings.secret, self._token or "", *(s or "" for s in extra_secrets)]) from None

    def logout(self) -> Generator[Effect, Reply | None, None]:
        """End the login session, if any (best effort: a failure only drops the token locally)."""
        if not self.logged_in:
            return
        token, self._token = self._token, None
        request_id = new_request_id()
        body = build_request("logout.user", {"access_token": token}, request_id)
        reply = yield Send("logout.user", body, self.settings.timeout)
        try:
            self._parse("logout.user", request_id, reply, token)
        except UISError:
            return


def _minute_refusal(error: UISError) -> TypeGuard[UISRateLimitError]:
    """True for a refusal by the minute point budget (back-pressure, waited out), not the day's (final)."""
    return isinstance(error, UISRateLimitError) and error.limit_type != "day"
