"""Sharing one account's point budget with calls the client cannot see (other tasks, other workers).

The only signal all of them share is ``metadata.limits`` in every answer. A per-minute refusal is back-pressure:
the caller waits for the reset, spread by jitter over the reset period so that waiting clients do not all wake at
the same instant, and halves how many pages it keeps in flight (AIMD). What bounds the waiting is a deadline, never
the retries meant for transient failures. Sans-IO: the clock and the random source are passed in.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.limits import RateLimits

#: How long a task may wait on the minute budget in all, unless its ``execution_timeout`` ends sooner (6 hours).
DEFAULT_BUDGET_TIMEOUT = 6 * 3600.0
#: A deadline taken from ``execution_timeout`` ends this share of it early (at most a minute), so the task fails with
#: an error that names the budget rather than being killed by Airflow's timeout.
EXECUTION_TIMEOUT_MARGIN = 0.05
#: The most clients a share estimate assumes (a bound on how rarely a client probes the budget).
MAX_SHARERS = 1024.0
#: Share of the reset period a wait for the minute budget is spread over, beyond the reset itself.
DEFAULT_JITTER = 1.0
#: Share of its period a budget must have run before a reading's count of the others' spending is taken at its word.
EARLY_SHARE = 0.25
#: Share of the budget a client aims its calls at: the rest absorbs what the others' calls in flight spend meanwhile,
#: so that clients acting on the same old reading do not overrun it together.
TARGET_USE = 0.8
#: Calls a first wave of tasks may have in flight at once. Until a client has seen the budget reset, it takes a
#: reading with fewer calls left than this as a sign that others may have calls in flight that it cannot see yet.
FIRST_WAVE_CALLS = 64
#: How long a call waits before it looks again when other calls' answers or another call's login hold it back.
CONCURRENCY_POLL = 0.05
#: How finely ``minute_reset`` tells when the budget refills (whole seconds, rounded up): readings of one period
#: put its end up to this much apart.
RESET_GRAIN = 1.0
#: Seconds a budget refused without saying when it refills is taken to need (one minute).
UNKNOWN_RESET = 60.0


def budget_timeout_seconds(value: Any, parameter: str = "budget_timeout") -> float:
    """``value`` (seconds or a ``timedelta``) as a number of seconds > 0, else an error naming ``parameter``."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise UISConfigurationError(
            f"{parameter} must be a number of seconds > 0 or a timedelta (how long the task may wait for the "
            f"shared minute point budget), got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class BudgetDeadline:
    """The clock time after which no call waits for the minute budget any more, and the setting that chose it."""

    at: float
    name: str

    @classmethod
    def after(cls, seconds: float, now: float, name: str = "budget_timeout") -> BudgetDeadline:
        """A deadline ``seconds`` from ``now``, named after the setting that gave it."""
        return cls(now + seconds, f"{name}={seconds:g} s")

    @classmethod
    def for_task(cls, budget_timeout: Any, execution_timeout: timedelta | None, now: float) -> BudgetDeadline:
        """``budget_timeout`` from ``now``, or the task's ``execution_timeout`` (less a margin) when that is sooner."""
        seconds = budget_timeout_seconds(budget_timeout)
        if execution_timeout is not None:
            total = execution_timeout.total_seconds()
            capped = total - min(60.0, total * EXECUTION_TIMEOUT_MARGIN)
            if capped < seconds:
                return cls(now + capped, f"the task's execution_timeout of {total:g} s (less {total - capped:g} s)")
        return cls.after(seconds, now)

    def allows(self, wait: float, now: float) -> bool:
        """True when a wait of ``wait`` seconds from ``now`` ends before the deadline."""
        return now + wait <= self.at


def spread_wait(reset: float, period: float, rng: random.Random, jitter: float = DEFAULT_JITTER) -> float:
    """Seconds to wait for a budget that refills in ``reset``: the reset plus a random share of ``period``.

    Clients that were refused together then come back one after another over the next period, instead of all at
    the instant of the reset, where they would collide again.
    """
    return max(0.0, reset) + rng.uniform(0.0, max(0.0, period) * jitter)


