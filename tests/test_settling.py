"""Settling on its own: the ``on_pending`` choices and their timings, and the wait for uploads to settle."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.upload_status import NothingPending, Outcome, UploadsPending
from uis_provider.settling import (
    pending_timeout_seconds,
    poll_interval_seconds,
    validate_on_pending,
    wait_until_settled,
)


def test_on_pending_takes_one_of_its_three_choices_and_names_them_otherwise() -> None:
    assert [validate_on_pending(choice) for choice in ("land", "wait", "fail")] == ["land", "wait", "fail"]
    with pytest.raises(UISConfigurationError) as refused:
        validate_on_pending("skip")
    assert refused.value.message == (
        "on_pending must be one of 'land', 'wait', 'fail' (what to do with uploads still 'new' or 'in_process' "
        "when the window is extracted), got 'skip'"
    )


def test_the_wait_timings_take_seconds_or_a_timedelta_and_name_the_parameter() -> None:
    assert pending_timeout_seconds(timedelta(minutes=2)) == 120.0
    assert poll_interval_seconds(30) == 30.0
    with pytest.raises(UISConfigurationError, match=r"pending_poll_interval must be a number of seconds > 0"):
        poll_interval_seconds(0)


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def hook_answering(*outcomes: Outcome) -> Any:
    """A hook whose checks answer ``outcomes`` in turn (the last one repeated)."""
    answers = list(outcomes)
    return SimpleNamespace(session=None, run=lambda flow: answers.pop(0) if len(answers) > 1 else answers[0])


PENDING = UploadsPending(3, "3 uploads still pending")


def test_the_wait_ends_as_soon_as_nothing_is_pending() -> None:
    fake = FakeTime()
    hook = hook_answering(PENDING, PENDING, NothingPending())
    result = wait_until_settled(hook, None, timeout=600, poll_interval=60, sleep=fake.sleep, clock=lambda: fake.now)  # type: ignore[arg-type]
    assert (result.pending, result.checks, result.waited) == (0, 3, 120.0)
    assert fake.sleeps == [60, 60]


def test_the_wait_gives_up_at_its_timeout_with_what_is_still_pending() -> None:
    fake = FakeTime()
    result = wait_until_settled(
        hook_answering(PENDING),
        None,
        timeout=150,
        poll_interval=60,
        sleep=fake.sleep,
        clock=lambda: fake.now,  # type: ignore[arg-type]
    )
    assert (result.pending, result.checks, result.waited) == (3, 4, 150.0)
    assert fake.sleeps == [60, 60, 30], "the last sleep is cut to the timeout"
