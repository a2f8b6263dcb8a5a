"""Progress lines of a long extract: when they are due and what they say."""

from __future__ import annotations

from uis_provider.protocol.progress import ProgressMeter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_few_pages_with_totals_rate_budget_wait_and_eta() -> None:
    clock = Clock()
    meter = ProgressMeter(clock, every_pages=5, every_seconds=1_000)
    meter.add_query(total_records=10_000, total_pages=20)
    lines = []
    for _ in range(20):
        clock.now += 2.0
        lines.append(meter.page(500, budget_waited=clock.now / 2))
    due = [line for line in lines if line is not None]
    assert [index for index, line in enumerate(lines) if line] == [4, 9, 14], "every 5 pages, none at the end"
    assert due[0] == (
        "progress: 5/20 pages, 2500/10000 records (25%), 250 records/s, 5.0 s waited on the point budget, "
        "about 30 s left"
    )
    assert meter.summary(budget_waited=20.0, refusals=3) == (
        "done: 20 pages, 10000 records in 40.0 s (250 records/s); 20.0 s waited on the point budget, "
        "3 call(s) refused by the minute budget"
    )


def test_a_line_after_some_seconds_even_between_the_page_counts() -> None:
    clock = Clock()
    meter = ProgressMeter(clock, every_pages=100, every_seconds=30)
    meter.add_query(total_records=3_000, total_pages=6)
    clock.now = 10.0
    assert meter.page(500, budget_waited=0.0) is None
    clock.now = 45.0
    line = meter.page(500, budget_waited=40.0)
    assert line is not None and line.startswith("progress: 2/6 pages, 1000/3000 records (33%)")
    assert "40.0 s waited on the point budget" in line and "about 2 min left" in line
    assert meter.page(500, budget_waited=40.0) is None, "not again right away"