class InFlightWindow:
    """How many calls one client keeps in flight: additive increase on success, multiplicative decrease on refusal.

    The window starts at its ``ceiling``: a query's first page goes alone anyway (it says how many follow), and by
    the time the others may go, its answer has read the budget, so the gate (:class:`BudgetGate`) admits only what
    the budget and this client's share of it allow. The window halves (down to one) on a refusal, at most once per
    ``hold`` seconds (the calls refused together are one signal), and grows back by one for every ``size`` answered
    calls (one per round of the window), up to the ceiling.
    ``backoff`` is how many reset periods the next wait spreads over: it doubles with each refusal in a row (up to
    ``max_backoff``), so clients that keep colliding come back less often, and drops to one on success.
    """

    def __init__(self, ceiling: int, *, hold: float = 1.0, max_backoff: float = 2.0) -> None:
        self.ceiling = max(1, ceiling)
        self.size = float(self.ceiling)
        self.hold = hold
        self.max_backoff = max_backoff
        self.backoff = 1.0
        self._last_decrease: float | None = None

    @property
    def allowed(self) -> int:
        """Calls that may be in flight now (at least one)."""
        return max(1, int(self.size))

    def on_success(self) -> None:
        """An answered call: grow by ``1/size`` (one call per round), up to the ceiling."""
        self.size = min(float(self.ceiling), self.size + 1.0 / self.size)
        self.backoff = 1.0

    def on_refusal(self, now: float) -> bool:
        """A refused call: halve the window, unless it was halved less than ``hold`` seconds ago. True if halved."""
        if self._last_decrease is not None and now - self._last_decrease < self.hold:
            return False
        self.backoff = min(self.max_backoff, self.backoff * 2.0)
        self._last_decrease = now
        self.size = max(1.0, self.size / 2.0)
        return True


