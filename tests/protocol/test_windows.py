from __future__ import annotations

import datetime as dt
import itertools
import math

import pendulum
import pytest

from uis_provider.exceptions import UISConfigurationError, UISPagingLimitError
from uis_provider.protocol import paging
from uis_provider.protocol.windows import Window, parse_when, split_part, to_api

TZ = "Europe/Moscow"


def test_aware_range_in_account_zone() -> None:
    w = Window.build(pendulum.datetime(2026, 1, 3, 21, 0, tz="UTC"), pendulum.datetime(2026, 1, 4, 21, 0, tz="UTC"), TZ)
    assert w.api_params() == {"date_from": "2026-01-04 00:00:00", "date_till": "2026-01-05 00:00:00"}


def test_naive_and_strings_are_account_local() -> None:
    w = Window.build("2026-01-04", "2026-01-05T00:00:00", TZ)
    assert (w.api_from, w.api_till) == ("2026-01-04 00:00:00", "2026-01-05 00:00:00")
    w2 = Window.build(dt.datetime(2026, 1, 4, 12), "2026-01-04T12:00:00+00:00", TZ)
    assert w2.api_till == "2026-01-04 15:00:00"


def test_half_open_contains_at_one_second_resolution() -> None:
    w = Window.build("2026-01-04", "2026-01-05", TZ)
    assert w.contains("2026-01-04 00:00:00")
    assert w.contains("2026-01-04 23:59:59")
    assert not w.contains("2026-01-05 00:00:00")
    assert not w.contains("2026-01-03 23:59:59")
    assert not w.contains(None)


def test_fractional_seconds_round_up_so_windows_tile() -> None:
    a = Window.build("2026-01-04T00:00:00", "2026-01-04T10:00:00.250", TZ)
    b = Window.build("2026-01-04T10:00:00.250", "2026-01-05T00:00:00", TZ)
    assert a.api_till == b.api_from == "2026-01-04 10:00:01"


@pytest.mark.parametrize(
    ("date_from", "date_till", "needle"),
    [
        ("2026-01-05", "2026-01-04", "after date_till"),
        ("2026-01-05", "2026-01-05", "is empty: date_from and date_till are the same moment"),
        (
            "yesterday-ish",
            "2026-01-05",
            "date_from='yesterday-ish' is refused: it is not a date in a form this provider reads",
        ),
        ("2026-01-05", 12345, "date_till must be a datetime"),
        ("", "2026-01-05", "date_from='' is an empty string"),
    ],
)
def test_bad_windows_are_refused_clearly(date_from: object, date_till: object, needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle.replace("(", r"\(")):
        Window.build(date_from, date_till, TZ)


def test_split_days_tiles_exactly() -> None:
    w = Window.build("2025-01-01", "2025-12-31", TZ)
    parts = w.split_days(90)
    assert parts[0].start == w.start and parts[-1].end == w.end
    assert all(p.end == q.start for p, q in itertools.pairwise(parts))
    assert all((p.end - p.start).days <= 90 for p in parts)
    assert len(parts) == 5


def test_split_part_sizes_pieces_from_the_row_count() -> None:
    day = Window.build("2026-01-04", "2026-01-05", TZ)
    reach = paging.reachable_rows(10_000)
    pieces = split_part(day, 500_000, reach)
    assert len(pieces) == math.ceil(500_000 / (reach * 0.9))
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]]
    assert (pieces[0].start, pieces[-1].end) == (day.start, day.end)
    assert max(p.seconds for p in pieces) - min(p.seconds for p in pieces) <= 1
    assert len(split_part(day, None, reach)) == 2, "an unknown row count gives halves"
    odd = Window.build("2026-01-04 00:00:00", "2026-01-04 00:00:03", TZ)
    assert [p.seconds for p in split_part(odd, None, reach)] == [1, 2], "split on a whole second"
    assert len(split_part(day, reach + 1, reach)) == 2
    three = Window.build("2026-01-04 10:00:00", "2026-01-04 10:00:03", TZ)
    assert [p.seconds for p in split_part(three, 10**9, reach)] == [1, 1, 1]
    second = Window.build("2026-01-04 10:00:00", "2026-01-04 10:00:01", TZ)
    with pytest.raises(UISPagingLimitError, match=r"2026-01-04 10:00:00.*narrow the query with a filter"):
        split_part(second, 200_000, reach)


def test_dst_zone_conversion() -> None:
    # Berlin switches to summer time on 2026-03-29 at 02:00 local: UTC 01:00 -> 03:00 local
    assert to_api(pendulum.datetime(2026, 3, 29, 1, 0, tz="UTC"), "Europe/Berlin") == "2026-03-29 03:00:00"
    assert to_api(pendulum.datetime(2026, 3, 29, 0, 59, 59, tz="UTC"), "Europe/Berlin") == "2026-03-29 01:59:59"


def test_parse_when_keeps_naive_naive() -> None:
    assert parse_when("2026-01-04 10:00:00", "date_from").tzinfo is None
    assert parse_when("2026-01-04T10:00:00Z", "date_from").tzinfo is not None
