"""Which failures are retried, after how long, and the policy's own validation."""

from __future__ import annotations

from typing import Any

import pytest

from uis_provider.exceptions import (
    UISAuthError,
    UISConfigurationError,
    UISInvalidParamsError,
    UISRateLimitError,
    UISServerError,
    UISTransportError,
)
from uis_provider.protocol.retry import RetryPolicy


def test_transient_failures_are_retried_up_to_max_retries_and_caller_errors_never() -> None:
    policy = RetryPolicy(max_retries=2)
    server = UISServerError("boom", mnemonic="internal_error")
    assert policy.should_retry(server, 0) and policy.should_retry(server, 1)
    assert not policy.should_retry(server, 2)
    assert policy.should_retry(UISTransportError("timed out"), 0)
    assert not policy.should_retry(UISTransportError("does not resolve", retryable=False), 0)
    for error in (UISInvalidParamsError("bad", field="limit"), UISAuthError("no", mnemonic="auth_error")):
        assert not policy.should_retry(error, 0)
    day = UISRateLimitError("used up", mnemonic="limit_exceeded", params={"limit_type": "day"})
    assert not policy.should_retry(day, 0), "a day budget does not refill in time"
    assert not RetryPolicy(max_retries=0).should_retry(server, 0)


def test_backoff_doubles_up_to_its_cap_and_a_rate_limit_waits_for_its_reset() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0, limit_margin=0.25)
    server = UISServerError("boom")
    assert [policy.delay(server, attempt) for attempt in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    minute = {"mnemonic": "limit_exceeded", "params": {"limit_type": "minute"}}
    assert policy.delay(UISRateLimitError("x", limits={"minute_reset": 7}, **minute), 0) == 7.25
    assert policy.delay(UISRateLimitError("x", **minute), 3) == 60.25, "a minute when the reset is not said"


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_retries", -1), ("max_retries", 1.5), ("max_retries", True), ("backoff_base", -0.1), ("backoff_max", "2"),
     ("limit_margin", float("inf")), ("backoff_base", False)],
)  # fmt: skip
def test_a_policy_outside_its_ranges_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(UISConfigurationError, match=f"RetryPolicy {field} must be"):
        RetryPolicy(**{field: value})
