from __future__ import annotations

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol import paging
from uis_provider.protocol.limits import RateLimits, method_weight


@pytest.mark.parametrize(
    ("total", "size", "offsets"),
    [
        (0, 10_000, []),
        (1, 10_000, []),
        (10_000, 10_000, []),
        (10_001, 10_000, [10_000]),
        (25_000, 10_000, [10_000, 20_000]),
        (2_500, 1_000, [1_000, 2_000]),
    ],
)
def test_no_extra_empty_page(total: int, size: int, offsets: list[int]) -> None:
    assert list(paging.remaining_offsets(total, size)) == offsets
    assert paging.page_count(total, size) == 1 + len(offsets)


def test_reach_of_offset_paging() -> None:
    assert paging.reachable_rows(10_000) == 110_000
    assert paging.is_pageable(110_000, 10_000)
    assert not paging.is_pageable(110_001, 10_000)
    assert paging.reachable_rows(3_000) == 102_000


@pytest.mark.parametrize("bad", [0, -1, 10_001, 2.5, "100", True, None])
def test_page_size_validation(bad: object) -> None:
    with pytest.raises(UISConfigurationError, match="page_size"):
        paging.validate_page_size(bad)


def test_pacing_uses_minute_remaining_and_reset() -> None:
    reading = RateLimits.parse({"minute_limit": 150, "minute_remaining": 0, "minute_reset": 12}, taken_at=100.0)
    assert reading is not None
    assert reading.wait_before(1, now=100.0) == 12
    assert reading.wait_before(1, now=105.0) == 7
    assert reading.wait_before(1, now=200.0) == 0
    plenty = RateLimits.parse({"minute_limit": 150, "minute_remaining": 4, "minute_reset": 12}, taken_at=0.0)
    assert plenty is not None
    assert plenty.wait_before(method_weight("get.uploaded_calls"), now=0.0) == 0
    # upload.calls weighs 5 points: 4 remaining is not enough
    assert plenty.wait_before(method_weight("upload.calls"), now=0.0) == 12
    assert RateLimits.parse({}, 0.0) is None
    strings = RateLimits.parse({"minute_remaining": "0", "minute_reset": "3"}, taken_at=0.0)
    assert strings is not None and strings.wait_before(1, 0.0) == 3
