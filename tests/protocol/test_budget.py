"""The sans-IO budget core: AIMD window, jittered waits, the share estimate, the deadline, and a session's flow
through per-minute refusals (back-pressure, not retries) and the day limit, driven without any I/O."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest

from tests.protocol.flows import Clock, answer, drive, session
from uis_provider.exceptions import UISConfigurationError, UISRateLimitError
from uis_provider.protocol.auth import settings_for
from uis_provider.protocol.budget import (
    CONCURRENCY_POLL,
    DEFAULT_BUDGET_TIMEOUT,
    BudgetDeadline,
    BudgetGate,
    BudgetShare,
    BudgetWait,
    InFlightWindow,
    budget_timeout_seconds,
    reading_to_pace_by,
    spread_wait,
)
from uis_provider.protocol.limits import RateLimits
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Reply, Send, Sleep, UISSession

# -- AIMD -------------------------------------------------------------------------------------------------------


def test_window_starts_at_its_ceiling_and_after_a_refusal_grows_back_by_one_per_round() -> None:
    window = InFlightWindow(8, hold=0.0)
    assert window.allowed == 8, "a query's first page goes alone: the gate reads the budget before the rest go"
    window.on_success()
    assert window.allowed == 8, "never above its ceiling"
    assert window.on_refusal(now=1.0) and window.allowed == 4
    sizes = [window.allowed]
    for _ in range(30):
        window.on_success()
        sizes.append(window.allowed)
    assert sizes == sorted(sizes), "it never shrinks on success"
    assert sizes[-1] == 8
    # additive: about one more call per round of answers, so each step takes as many answers as the window holds
    assert 4 <= sizes.index(5) <= 5 and 5 <= sizes.index(6) - sizes.index(5) <= 6, sizes


def test_window_halves_on_a_refusal_once_per_hold_and_never_below_one() -> None:
    window = InFlightWindow(8, hold=1.0)
    for _ in range(40):
        window.on_success()
    assert window.allowed == 8
    assert window.on_refusal(now=10.0) and window.allowed == 4
    assert not window.on_refusal(now=10.5) and window.allowed == 4, "refusals of one burst are one signal"
    assert window.on_refusal(now=11.0) and window.allowed == 2
    for now in (12.0, 13.0, 14.0, 15.0):
        window.on_refusal(now)
    assert window.allowed == 1


def test_refusals_in_a_row_stretch_the_backoff_and_a_success_resets_it() -> None:
    window = InFlightWindow(4, hold=0.0, max_backoff=4.0)
    assert window.backoff == 1.0
    for now in range(5):
        window.on_refusal(float(now))
    assert window.backoff == 4.0
    window.on_success()
    assert window.backoff == 1.0


# -- jitter -----------------------------------------------------------------------------------------------------


def test_waits_spread_over_the_reset_period_instead_of_waking_together() -> None:
    rng = random.Random(7)
    waits = [spread_wait(3.0, 4.0, rng) for _ in range(200)]
    assert all(3.0 <= wait <= 7.0 for wait in waits), "never before the reset, never past one more period"
    # spread over the period: both halves of it are used, and hardly any two clients wake at the same instant
    assert min(waits) < 4.0 and max(waits) > 6.0
    assert len({round(wait, 3) for wait in waits}) > 190
    stretched = [spread_wait(3.0, 4.0, rng, jitter=2.0) for _ in range(200)]
    assert max(stretched) > 7.0 and all(wait <= 11.0 for wait in stretched)


# -- the share estimate ------------------------------------------------------------------------------------------


def reading(remaining: int, *, at: float, reset: float = 4.0, limit: int = 12) -> RateLimits:
    return RateLimits(taken_at=at, minute_limit=limit, minute_remaining=remaining, minute_reset=reset)


def test_a_client_alone_estimates_one_sharer_and_always_goes_ahead() -> None:
    share = BudgetShare()
    for spent in range(1, 12):
        share.on_answer(reading(12 - spent, at=spent * 0.1), 1)
        assert share.sharers == 1.0
    rng = random.Random(1)
    assert all(share.go_ahead(1, 1, rng) for _ in range(100))


def after_one_reset(share: BudgetShare) -> None:
    """A first period (0-4 s) where this client spent alone, so that the next readings are taken at their word."""
    share.on_answer(reading(11, at=0.0), 1)


def test_others_spending_the_budget_raise_the_estimate_and_thin_out_the_last_calls() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(8, at=5.5, reset=2.5), 1)  # one call of ours, four points gone: about four clients
    assert share.sharers == 4.0
    rng = random.Random(3)
    assert all(share.go_ahead(8, 1, rng) for _ in range(100)), "two calls each are left: go"
    goes = sum(share.go_ahead(2, 1, rng) for _ in range(4000))
    assert 1400 < goes < 1800, "half a call each is left: 80 % of half of the clients go (the aim is 80 %)"
    assert not any(share.go_ahead(0, 1, rng) for _ in range(100))


def test_a_client_takes_no_more_than_its_share_of_a_period() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(8, at=5.5, reset=2.5), 1)  # about four clients: three calls of twelve each
    now = reading(8, at=5.5, reset=2.5)
    assert not share.over_share(now, 1, in_flight=1), "one answered, one in flight, one more: three"
    assert share.over_share(now, 1, in_flight=2), "a fourth call would take a share of a client still to come"
    alone = BudgetShare()
    after_one_reset(alone)
    alone.on_answer(reading(11, at=5.5, reset=2.5), 1)
    assert not alone.over_share(reading(11, at=5.5, reset=2.5), 1, in_flight=10), "alone, the whole budget is its"


def test_a_first_wave_counts_the_calls_still_in_flight_and_holds_back_until_a_reset() -> None:
    share = BudgetShare()
    share.on_answer(reading(8, at=0.0), 1)  # 4 points gone at the first answer: the past or a burst, no telling yet
    assert share.holds_back(reading(8, at=0.0), 1), "8 calls left, fewer than a first wave may have in flight"
    share.on_answer(reading(4, at=0.1), 1)  # 3 more points of others within 0.1 s: a burst
    assert share.sharers == 4.5, "at the pace of the others since, the rest of the period goes to them"
    share.on_answer(reading(11, at=4.5), 1)  # the budget reset: from now on the readings tell
    assert not share.holds_back(reading(11, at=4.5), 1)
    plenty = BudgetShare()
    plenty.on_answer(reading(140, at=0.0, limit=150), 1)
    assert not plenty.holds_back(reading(140, at=0.0, limit=150), 1), "140 calls left: no wave can take them at once"
    assert not BudgetShare().holds_back(reading(8, at=0.0), 1), "no answer of its own yet: nothing to hold"


def test_what_was_spent_before_a_client_ran_is_not_a_crowd_it_shares_with() -> None:
    share = BudgetShare()
    # the task before this one spent 200 of 300 points of this minute and is done: the first answer shows them gone
    share.on_answer(reading(99, at=30.0, reset=30.0, limit=300), 1, period=60.0)
    assert share.sharers == 1.0
    for spent in range(2, 60):
        now = reading(100 - spent, at=30.0 + spent * 0.05, reset=30.0 - spent * 0.05, limit=300)
        share.on_answer(now, 1, period=60.0)
        assert not share.over_share(now, 1), f"alone since it ran, its call {spent} is within its share"
    assert share.sharers == 1.0
    assert share.points_left(now, now=now.taken_at + 5.0) == now.minute_remaining, "nobody else spends meanwhile"
    crowded = BudgetShare()
    crowded.on_answer(reading(99, at=30.0, reset=30.0, limit=300), 1, period=60.0)
    crowded.on_answer(reading(94, at=30.5, reset=29.5, limit=300), 1, period=60.0)  # 4 points of others meanwhile
    assert crowded.sharers >= 3.0, "the others spending since it ran count: two points of theirs for one, at least"


def test_its_own_calls_in_flight_and_answers_out_of_order_are_not_taken_for_others() -> None:
    share = BudgetShare()
    share.on_answer(reading(11, at=0.0, limit=12, reset=4.0), 1)
    # four pages of its own in flight: the budget charged all four before the first answer was read
    share.on_answer(reading(7, at=0.5, reset=4.0), 1, in_flight=3)
    assert share.sharers == 1.0, "the points of its other calls in flight are its own"
    share.on_answer(reading(9, at=0.6, reset=4.0), 1, in_flight=2)  # charged earlier, read later: no refill
    share.on_answer(reading(8, at=0.6, reset=4.0), 1, in_flight=1)
    share.on_answer(reading(7, at=0.7, reset=4.0), 1)
    assert share.sharers == 1.0
    assert not share.over_share(reading(7, at=0.7, reset=4.0), 1, in_flight=6), "alone, the whole budget is its"
    share.on_answer(reading(11, at=2.0, reset=3.0), 1)  # more left and an end a second later: the budget refilled
    share.on_answer(reading(8, at=2.1, reset=3.0), 1)  # of 4 points gone in the new period, 2 are others'
    assert share.sharers == 2.0


def test_the_client_that_opens_a_period_goes_by_it_not_by_the_crowd_of_the_last_one() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(0, at=7.9, reset=0.1), 1)  # late in the second period: the others spent the rest
    assert share.sharers == 12.0
    share.on_answer(reading(11, at=8.5), 1)  # the first call of the next period is this client's
    assert share.sharers == 1.0, "nobody else has spent yet: they are gone or waiting for their turn"
    share.on_answer(reading(8, at=8.6), 1)  # early in the period, two others spent: the last period's crowd holds
    assert share.sharers == 12.0


def test_waits_spread_over_as_much_of_the_period_as_the_sharers_need() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(8, at=5.5, reset=2.5), 1)
    assert share.crowding(12) == pytest.approx(4 / 12), "four clients fit in a third of the period"
    share.on_refusal()
    share.on_refusal()
    assert share.crowding(12) == 1.0, "sixteen clients need all of it"
    assert share.crowding(None) == 1.0


def test_a_refusal_doubles_the_estimate_past_the_limit_and_a_new_period_starts_afresh() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(9, at=5.5, reset=2.5), 1)
    assert share.sharers == 3.0
    share.on_refusal()
    assert share.sharers == 6.0
    share.on_refusal()
    assert share.sharers == 12.0
    share.on_refusal()
    assert share.sharers == 24.0, "more clients than the 12 calls a period: only refusals can tell"
    rng = random.Random(9)
    probes = sum(share.go_ahead(12, 1, rng) for _ in range(4000))
    assert 1400 < probes < 1800, "a full budget probed by 80 % of half of the clients, the rest sit the period out"
    for _ in range(20):
        share.on_refusal()
    assert share.sharers == 1024.0
    # the next period: the last period's estimate holds until this one's readings say more
    share.on_answer(reading(10, at=9.0), 1)
    assert share.sharers == 1024.0
    share.on_answer(reading(9, at=9.1), 1)
    share.on_answer(reading(11, at=13.5), 1)  # a third period, where only this client spends
    assert share.sharers == 1.0


def test_a_refusal_says_the_others_took_the_budget_but_this_clients_own_calls() -> None:
    share = BudgetShare()
    after_one_reset(share)
    share.on_answer(reading(10, at=5.5, reset=2.5), 1)  # two clients, by this client's one call
    share.on_refusal(reading(0, at=5.6, reset=2.4), 1)
    assert share.sharers == 12.0, "one call of twelve was this client's: about twelve clients want the budget"
    fresh = BudgetShare()
    fresh.on_refusal(reading(0, at=0.0), 1)
    assert fresh.sharers == 12.0, "refused before any answer: all twelve points went to others"


# -- the deadline ------------------------------------------------------------------------------------------------


def test_deadline_is_the_budget_timeout_unless_the_execution_timeout_ends_sooner() -> None:
    default = BudgetDeadline.for_task(DEFAULT_BUDGET_TIMEOUT, None, now=1000.0)
    assert default.at == 1000.0 + DEFAULT_BUDGET_TIMEOUT and "budget_timeout" in default.name
    short = BudgetDeadline.for_task(timedelta(minutes=5), timedelta(hours=1), now=0.0)
    assert short.at == 300.0 and short.name == "budget_timeout=300 s"
    capped = BudgetDeadline.for_task(DEFAULT_BUDGET_TIMEOUT, timedelta(minutes=10), now=0.0)
    assert capped.at < 600.0, "never past the task's execution_timeout"
    assert capped.at >= 540.0 and "execution_timeout of 600 s" in capped.name
    assert capped.allows(100.0, now=0.0) and not capped.allows(600.0, now=0.0)


@pytest.mark.parametrize("bad", [0, -5, "soon", None, True, float("inf"), timedelta(0)])
def test_budget_timeout_must_be_a_positive_duration(bad: Any) -> None:
    with pytest.raises(UISConfigurationError, match="budget_timeout must be a number of seconds > 0"):
        budget_timeout_seconds(bad)


def test_budget_timeout_accepts_seconds_strings_and_timedeltas() -> None:
    assert budget_timeout_seconds(90) == 90.0
    assert budget_timeout_seconds("90") == 90.0
    assert budget_timeout_seconds(timedelta(minutes=2)) == 120.0


# -- a session's flow, driven by hand ----------------------------------------------------------------------------


def test_minute_refusals_beyond_the_retries_are_waited_out_and_use_no_retry() -> None:
    clock = Clock()
    api = session(clock)
    result, effects = drive(api.call("get.uploaded_calls", {}), clock, ["minute"] * 6 + ["ok"])
    assert result["metadata"]["limits"]["minute_remaining"] == 11
    assert api.stats.refusals == 6 and api.stats.retries == 0, "six refusals, with only two retries allowed"
    sends = [effect for effect in effects if isinstance(effect, Send)]
    sleeps = [effect for effect in effects if isinstance(effect, Sleep)]
    assert len(sends) == 7
    # every wait lasts at least the reset the refusal announced, and they are not all alike (jitter)
    budget_sleeps = [sleep for sleep in sleeps if "refused" in sleep.reason]
    assert len(budget_sleeps) == 6 and all(sleep.seconds >= 4.0 for sleep in budget_sleeps)
    assert len({round(sleep.seconds, 3) for sleep in budget_sleeps}) == 6
    assert api.stats.budget_waited == pytest.approx(sum(sleep.seconds for sleep in sleeps))
    assert api.share.sharers >= 2.0, "the refusals say the budget is shared"


def test_waiting_on_the_minute_budget_stops_at_the_deadline_and_names_it() -> None:
    clock = Clock()
    api = session(clock, BudgetDeadline.after(30.0, clock.now))
    with pytest.raises(UISRateLimitError) as info:
        drive(api.call("get.uploaded_calls", {}), clock, ["minute"] * 50)
    text = str(info.value)
    assert "deadline (budget_timeout=30 s)" in text and "refused call(s)" in text
    assert info.value.limit_type == "minute"
    assert clock.now <= 1_030.0, "it never sleeps past the deadline"
    assert api.stats.refusals >= 2


def test_a_session_older_than_its_deadline_waits_again_once_its_task_or_poke_bounds_the_waits() -> None:
    clock = Clock()
    api = session(clock)  # the default deadline: 6 hours from the session's creation
    clock.now += 7 * 3600.0
    with pytest.raises(UISRateLimitError, match="budget_timeout=21600 s"):
        drive(api.call("get.uploaded_calls", {}), clock, ["minute", "ok"])
    deadline = api.bound_waits(DEFAULT_BUDGET_TIMEOUT)
    assert deadline.at == clock.now + DEFAULT_BUDGET_TIMEOUT
    result, _ = drive(api.call("get.uploaded_calls", {}), clock, ["minute", "ok"])
    assert result["metadata"]["limits"]["minute_remaining"] == 11
    capped = api.bound_waits(DEFAULT_BUDGET_TIMEOUT, timedelta(minutes=10))
    assert capped.at == clock.now + 570.0 and "execution_timeout" in capped.name


def test_the_day_limit_fails_at_once_saying_when_it_refills() -> None:
    clock = Clock()
    api = session(clock)
    with pytest.raises(UISRateLimitError) as info:
        drive(api.call("get.uploaded_calls", {}), clock, ["day"])
    assert info.value.limit_type == "day" and api.stats.refusals == 0 and api.stats.retries == 0
    assert "refills in 50000 s (about 13 h 53 min)" in str(info.value)
    needed = info.value.needing(7, "7 more page(s) of get.uploaded_calls")
    assert "this run still needed 7 point(s) (7 more page(s) of get.uploaded_calls)" in str(needed)


def test_an_old_reading_is_discounted_by_what_the_others_spend_meanwhile() -> None:
    share = BudgetShare()
    share.on_answer(reading(8, at=99.0, reset=3.0), 1, period=4.0)
    # a second call of ours a second later, and 3 more points gone: the others spend 2 points a second
    share.on_answer(reading(5, at=100.0, reset=2.0), 1, period=4.0)
    assert share.points_left(reading(5, at=100.0, reset=2.0), now=100.0) == 5.0
    assert share.points_left(reading(5, at=100.0, reset=2.0), now=101.0) == pytest.approx(3.0)
    alone = BudgetShare()
    alone.on_answer(reading(11, at=100.0, reset=4.0), 1, period=4.0)
    assert alone.points_left(reading(11, at=100.0, reset=4.0), now=103.0) == 11.0, "nobody else spends"


def test_sitting_periods_out_brings_the_estimate_back_down() -> None:
    share = BudgetShare()
    for _ in range(8):
        share.on_refusal()
    assert share.sharers == 256.0
    rounds = 0
    rng = random.Random(11)
    while not share.go_ahead(12, 1, rng):
        share.on_period_left()
        rounds += 1
    assert rounds <= 8, "a client that keeps sitting out probes again within a few periods"


def test_of_two_readings_of_one_window_the_earlier_end_is_kept() -> None:
    first = RateLimits(taken_at=100.2, minute_limit=12, minute_remaining=11, minute_reset=4.0)  # ends by 104.2
    second = RateLimits(taken_at=100.9, minute_limit=12, minute_remaining=9, minute_reset=3.0)  # ends by 103.9
    kept = reading_to_pace_by(first, second)
    assert kept.minute_remaining == 9, "the lower remaining is the newer truth"
    assert kept.taken_at + (kept.minute_reset or 0) == pytest.approx(103.9)
    late = RateLimits(taken_at=101.0, minute_limit=12, minute_remaining=8, minute_reset=4.0)  # rounded up further
    kept = reading_to_pace_by(kept, late)
    assert kept.minute_remaining == 8 and kept.taken_at + (kept.minute_reset or 0) == pytest.approx(103.9)


def test_a_minute_refusal_of_login_is_waited_out_without_using_a_retry() -> None:
    clock = Clock()
    settings = settings_for("uis_test", "http://127.0.0.1:1/v2.0", "analyst", "pa55", None)
    api = UISSession(settings, policy=RetryPolicy(max_retries=0), clock=clock, rng=random.Random(5))
    flow = api.call("get.account", {})
    effect = next(flow)
    assert isinstance(effect, Send) and effect.method == "login.user"
    effect = flow.send(answer(effect.body, {"minute_reset": 4, "minute_remaining": 0}, refused="minute"))
    assert isinstance(effect, Sleep) and effect.seconds >= 4.0 and "login.user" in effect.reason
    clock.now += effect.seconds
    effect = flow.send(None)
    assert isinstance(effect, Send) and effect.method == "login.user"
    login_id = json.loads(effect.body)["id"]
    login = {"jsonrpc": "2.0", "id": login_id, "result": {"data": {"access_token": "tok-1"}}}
    effect = flow.send(Reply(status=200, body=json.dumps(login).encode()))
    assert isinstance(effect, Send) and effect.method == "get.account"
    with pytest.raises(StopIteration):
        flow.send(answer(effect.body, {"minute_reset": 4, "minute_remaining": 5}))
    assert (api.stats.refusals, api.stats.retries, api.stats.logins) == (1, 0, 1)


# -- the gate ---------------------------------------------------------------------------------------------------


def unshared(remaining: int, *, at: float) -> RateLimits:
    """A reading without the budget's size: no share of it can be estimated, so only the points left count."""
    return RateLimits(taken_at=at, minute_remaining=remaining, minute_reset=4.0)


