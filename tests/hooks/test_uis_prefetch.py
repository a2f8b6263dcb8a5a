"""UISHook.paginate fetching pages ahead on worker threads, against the emulator on loopback: pages in order and
byte-identical output, a bounded number of pages ahead, failures raised in their turn, point budgets and logins."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LOGIN, PASSWORD, conn_json
from uis_provider.exceptions import UISConfigurationError, UISError, UISRateLimitError
from uis_provider.extract import ReportQuery, extract_window
from uis_provider.hooks.uis import Page, UISHook
from uis_provider.protocol.jsonrpc import parse_response, result_records
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.windows import Window
from uis_provider.testing import UISEmulator
from uis_provider.testing.faults import Faults

FAST = RetryPolicy(max_retries=5, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)
TZ = "Europe/Moscow"
SPAN = ("2026-01-02", "2026-01-12")
PARAMS = {
    "date_from": "2026-01-02 00:00:00",
    "date_till": "2026-01-11 23:59:59",
    "sort": [{"field": "ext_id", "order": "asc"}],
}
SETTLE_SECONDS = 0.2


class Arrivals(Faults):
    """The emulator's fault source, counting every request as it arrives and faulting the ones numbered in ``plan``."""

    def __init__(self, plan: dict[int, str] | None = None) -> None:
        super().__init__()
        self.plan = dict(plan or {})
        self.arrived = 0
        self._count_lock = threading.Lock()

    def next(self) -> str | None:
        with self._count_lock:
            self.arrived += 1
            number = self.arrived
        return self.plan.get(number) or super().next()

    def settled(self) -> int:
        """The number of requests once none has arrived for a while (every request sent so far is counted)."""
        seen = -1
        while seen != self.arrived:
            seen = self.arrived
            time.sleep(SETTLE_SECONDS)
        return seen


def fetch_threads() -> list[threading.Thread]:
    """The page-fetching worker threads still alive."""
    return [thread for thread in threading.enumerate() if thread.name.startswith("uis-fetch")]


def collect_offsets(pages: Iterator[Page], got: list[int]) -> None:
    """Append the offset of every page to ``got`` until the pages end or one fails."""
    for page in pages:
        got.append(page.offset)


def truth_ids(api: UISEmulator) -> list[str]:
    """ext_ids of the window PARAMS selects (the emulator reads date_till inclusive), in ext_id order."""
    return sorted(r["ext_id"] for r in api.records(PARAMS["date_from"], "2026-01-12 00:00:00"))


@pytest.fixture
def api(make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch) -> UISEmulator:
    """The 2 000-call January emulator with ``uis_default`` pointing at it."""
    started = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(started.url, timezone=TZ))
    return started


def test_pages_fetched_ahead_come_in_offset_order_and_land_byte_identical(api: UISEmulator, tmp_path: Path) -> None:
    window = Window.build(*SPAN, TZ)
    query = ReportQuery.build("get.uploaded_calls", page_size=40)
    with UISHook(prefetch_pages=0) as hook:
        sequential = extract_window(hook, window, query, tmp_path / "sequential.jsonl")
    pages = api.count("get.uploaded_calls")
    # answers overtake each other: the third and seventh requests are held back, the sixth fails once
    arrivals = Arrivals({3: "slow", 6: "http_502", 7: "slow"})
    arrivals.timeout_delay = 0.4
    api.faults = arrivals
    with UISHook(prefetch_pages=4, retry_policy=FAST) as hook:
        ahead = extract_window(hook, window, query, tmp_path / "ahead.jsonl")
        retries = hook.session.stats.retries
    assert (tmp_path / "ahead.jsonl").read_bytes() == (tmp_path / "sequential.jsonl").read_bytes()
    assert ahead.records == sequential.records == len(truth_ids(api)) > 400
    assert retries == 1
    assert api.count("get.uploaded_calls") == 2 * pages + 1

    api.faults = Arrivals({2: "slow", 4: "slow"})
    api.faults.timeout_delay = 0.4
    pages = list(UISHook(prefetch_pages=3).paginate("get.uploaded_calls", PARAMS, page_size=40))
    assert [page.offset for page in pages] == list(range(0, pages[0].total_items, 40))
    assert [r["ext_id"] for page in pages for r in page.records] == truth_ids(api)


def test_pages_fetched_ahead_never_exceed_prefetch_pages(api: UISEmulator) -> None:
    arrivals = Arrivals()
    api.faults = arrivals
    depth, page_size = 3, 60
    pages = UISHook(prefetch_pages=depth).paginate("get.uploaded_calls", PARAMS, page_size=page_size)
    handed = 0
    for page in pages:
        handed += 1
        ahead = arrivals.settled() - handed
        left = math.ceil(page.total_items / page_size) - handed
        # a sliding window: from the first page on, as many pages as allowed are asked for while the caller works
        # (one may still be on its way to the server when the arrivals settle on a loaded machine)
        assert min(depth, left) - 1 <= ahead <= min(depth, left)
    assert handed == arrivals.arrived == math.ceil(len(truth_ids(api)) / page_size) > 8
    assert fetch_threads() == []


def test_a_failed_page_fetched_ahead_is_raised_in_its_turn_and_stops_fetching(api: UISEmulator) -> None:
    arrivals = Arrivals({4: "limit_day"})
    api.faults = arrivals
    got: list[int] = []
    pages = UISHook(prefetch_pages=3, retry_policy=FAST).paginate("get.uploaded_calls", PARAMS, page_size=40)
    with pytest.raises(UISRateLimitError, match="daily"):
        collect_offsets(pages, got)
    sent_when_raised = arrivals.arrived
    failed = [r["params"]["offset"] for r in api.requests if r["fault"] == "limit_day"]
    assert len(failed) == 1 and failed[0] > 0  # which page arrives fourth depends on the worker threads
    assert got == list(range(0, failed[0], 40)), "every page before the failed one, in order, and none after it"
    # beyond the pages handed over, at most the window (the failed page included), and nothing once it surfaced
    assert arrivals.settled() == sent_when_raised <= len(got) + 3
    assert fetch_threads() == []


