"""The sans-IO heart of every UIS call: auth (API key or login session), pacing, retries, error mapping.

A call is a generator that yields *effects* — :class:`Send` (POST these bytes) or :class:`Sleep` — and receives
:class:`Reply` objects back. The sync transport (requests) and the async one (httpx, used by the trigger) only
carry the effects out, so the JSON-RPC logic exists once.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from uis_provider.exceptions import UISAuthError, UISError, UISRateLimitError, UISTransportError
from uis_provider.protocol.auth import ConnectionSettings
from uis_provider.protocol.budget import (
    DEFAULT_BUDGET_TIMEOUT,
    BudgetDeadline,
    BudgetShare,
    InFlightWindow,
    spread_wait,
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
#: How long a call waits before it looks again when other calls' answers or another call's login hold it back.
CONCURRENCY_POLL = 0.05
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
    """Per-connection state shared by every call: the token, the last rate-limit reading, the counters.

    Flows of one session may run at the same time on several threads (the hook's page prefetch): the counters,
    the reading and the points of calls still in flight are updated under a lock, one call logs in for all, and
    a call is sent only while the minute budget has points left beyond those of the calls in flight.
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
        self.limits: RateLimits | None = None
        self.budget_deadline = budget_deadline or BudgetDeadline.after(DEFAULT_BUDGET_TIMEOUT, clock())
        #: Pages a paginator may keep in flight: AIMD between 1 and ``in_flight`` on the minute budget's refusals.
        self.window = InFlightWindow(in_flight)
        #: How many clients draw on the same minute budget, estimated from its readings.
        self.share = BudgetShare()
        self._rng = rng or random.Random()
        #: The longest ``minute_reset`` read so far: the length of the budget's period, over which waits spread.
        self._period = 0.0
        self._token: str | None = None if settings.uses_session else settings.secret
        self._token_expires_at: float | None = None
        self._lock = threading.Lock()
        self._in_flight_points = 0
        self._logging_in = False
        self.on_secret(settings.secret)

    def __repr__(self) -> str:
        return f"UISSession({self.settings!r}, logged_in={self.logged_in})"

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
        reading = RateLimits.parse(limits, self.clock())
        if reading is not None:
            with self._lock:
                self.limits = _fresher(self.limits, reading)
                if reading.minute_reset is not None:
                    self._period = max(self._period, reading.minute_reset)
                if spent:
                    self.share.on_answer(reading, spent, self._period)

    def _spread(self, wait: float) -> float:
        """``wait`` for the minute budget's reset plus jitter over its period (the wait itself while none is known),
        stretched over more periods after refusals in a row."""
        with self._lock:
            return spread_wait(wait, self._period or wait, self._rng, self._jitter())

    def _jitter(self) -> float:
        """Periods a wait for the minute budget spreads over: more after refusals in a row, fewer while the clients
        sharing the budget are fewer than its calls (called with the lock held)."""
        limit = self.limits.minute_limit if self.limits is not None else None
        return self.window.backoff * self.share.crowding(limit)

    def _refused(self, error: UISRateLimitError, weight: int) -> float:
        """Take a per-minute refusal as back-pressure: halve the window; the seconds to wait before trying again."""
        reset = error.reset_seconds
        now = self.clock()
        with self._lock:
            known = self.limits  # the refusal's own reading, merged with the others of its window
        if known is not None and known.minute_reset is not None and not known.minute_expired(now):
            reset = min(reset if reset is not None else math.inf, known.taken_at + known.minute_reset - now)
        wait = self._spread((reset if reset is not None else 60.0) + self.policy.limit_margin)
        reading = RateLimits.parse(error.limits, now)
        with self._lock:
            self.window.on_refusal(now)
            self.share.on_refusal(reading, weight)
        return wait

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

    def _reserve(self, weight: int) -> tuple[float, str]:
        """Book ``weight`` points for a call about to be sent, or say how long to wait first (and why)."""
        if weight <= 0:
            return 0.0, ""
        with self._lock:
            reading = self.limits
            now = self.clock()
            if reading is not None and reading.minute_expired(now):
                if self._in_flight_points:
                    # the budget has reset since it was read: one call probes it, the others wait for its reading
                    return CONCURRENCY_POLL, "the minute point budget has reset; one call probes it first"
                if not self.share.go_ahead(reading.minute_limit, weight, self._rng):
                    # more clients share the budget than it has calls a period: sit this period out
                    period = self._period or reading.minute_reset or 60.0
                    wait = spread_wait(period, period, self._rng)
                    self.share.sat_out()
                    return wait, (
                        f"leaving this period of the minute point budget to the ~{self.share.sharers:.0f} clients "
                        f"sharing it; waiting {wait:.1f} s"
                    )
            wait = reading.wait_before(weight + self._in_flight_points, now) if reading else 0.0
            if wait <= 0 and reading is not None and not reading.minute_expired(now):
                left = self.share.points_left(reading, now)
                first_wave = self.share.holds_back(reading, weight)
                if left is not None and (
                    first_wave
                    or self.share.over_share(reading, weight, self._in_flight_points)
                    or not self.share.go_ahead(left - self._in_flight_points, weight, self._rng)
                ):
                    # about as many clients go on as the budget has calls left; this one waits for the reset
                    wait = max(0.0, reading.taken_at + (reading.minute_reset or 0.0) - now)
                    wait = spread_wait(wait, self._period or wait, self._rng, self._jitter())
                    if first_wave:
                        return wait, (
                            f"the minute point budget has {max(0.0, left):.0f} point(s) left, fewer than a first "
                            f"wave of tasks may be spending at once; waiting {wait:.1f} s for it to reset"
                        )
                    return wait, (
                        f"leaving the minute point budget's last {max(0.0, left):.0f} point(s) to the "
                        f"~{self.share.sharers:.0f} "
                        f"clients sharing it; waiting {wait:.1f} s for it to reset"
                    )
            if wait <= 0:
                self._in_flight_points += weight
                return 0.0, ""
            if self._in_flight_points and reading is not None and _booked_by_calls_in_flight(reading, weight):
                return CONCURRENCY_POLL, "the minute point budget left is booked by calls in flight; waiting"
        wait = self._spread(wait)
        return wait, f"minute point budget used up; waiting {wait:.1f} s for it to reset"

    def affordable_calls(self, method: str) -> int | None:
        """Calls of ``method`` the last reading's minute and day budgets allow beyond the calls in flight.

        ``None`` when nothing bounds them: no reading yet, or a free method. Of the minute budget, only this client's
        share (:class:`~uis_provider.protocol.budget.BudgetShare`); once it has reset, one call (the probe that reads
        it again).
        """
        weight = method_weight(method)
        with self._lock:
            reading = self.limits
            if reading is None or weight <= 0:
                return None
            now = self.clock()
            left: list[float] = []
            if reading.minute_expired(now):
                left.append(weight)  # a reset budget is probed by one call before more go ahead
            elif reading.minute_remaining is not None:
                # only this client's share of what is left: the clients it shares the budget with read it too
                left.append(max(0.0, self.share.points_left(reading, now) or 0.0) / self.share.sharers)
            if reading.day_remaining is not None and (
                reading.day_reset is None or now < reading.taken_at + reading.day_reset
            ):
                left.append(reading.day_remaining)
            if not left:
                return None
            return max(0, int((min(left) - self._in_flight_points) // weight))

    def _release(self, weight: int) -> None:
        if weight <= 0:
            return
        with self._lock:
            self._in_flight_points -= weight

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
            if self._needs_login():
                if not self._claim_login():
                    yield Sleep(CONCURRENCY_POLL, "another call of this connection is logging in; waiting", quiet=True)
                    continue
                try:
                    yield from self._login()
                finally:
                    self._end_login()
            wait, reason = self._reserve(weight)
            if wait > 0:
                late = self._past_deadline(method, wait)
                if late is not None:
                    raise late
                self._count(budget_waited=wait)
                yield Sleep(wait, reason, quiet=wait <= CONCURRENCY_POLL)
                continue
            token = self._token
            failure: UISError
            try:
                body = build_request(method, self._params_with_auth(method, params, token), request_id)
                reply = yield Send(method, body, self.settings.timeout)
                self._count(calls=1)  # counted once answered: a request cancelled before it was sent is no call
                try:
                    result = self._parse(
                        method, request_id, reply, defer_data=defer_data, decode_records=decode_records
                    )
                except UISError as exc:
                    self._record_limits(exc.limits)
                    failure = exc
                else:
                    self._record_limits(result_metadata(result).get("limits"), weight)
                    with self._lock:
                        self.window.on_success()
                    return result
            finally:
                self._release(weight)
            if isinstance(failure, UISRateLimitError) and failure.limit_type != "day":
                wait = self._refused(failure, weight)
                late = self._past_deadline(method, wait)
                if late is not None:
                    raise late from failure
                self._count(refusals=1, budget_waited=wait)
                yield Sleep(
                    wait, f"the minute point budget refused {method} (shared with other calls); waiting {wait:.1f} s"
                )
                continue
            if isinstance(failure, UISAuthError):
                if self.settings.uses_session and relogins < MAX_RELOGINS:
                    relogins += 1
                    self._drop_token(token)
                    continue
                raise failure
            if not self.policy.should_retry(failure, attempt):
                raise failure
            delay = self.policy.delay(failure, attempt)
            attempt += 1
            self._count(retries=1, waited=delay)
            cause = failure.mnemonic or failure.message
            yield Sleep(delay, f"retry {attempt}/{self.policy.max_retries} of {method} after {cause}")

    def _drop_token(self, token: str | None) -> None:
        """Forget a session token the API refused, unless another call already replaced it by a fresh one."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _login(self) -> Generator[Effect, Reply | None, None]:
        """Start a ``login.user`` session (transient failures retried like any call)."""
        request_id = new_request_id()
        attempt = 0
        while True:
            body = build_request(
                "login.user", {"login": self.settings.login, "password": self.settings.secret}, request_id
            )
            reply = yield Send("login.user", body, self.settings.timeout)
            try:
                result = self._parse("login.user", request_id, reply)
            except UISAuthError:
                raise
            except UISRateLimitError as exc:
                if exc.limit_type == "day":
                    raise
                # a minute refusal is back-pressure here too: waited out, no retry used up
                wait = self._refused(exc, 0)
                late = self._past_deadline("login.user", wait)
                if late is not None:
                    raise late from exc
                self._count(refusals=1, budget_waited=wait)
                yield Sleep(wait, f"the minute point budget refused login.user; waiting {wait:.1f} s")
                continue
            except UISError as exc:
                if not self.policy.should_retry(exc, attempt):
                    raise
                delay = self.policy.delay(exc, attempt)
                attempt += 1
                self._count(retries=1)
                yield Sleep(
                    delay,
                    f"retry {attempt}/{self.policy.max_retries} of login.user after {exc.mnemonic or exc.message}",
                )
                continue
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
            return

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
        if reply is not None and reply.failure is not None and self.settings.endpoint_note:
            reply = replace(reply, failure=f"{reply.failure} ({self.settings.endpoint_note})")
        try:
            return _parse_reply(method, request_id, reply, defer_data, decode_records)
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


def _booked_by_calls_in_flight(reading: RateLimits, weight: int) -> bool:
    """True when the reading itself still has ``weight`` points left: only calls in flight hold the budget."""
    return reading.minute_remaining is not None and reading.minute_remaining >= weight


def _fresher(current: RateLimits | None, reading: RateLimits) -> RateLimits:
    """The reading to pace by when answers of concurrent calls arrive out of order.

    Within one minute window the budget only shrinks, so the lower ``minute_remaining`` is the newer truth; a
    reading taken after the current window's reset starts a new window.
    """
    if current is None or current.minute_remaining is None or reading.minute_remaining is None:
        return reading
    if current.minute_reset is None or reading.taken_at >= current.taken_at + current.minute_reset:
        return reading
    newer = reading if reading.minute_remaining <= current.minute_remaining else current
    if reading.minute_reset is None:
        return newer
    # resets come in whole seconds, rounded up: of two readings of one window, the earlier end is the closer one
    end = min(current.taken_at + current.minute_reset, reading.taken_at + reading.minute_reset)
    return replace(newer, minute_reset=max(0.0, end - newer.taken_at))


def _parse_reply(
    method: str,
    request_id: str,
    reply: Reply | None,
    defer_data: bool = False,
    decode_records: RecordsDecoder | None = None,
) -> dict[str, Any]:
    if reply is None:
        raise UISTransportError("the transport returned no reply", method=method)
    if reply.failure is not None:
        raise UISTransportError(reply.failure, method=method, retryable=not reply.permanent)
    return parse_response(
        method, request_id, reply.status, reply.body, defer_data=defer_data, decode_records=decode_records
    )