class BudgetShare:
    """How many clients this one shares the minute budget with, estimated from the budget's own readings.

    Within one budget period, every answer says how much of the budget is gone; the points this client spent are
    known. Their ratio estimates the clients drawing on it at the same pace (one when it is alone). Only what is spent
    while this client runs counts: in the period it starts in, the points gone by its first answer (but its own) are
    the past, spent by clients that may be done (the task before it in the same minute), not a crowd. When the points
    left are fewer than that many calls, each client goes ahead with probability ``left / sharers`` calls and
    otherwise waits for the reset: about as many calls go out as the budget has left, instead of every client
    spending the same last points at once and all but a few being refused. A reading is already old when it is
    acted on: :meth:`points_left` takes off what the others spend meanwhile, at the pace they spent the period so far.

    Three rules keep clients that cannot see each other's calls in flight from overrunning the budget together: a
    client takes no more than its share of a period (:meth:`over_share`), aims at :data:`TARGET_USE` of what is left
    (:meth:`go_ahead`), and until it has seen one reset, holds back after its first answer when the budget is
    scarce (:meth:`holds_back`).
    """

    def __init__(self) -> None:
        self._others_rate = 0.0
        self._current = 1.0
        self._previous = 1.0
        self._spent = 0
        self._period_end: float | None = None
        self._last_remaining: float | None = None
        self._seen_reset = False
        self._others_spent = 0.0
        self._age = 0.0
        self._period = 0.0
        self._before = 0.0
        self._arrived: float | None = None

    @property
    def sharers(self) -> float:
        """Clients drawing on the budget: this period's estimate, or the last period's when that was higher (an
        answer early in a period has seen little of the others' spending yet). After the first reset, this period's
        estimate alone counts once the period has run :data:`EARLY_SHARE` of its length, or while no other client has
        spent in it yet (the others of the last period are gone or still waiting for their turn)."""
        if self._seen_reset and (self._others_spent == 0 or self._age >= EARLY_SHARE * self._period):
            return self._current
        return max(self._current, self._previous)

    def crowding(self, limit: float | None) -> float:
        """How much of the budget's period the clients sharing it need, at one call each (at most all of it).

        Waits are spread over this share of the period: a few clients fit in its first moments, while as many
        clients as the budget has calls need the whole period to come back one after another.
        """
        if not limit:
            return 1.0
        return min(1.0, self.sharers / limit)

    def on_answer(self, reading: RateLimits, weight: int, period: float = 0.0, in_flight: float = 0.0) -> None:
        """A call of ``weight`` points was answered with ``reading``; ``period`` is the budget's (longest reset).

        ``in_flight`` is the points of this client's other calls still unanswered: the budget may have charged them
        already, so the reading's count of the others' spending leaves them out.
        """
        limit, remaining, reset = reading.minute_limit, reading.minute_remaining, reading.minute_reset
        if limit is None or remaining is None or reset is None:
            return
        used = limit - remaining
        end = reading.taken_at + reset
        if self._period_end is None or reading.taken_at >= self._period_end or self._refilled(remaining, end):
            self._start_period(reading.taken_at, end, others_before=used - weight - in_flight)
        if self._last_remaining is None or remaining < self._last_remaining:
            self._last_remaining = remaining  # the fewest left this period: answers come out of order
        self._spent += weight
        self._others_spent = max(0.0, used - self._before - self._spent - in_flight)
        self._estimate(reading.taken_at, limit, reset, max(period, reset))

    def _refilled(self, remaining: float, end: float) -> bool:
        """More left than the last reading said, and an ``end`` a second or more later (``minute_reset`` is whole
        seconds): the budget refilled. More left alone is an answer charged before the last one but read after it."""
        if self._last_remaining is None or self._period_end is None:
            return False
        return remaining > self._last_remaining and end >= self._period_end + RESET_GRAIN

    def _start_period(self, taken_at: float, end: float, others_before: float) -> None:
        """A budget period ending at ``end`` begins with a reading taken at ``taken_at``. In the first one,
        ``others_before`` (the points gone by this client's first answer but its own calls) were spent before it ran,
        so they are not counted as a crowd."""
        first = self._period_end is None
        self._seen_reset = not first
        self._previous = self._current
        self._spent = 0
        self._last_remaining = None
        self._period_end = end
        self._before = max(0.0, others_before) if first else 0.0
        self._arrived = taken_at if first else None

    def _estimate(self, taken_at: float, limit: float, reset: float, period: float) -> None:
        """This period's sharers and the others' pace, from what was spent since this client ran."""
        counted = self._spent + self._others_spent  # spent in this period since this client ran
        self._period, self._age = period, period - reset
        running = self._age if self._arrived is None else taken_at - self._arrived
        opened = max(EARLY_SHARE * period, running)  # seconds the others' spending counted here took, roughly
        self._others_rate = self._others_spent / opened if opened > 0 else 0.0
        self._current = counted / self._spent
        if not self._seen_reset:
            # a first wave's calls land together: what the period will have spent at their pace (never more than
            # the budget) counts the others whose calls are still in flight
            projected = min(limit - self._before, counted + self._others_rate * reset)
            self._current = max(self._current, projected / self._spent)

    def points_left(self, reading: RateLimits, now: float) -> float | None:
        """The points ``reading`` said were left, less what the other clients have likely spent since."""
        if reading.minute_remaining is None:
            return None
        return reading.minute_remaining - self._others_rate * max(0.0, now - reading.taken_at)

    def on_refusal(self, reading: RateLimits | None = None, weight: int = 1) -> None:
        """A call was refused: more clients want the budget than the estimate says; double it.

        Readings cannot count past the budget's own size, so only refusals tell that more clients than the budget has
        calls a period are waiting; the estimate may then exceed the limit, and clients sit whole periods out. The
        refusal's ``reading`` also bounds it from below: the others spent the budget but for this client's own calls
        of the period (of ``weight`` points each).
        """
        estimate = self._current * 2.0
        if reading is not None and reading.minute_limit:
            fresh = self._period_end is None or reading.taken_at >= self._period_end
            own = 0 if fresh else self._spent
            estimate = max(estimate, reading.minute_limit / max(own, weight))
        self._current = min(MAX_SHARERS, estimate)

    def over_share(self, reading: RateLimits, weight: int, in_flight: float = 0.0) -> bool:
        """True when one more call of ``weight`` points would take this client past its share of this period.

        Its share is the budget over the clients sharing it. The others, still waiting for their turn in this period,
        cannot be seen in any reading until they spend: a client that took more than its share would leave them a
        budget already gone.
        """
        if reading.minute_limit is None or weight <= 0:
            return False
        return self._spent + in_flight + weight > reading.minute_limit / self.sharers

    def holds_back(self, reading: RateLimits, weight: int) -> bool:
        """True when this client should send no more calls until the budget resets.

        Until a client has seen one reset, it cannot tell being alone from being the first of a wave whose calls are
        still in flight: its first answer shows little of the budget gone either way. When that reading leaves fewer
        calls than a first wave may hold, it waits for the reset (one period at most) rather than spend points the
        others' calls have likely taken already.
        """
        if self._seen_reset or self._spent == 0 or reading.minute_remaining is None or weight <= 0:
            return False
        return reading.minute_remaining / weight < FIRST_WAVE_CALLS

    def on_period_left(self) -> None:
        """This client let a whole period go: halve the estimate, so that it does not sit out for good once the
        others are done (only answers and refusals would correct it otherwise)."""
        self._current = max(1.0, self._current / 2.0)
        self._previous = max(1.0, self._previous / 2.0)

    def go_ahead(self, points_left: float | None, weight: int, rng: random.Random) -> bool:
        """True when a call of ``weight`` points may go now, with ``points_left`` in the budget as last read.

        A client that shares the budget aims at its share of :data:`TARGET_USE` of what is left, so that calls sent on
        the same old reading by several clients rarely add up to more than the budget has.
        """
        if points_left is None or weight <= 0:
            return True
        sharers = self.sharers
        aim = 1.0 if sharers <= 1 else TARGET_USE  # alone, no call of another can overrun the budget
        calls_left = aim * points_left / weight / sharers
        return calls_left >= 1 or rng.random() < calls_left