def test_the_gate_books_points_until_the_budget_read_is_used_up_then_says_how_long_to_wait() -> None:
    gate = BudgetGate(4, random.Random(3))
    assert gate.admit(1, now=100.0) is None, "nothing read yet: the call goes"
    gate.on_answer(unshared(3, at=100.0), spent=1)
    gate.release(1)
    assert gate.admit(1, now=100.5) is None and gate.admit(1, now=100.5) is None
    assert gate.in_flight_points == 2
    poll = gate.admit(2, now=100.5)
    assert isinstance(poll, BudgetWait) and poll.quiet, "the points left are booked by calls in flight"
    assert poll.seconds == CONCURRENCY_POLL and "booked by calls in flight" in poll.reason
    gate.release(1)
    gate.release(1)
    gate.on_answer(unshared(0, at=101.0), spent=1)
    wait = gate.admit(1, now=101.0)
    assert isinstance(wait, BudgetWait) and not wait.quiet
    assert (
        wait.seconds >= 3.0
        and wait.reason == f"minute point budget used up; waiting {wait.seconds:.1f} s for it to reset"
    )
    assert gate.in_flight_points == 0, "a call told to wait books nothing"


def test_once_the_budget_read_has_reset_one_call_probes_it_while_the_others_wait() -> None:
    gate = BudgetGate(4, random.Random(3))
    gate.on_answer(unshared(0, at=100.0), spent=1)
    assert gate.admit(1, now=104.0) is None, "the probe"
    wait = gate.admit(1, now=104.0)
    assert isinstance(wait, BudgetWait) and wait.quiet and "one call probes it first" in wait.reason
    assert gate.affordable(1, now=104.0) == 0, "the probe holds the one call a reset budget allows"
    gate.release(1)
    assert gate.affordable(1, now=104.0) == 1 and gate.affordable(0, now=104.0) is None


def test_a_refusal_halves_the_window_and_waits_past_the_closer_reset() -> None:
    gate = BudgetGate(8, random.Random(3))
    for _ in range(40):
        gate.on_success()
    gate.on_answer(reading(5, at=100.0, reset=2.0), spent=1)
    wait = gate.on_refusal(30.0, None, 1, now=100.5, margin=0.5)
    assert gate.window.allowed == 4
    assert 2.0 <= wait <= 2.0 + gate.period, "the earlier reading's reset (1.5 s) is closer than the 30 s said"