def test_closing_the_pages_early_cancels_the_fetches_ahead(api: UISEmulator) -> None:
    arrivals = Arrivals()
    api.faults = arrivals
    pages = UISHook(prefetch_pages=3).paginate("get.uploaded_calls", PARAMS, page_size=40)
    assert [next(pages).offset, next(pages).offset] == [0, 40]
    pages.close()
    assert fetch_threads() == []
    assert arrivals.settled() <= 2 + 3


def test_fetching_ahead_waits_for_the_minute_budget_instead_of_overdrawing_it(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_emulator(minute_limit=4, minute_window=1.0)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    hook = UISHook(prefetch_pages=3)
    pages = list(hook.paginate("get.uploaded_calls", PARAMS, page_size=60))
    assert [r["error"] for r in api.requests if r["error"]] == []
    assert api.count("get.uploaded_calls") == len(pages) == math.ceil(pages[0].total_items / 60) > 8
    assert [r["ext_id"] for page in pages for r in page.records] == truth_ids(api)
    assert hook.session.stats.waited > 0


def test_pages_ahead_stay_within_the_day_budget_left(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_emulator(day_limit=5)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    got: list[int] = []
    pages = UISHook(prefetch_pages=3).paginate("get.uploaded_calls", PARAMS, page_size=40)
    with pytest.raises(UISRateLimitError, match="daily"):
        collect_offsets(pages, got)
    assert got == [0, 40, 80, 120, 160]
    assert [r["error"] for r in api.requests] == [None] * 5 + ["limit_exceeded"]


def test_one_login_per_dead_session_while_pages_are_fetched_ahead(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_UIS_LOGIN", conn_json(api.url, login=LOGIN, password=PASSWORD))
    api.expire_sessions_every(4)
    with UISHook("uis_login", prefetch_pages=3, retry_policy=FAST) as hook:
        pages = list(hook.paginate("get.uploaded_calls", PARAMS, page_size=40))
        logins = hook.session.stats.logins
    assert [r["ext_id"] for page in pages for r in page.records] == truth_ids(api)
    served = sum(1 for r in api.requests if r["method"] == "get.uploaded_calls" and not r["error"])
    assert served == len(pages)
    assert logins == api.count("login.user") == math.ceil(served / 4)
    assert api.open_sessions == 0


def test_prefetch_pages_zero_pages_in_the_callers_thread_and_bad_values_are_refused(api: UISEmulator) -> None:
    names: set[str] = set()
    for _page in UISHook(prefetch_pages=0).paginate("get.uploaded_calls", PARAMS, page_size=100):
        names.update(thread.name for thread in fetch_threads())
    assert names == set()
    assert api.count("get.uploaded_calls") == math.ceil(len(truth_ids(api)) / 100)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(UISConfigurationError, match="prefetch_pages"):
            UISHook(prefetch_pages=bad)  # type: ignore[arg-type]
    with pytest.raises(UISConfigurationError, match="prefetch_pages"):
        next(UISHook().paginate("get.uploaded_calls", PARAMS, prefetch_pages=-2))
    assert api.count("get.uploaded_calls") == math.ceil(len(truth_ids(api)) / 100)


PAGE = b'{"jsonrpc":"2.0","id":"r1","result":{"data":[{"ext_id":"e1","tags":[{"tag_id":1}]}],"metadata":{"total_items":1}}}'


@pytest.mark.parametrize(
    "body",
    [
        PAGE,
        b'{"jsonrpc":"2.0","id":"r1","result":[1]}',
        b"[1]",
        b'{"jsonrpc":"2.0","id":"r1","result":{"data":NaN}}',
        b'{"jsonrpc":"2.0","id":"other","result":{"data":[]}}',
        b'{"jsonrpc":"2.0","id":"r1","error":{"code":-32001,"message":"no","data":{"mnemonic":"access_token_invalid"}}}',
        b'{"jsonrpc":"2.0","id":"r1","result":{"data":[1,2}}',
        b'{"jsonrpc":"2.0","id":"r1","result":{"data":' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
        b'{"jsonrpc":"2.0","id":"r1","result":{"data":null,"metadata":{"total_items":0}}}',
        b'\xef\xbb\xbf{"jsonrpc":"2.0","id":"r1","result":{"data":[{"a":1e400}]}}',
    ],
)
def test_a_page_fetched_ahead_waits_encoded_and_reads_like_one_decoded_at_once(body: bytes) -> None:
    def outcome(defer: bool) -> object:
        try:
            result = parse_response("get.uploaded_calls", "r1", 200, bytearray(body), defer_data=defer)
            return result_records(result), result.get("metadata")
        except UISError as exc:
            return type(exc), str(exc)

    assert outcome(True) == outcome(False)
    if body == PAGE:
        assert not isinstance(parse_response("m", "r1", 200, body, defer_data=True)["data"], list)


@pytest.mark.parametrize("depth", [0, 3])
def test_a_short_page_fails_with_what_was_promised(api: UISEmulator, depth: int) -> None:
    pages = UISHook(prefetch_pages=depth, retry_policy=FAST).paginate("get.uploaded_calls", PARAMS, page_size=40)
    first = next(pages)
    assert len(first.records) == 40 and first.total_items > 120
    api.faults.script(["short_page"] * 5)
    with pytest.raises(UISError, match=r"the page at offset \d+ holds 39 records, but total_items=\d+ and limit=40"):
        list(pages)
