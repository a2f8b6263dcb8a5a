"""The time-paging plans, driven in memory against a tiny model of a report that forbids sorting by its key."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import pendulum
import pytest

from uis_provider.exceptions import UISDataChangedError, UISError, UISPagingLimitError
from uis_provider.protocol.time_pages import OnePagePerPart, SortedByTime, order_ties
from uis_provider.protocol.windows import Window, split_part

TZ = "Europe/Moscow"
DAY = Window(pendulum.datetime(2026, 1, 4, tz=TZ), pendulum.datetime(2026, 1, 5, tz=TZ), TZ)


def _records(count: int, seed: int, *, ties: int = 1) -> list[dict[str, Any]]:
    """``count`` records over the day; every time is shared by about ``ties`` records (ids unique)."""
    rng = random.Random(seed)
    moments = sorted(rng.randrange(86_400) for _ in range(max(1, count // ties)))
    out = []
    for number in range(count):
        second = moments[number % len(moments)]
        stamp = f"2026-01-04 {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        out.append({"id": 1000 + number, "start_time": stamp})
    return out


def _api(records: list[dict[str, Any]], shuffle_ties: random.Random | None = None) -> Callable[[dict], dict]:
    """Answer like the API: select by window on start_time, sort by it if asked (ties in any order), page."""
    calls: list[dict[str, Any]] = []

    def answer(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(params)
        low, high = params["date_from"], params["date_till"]
        rows = [r for r in records if low <= r["start_time"] <= high]
        if shuffle_ties is not None:
            shuffle_ties.shuffle(rows)
        if params.get("sort"):
            rows.sort(key=lambda r: r["start_time"])
        page = rows[params["offset"] : params["offset"] + params["limit"]]
        return {"data": [dict(r) for r in page], "metadata": {"total_items": len(rows)}}

    answer.calls = calls  # type: ignore[attr-defined]
    return answer


def _drive(plan: SortedByTime | OnePagePerPart, api: Callable[[dict], dict]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while (params := plan.next_params()) is not None:
        out.extend(plan.take(api(params)))
    return [r for r in out if r["start_time"] < DAY.api_till]


def _sorted_plan(page_size: int) -> SortedByTime:
    return SortedByTime("get.calls_report", {"fields": ["id", "start_time"]}, DAY, "start_time", "id", page_size)


@pytest.mark.parametrize(("count", "ties", "page_size"), [(0, 1, 50), (49, 1, 50), (50, 1, 50), (1234, 3, 50)])
def test_sorted_by_time_reads_every_record_once_in_time_then_id_order(count: int, ties: int, page_size: int) -> None:
    records = _records(count, seed=count, ties=ties)
    api = _api(records, shuffle_ties=random.Random(7))
    got = _drive(_sorted_plan(page_size), api)
    assert [r["id"] for r in got] == [r["id"] for r in sorted(records, key=lambda r: (r["start_time"], r["id"]))]
    assert all(call["offset"] == 0 and call["sort"] == [{"field": "start_time", "order": "asc"}] for call in api.calls)
    # the fewest calls but for the repeated last second of each page
    assert len(api.calls) <= max(1, -(-count // (page_size - 2 * ties)))


def test_the_same_window_gives_the_same_order_whatever_order_ties_arrive_in() -> None:
    records = _records(600, seed=3, ties=4)
    first = _drive(_sorted_plan(40), _api(records, shuffle_ties=random.Random(1)))
    second = _drive(_sorted_plan(40), _api(records, shuffle_ties=random.Random(2)))
    assert first == second


def test_a_record_inserted_after_the_cursor_between_calls_makes_the_pass_start_over() -> None:
    records = _records(300, seed=5)
    inner = _api(records)

    def moving(params: dict[str, Any]) -> dict[str, Any]:
        if len(inner.calls) == 2:  # type: ignore[attr-defined]
            records.append({"id": 99_999, "start_time": "2026-01-04 23:59:00"})
        return inner(params)

    with pytest.raises(UISDataChangedError, match="the data moved"):
        _drive(_sorted_plan(100), moving)


def test_a_second_with_more_records_than_a_page_fails_clearly() -> None:
    records = [{"id": n, "start_time": "2026-01-04 10:00:00"} for n in range(30)]
    records += [{"id": 100 + n, "start_time": "2026-01-04 11:00:00"} for n in range(5)]
    with pytest.raises(UISPagingLimitError, match=r"more than 20 records have start_time = 2026-01-04 10:00:00"):
        _drive(_sorted_plan(20), _api(records))


def test_a_page_that_ignores_the_sort_is_refused_not_trusted() -> None:
    records = _records(300, seed=9)

    def unsorted(params: dict[str, Any]) -> dict[str, Any]:
        answer = _api(records)({**params, "sort": None})
        answer["data"].reverse()
        return answer

    with pytest.raises(UISError, match="came back out of order"):
        _drive(_sorted_plan(100), unsorted)


def test_a_last_record_at_the_window_end_ends_the_read() -> None:
    records = _records(10, seed=1) + [{"id": 5000 + n, "start_time": DAY.api_till} for n in range(20)]
    api = _api(records)
    got = _drive(_sorted_plan(15), api)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in records if r["start_time"] < DAY.api_till)


def _part_plan(page_size: int, sort_keys: tuple[str, ...] = ()) -> OnePagePerPart:
    base: dict[str, Any] = {"fields": ["id", "start_time"]}
    if sort_keys:
        base["sort"] = [{"field": key, "order": "asc"} for key in sort_keys]
    return OnePagePerPart("get.goals_report", base, DAY, sort_keys, "start_time", "id", page_size)


def test_one_page_per_part_splits_until_every_piece_fits_and_reads_each_record_once() -> None:
    records = _records(700, seed=11)
    api = _api(records, shuffle_ties=random.Random(4))
    plan = _part_plan(100)
    got = _drive(plan, api)
    assert [r["id"] for r in got] == [r["id"] for r in sorted(records, key=lambda r: (r["start_time"], r["id"]))]
    assert all(call["offset"] == 0 and "sort" not in call for call in api.calls)
    assert plan.splits >= 1
    assert len(api.calls) == plan.splits + len(plan.parts)
    covered = [(p.api_from, p.api_till) for p in plan.parts]
    assert covered[0][0] == DAY.api_from and covered[-1][1] == DAY.api_till
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))


def test_one_page_per_part_takes_a_small_window_in_one_call() -> None:
    api = _api(_records(80, seed=2))
    plan = _part_plan(100)
    assert len(_drive(plan, api)) == 80
    assert len(api.calls) == 1 and plan.splits == 0


def test_order_ties_orders_only_within_runs_of_equal_keys() -> None:
    rows = [{"k": "b", "id": 3}, {"k": "b", "id": 1}, {"k": "a", "id": 9}, {"k": "a", "id": 2}, {"k": None, "id": 5}]
    assert [r["id"] for r in order_ties(rows, ("k",), "id")] == [1, 3, 2, 9, 5]
    mixed = [{"k": 1, "id": "x"}, {"k": 1, "id": 7}, {"k": 1, "id": None}]
    assert [r["id"] for r in order_ties(mixed, ("k",), "id")] == [7, "x", None]


def test_records_on_the_second_where_a_part_is_split_are_read_once() -> None:
    # records on the very seconds where the day is split: date_till is inclusive, so each piece's answer holds them
    total = 200
    bounds = [piece.start for piece in split_part(DAY, total, 40)[1:]]
    stamps = [moment.strftime("%Y-%m-%d %H:%M:%S") for moment in bounds]
    records = [{"id": n, "start_time": stamps[n % len(stamps)]} for n in range(total)]
    api = _api(records)
    plan = _part_plan(40)
    got = _drive(plan, api)
    assert plan.splits >= 1
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in records)


@pytest.mark.parametrize("plan_kind", ["sorted", "one page per part"])
def test_both_plans_count_their_calls_keep_the_first_total_and_send_the_base_fields(plan_kind: str) -> None:
    records = _records(500, seed=9)
    api = _api(records)
    base = {"fields": ["id", "start_time"]}
    plan: SortedByTime | OnePagePerPart
    if plan_kind == "sorted":
        plan = _sorted_plan(60)
    else:
        plan = OnePagePerPart("get.calls_report", base, DAY, (), "start_time", "id", 60)
    assert (plan.calls, plan.first_total) == (0, None)
    _drive(plan, api)
    assert plan.calls == len(api.calls) > 1
    assert plan.first_total == 500
    assert all(call["fields"] == base["fields"] and (call["limit"], call["offset"]) == (60, 0) for call in api.calls)
    assert all(list(call)[-2:] == ["limit", "offset"] for call in api.calls), "paging goes last, as before"