@dataclass(frozen=True)
class BudgetWait:
    """How long a call must wait before the minute budget admits it, and why (for the log)."""

    seconds: float
    reason: str

    @property
    def quiet(self) -> bool:
        """A short poll for another call of the same client, logged at DEBUG rather than INFO."""
        return self.seconds <= CONCURRENCY_POLL


class BudgetGate:
    """Admission of one client's calls to the minute point budget, from the readings of their answers.

    A call goes only while the budget has points left beyond those of the calls in flight, and only its share of
    them (:class:`BudgetShare`); otherwise :meth:`admit` says how long to wait. A refusal halves the in-flight
    ``window`` and is waited out for the reset, spread by jitter over the budget's ``period``. Thread-safe: the
    calls of one session may run on several threads. Sans-IO: the caller passes the time, the random source is given.
    """

    def __init__(self, in_flight: int = 1, rng: random.Random | None = None) -> None:
        #: The reading to pace by (see :func:`reading_to_pace_by`), ``None`` before the first answer.
        self.limits: RateLimits | None = None
        #: Pages a paginator may keep in flight: AIMD between 1 and ``in_flight`` on the minute budget's refusals.
        self.window = InFlightWindow(in_flight)
        #: How many clients draw on the same minute budget, estimated from its readings.
        self.share = BudgetShare()
        #: The longest ``minute_reset`` read so far: the length of the budget's period, over which waits spread.
        self.period = 0.0
        #: Points booked by calls admitted and not yet answered.
        self.in_flight_points = 0
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def admit(self, weight: int, now: float) -> BudgetWait | None:
        """Book ``weight`` points for a call about to be sent (``None``), or say how long to wait first."""
        if weight <= 0:
            return None
        with self._lock:
            reading = self.limits
            if reading is not None:
                wait = self._hold_back(reading, weight, now)
                if wait is not None:
                    return wait
            self.in_flight_points += weight
            return None

    def _hold_back(self, reading: RateLimits, weight: int, now: float) -> BudgetWait | None:
        """Why a call of ``weight`` points may not go yet by ``reading``, or ``None`` when it may."""
        if reading.minute_expired(now):
            return self._after_reset(reading, weight)
        wait = reading.wait_before(weight + self.in_flight_points, now)
        if wait <= 0:
            return self._leave_to_others(reading, weight, now)
        if self.in_flight_points and _booked_by_calls_in_flight(reading, weight):
            return BudgetWait(CONCURRENCY_POLL, "the minute point budget left is booked by calls in flight; waiting")
        wait = self._spread(wait)
        return BudgetWait(wait, f"minute point budget used up; waiting {wait:.1f} s for it to reset")

    def _after_reset(self, reading: RateLimits, weight: int) -> BudgetWait | None:
        """Once the budget read has reset: one call probes it while the others wait, or this client sits a period out
        when more clients share the budget than it has calls a period."""
        if self.in_flight_points:
            return BudgetWait(CONCURRENCY_POLL, "the minute point budget has reset; one call probes it first")
        if self.share.go_ahead(reading.minute_limit, weight, self._rng):
            return None
        period = self.period or reading.minute_reset or UNKNOWN_RESET
        wait = spread_wait(period, period, self._rng)
        self.share.on_period_left()
        return BudgetWait(
            wait,
            f"leaving this period of the minute point budget to the ~{self.share.sharers:.0f} clients sharing it; "
            f"waiting {wait:.1f} s",
        )

    def _leave_to_others(self, reading: RateLimits, weight: int, now: float) -> BudgetWait | None:
        """When about as many clients go on as the budget has calls left: this one waits for the reset."""
        left = self.share.points_left(reading, now)
        if left is None:
            return None
        first_wave = self.share.holds_back(reading, weight)
        if not (
            first_wave
            or self.share.over_share(reading, weight, self.in_flight_points)
            or not self.share.go_ahead(left - self.in_flight_points, weight, self._rng)
        ):
            return None
        wait = self._spread(max(0.0, reading.taken_at + (reading.minute_reset or 0.0) - now))
        if first_wave:
            return BudgetWait(
                wait,
                f"the minute point budget has {max(0.0, left):.0f} point(s) left, fewer than a first wave of tasks "
                f"may be spending at once; waiting {wait:.1f} s for it to reset",
            )
        return BudgetWait(
            wait,
            f"leaving the minute point budget's last {max(0.0, left):.0f} point(s) to the ~{self.share.sharers:.0f} "
            f"clients sharing it; waiting {wait:.1f} s for it to reset",
        )

    def release(self, weight: int) -> None:
        """The call that booked ``weight`` points was answered, failed or was cancelled."""
        if weight <= 0:
            return
        with self._lock:
            self.in_flight_points -= weight

    def on_answer(self, reading: RateLimits | None, spent: int = 0) -> None:
        """Keep the reading of an answer; ``spent`` is the points the answered call cost (0 when refused)."""
        if reading is None:
            return
        with self._lock:
            self.limits = reading_to_pace_by(self.limits, reading)
            if reading.minute_reset is not None:
                self.period = max(self.period, reading.minute_reset)
            if spent:
                self.share.on_answer(reading, spent, self.period, in_flight=max(0, self.in_flight_points - spent))

    def on_success(self) -> None:
        """An answered call: the in-flight window grows."""
        with self._lock:
            self.window.on_success()

    def on_refusal(
        self, reset: float | None, reading: RateLimits | None, weight: int, now: float, margin: float
    ) -> float:
        """Take a per-minute refusal as back-pressure: halve the window; the seconds to wait before trying again.

        ``reset`` is what the refusal said about the budget's refill, ``reading`` its own ``metadata.limits``; the
        wait lasts until the closer of that refill and the one known from earlier readings, plus ``margin``.
        """
        with self._lock:
            known = self.limits  # the refusal's own reading, merged with the others of its window
            if known is not None and known.minute_reset is not None and not known.minute_expired(now):
                reset = min(reset if reset is not None else math.inf, known.taken_at + known.minute_reset - now)
            wait = self._spread((reset if reset is not None else UNKNOWN_RESET) + margin)
            self.window.on_refusal(now)
            self.share.on_refusal(reading, weight)
        return wait

    def affordable(self, weight: int, now: float) -> int | None:
        """Calls of ``weight`` points the last reading's minute and day budgets allow beyond the calls in flight.

        ``None`` when nothing bounds them: no reading yet, or a free method. Of the minute budget, only this client's
        share; once it has reset, one call (the probe that reads it again).
        """
        with self._lock:
            reading = self.limits
            if reading is None or weight <= 0:
                return None
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
            return max(0, int((min(left) - self.in_flight_points) // weight))

    def _spread(self, wait: float) -> float:
        """``wait`` for the reset plus jitter over the budget's period (the wait itself while none is known),
        stretched over more periods after refusals in a row (called with the lock held)."""
        return spread_wait(wait, self.period or wait, self._rng, self._periods_to_spread_over())

    def _periods_to_spread_over(self) -> float:
        """Periods a wait spreads over: more after refusals in a row, fewer while the clients sharing the budget are
        fewer than its calls (called with the lock held)."""
        limit = self.limits.minute_limit if self.limits is not None else None
        return self.window.backoff * self.share.crowding(limit)


def _booked_by_calls_in_flight(reading: RateLimits, weight: int) -> bool:
    """True when the reading itself still has ``weight`` points left: only calls in flight hold the budget."""
    return reading.minute_remaining is not None and reading.minute_remaining >= weight


def reading_to_pace_by(current: RateLimits | None, reading: RateLimits) -> RateLimits:
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
