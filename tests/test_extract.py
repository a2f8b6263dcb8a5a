"""The extract engine against the UIS emulator on loopback: windows, splitting, paging, restarts, atomic output."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pendulum
import pytest
import requests

from tests.conftest import conn_json as shared_conn_json
from uis_provider.exceptions import (
    UISConfigurationError,
    UISDataChangedError,
    UISError,
    UISTransportError,
)
from uis_provider.extract import (
    ExtractProgress,
    ReportQuery,
    _kept_batch,
    extract_window,
    iter_window_records,
    plan_windows,
)
from uis_provider.hooks.uis import DEFAULT_PREFETCH_PAGES, UISHook
from uis_provider.protocol import paging
from uis_provider.protocol.methods import CALLS_REPORT, UPLOADED_CALLS, ReportMethod
from uis_provider.protocol.windows import Window
from uis_provider.storage import rows as rows_module
from uis_provider.storage.formats import COMPRESSIONS, FILE_FORMATS, csv_format, jsonl, parquet
from uis_provider.storage.rows import Rows, row_type_for
from uis_provider.testing import UISEmulator

TZ = "Europe/Moscow"
KEY = "extract-test-key"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_order(
    truth: list[dict[str, Any]], parts: tuple[Window, ...], time_field: str, key: str, *, by_time: bool = False
) -> list[Any]:
    """Keys in the engine's promised order: part by part, by the unique key inside a part (``by_time``: by time,
    then the unique key, as methods without a sortable key are read)."""
    keys: list[Any] = []
    for part in parts:
        inside = [r for r in truth if part.contains(r[time_field])]
        order = (lambda r: (r[time_field], r[key])) if by_time else (lambda r: r[key])
        keys.extend(r[key] for r in sorted(inside, key=order))
    return keys


def conn_json(url: str) -> str:
    """A ``uis`` connection with the test key, as ``AIRFLOW_CONN_<ID>`` JSON."""
    from airflow.providers.common.compat.sdk import Connection

    return Connection(conn_id="uis_default", conn_type="uis", host=url, password=KEY).as_json()


def serve(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> UISEmulator:
    """Start an emulator with ``settings`` and point ``uis_default`` at it (stop it yourself)."""
    api = UISEmulator(api_keys={KEY: "valid"}, **settings).start()
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    return api


@pytest.fixture
def hook(uis_conn: str) -> Iterator[UISHook]:
    """A hook on the shared 2 000-call January emulator."""
    with UISHook(uis_conn) as uis_hook:
        yield uis_hook


# -- query validation: no emulator involved, nothing can be called -----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 10_001}, "page_size"),
        ({"page_size": "many"}, "page_size"),
        ({"max_window_days": 0}, "max_window_days"),
        ({"fields": ["ext_id", "no_such_field"]}, "fields"),
        ({"fields": "ext_id"}, "fields"),
        ({"filter": {"field": "status", "operator": "~", "value": "x"}}, "filter.operator"),
        (
            {
                "filter": {
                    "filters": [{"filters": [{"filters": [{"field": "status", "operator": "=", "value": "new"}]}]}]
                }
            },
            "filter",
        ),
        ({"filter": {"field": "upload_time", "operator": "=", "value": "x"}}, "upload_time"),
        ({"sort": [{"field": "tags"}]}, "sort[0]"),
        ({"sort": [{"field": "ext_id", "order": "up"}]}, "sort[0].order"),
        ({"user_id": "agent-7"}, "user_id"),
        ({"extra_params": {"date_from": "2026-01-01"}}, "extra_params"),
    ],
)
def test_bad_query_parameters_are_refused_by_name(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(UISConfigurationError, match=r"\b" + named.replace("[", r"\[").replace(".", r"\.")):
        ReportQuery.build("get.uploaded_calls", **kwargs)


def test_methods_are_checked() -> None:
    with pytest.raises(UISConfigurationError, match="method must name a get"):
        ReportQuery.build("upload.calls")
    with pytest.raises(UISConfigurationError, match=r"'get\.calls_reports' is not a method the provider knows"):
        ReportQuery.build("get.calls_reports")
    with pytest.raises(UISConfigurationError, match=r"get\.customer_users' has no date window.*get_records"):
        ReportQuery.build("get.customer_users")
    own = ReportMethod(name="get.visitor_sessions_report", time_field="date_time", columns=())
    with pytest.raises(UISConfigurationError, match="pass fields"):
        ReportQuery.build(own)
    query = ReportQuery.build(own, fields=["id", "date_time", "visitor_id"])
    assert query.columns == ("id", "date_time", "visitor_id")
    communications = ReportQuery.build("get.communications_report")
    assert communications.columns == (
        "id",
        "communication_type",
        "date_time",
        "visitor_id",
        "person_id",
        "visitor_session_id",
        "site_id",
        "campaign_id",
    )


def test_extra_params_are_the_methods_own() -> None:
    assert ReportQuery.build("get.calls_report", extra_params={"include_ongoing_calls": True}).extra_params == {
        "include_ongoing_calls": True
    }
    with pytest.raises(
        UISConfigurationError, match=r"'report_id'\], not parameters of get\.calls_report.*include_ongoing_calls"
    ):
        ReportQuery.build("get.calls_report", extra_params={"report_id": 1})


def test_request_params_add_the_time_field_and_the_unique_key() -> None:
    query = ReportQuery.build(
        "get.uploaded_calls",
        fields=["status"],
        sort=[{"field": "status", "order": "desc"}],
        user_id="42",
        extra_params={"report_id": 5},
    )
    window = Window.build("2026-01-04", "2026-01-05", TZ)
    params = query.request_params(window)
    assert params["fields"] == ["status", "upload_time", "ext_id"]
    assert query.unwritten_fields == ("upload_time", "ext_id")
    assert params["sort"] == [{"field": "status", "order": "desc"}, {"field": "ext_id", "order": "asc"}]
    assert params["user_id"] == 42
    assert params["report_id"] == 5
    assert (params["date_from"], params["date_till"]) == ("2026-01-04 00:00:00", "2026-01-05 00:00:00")
    assert "limit" not in params
    assert "offset" not in params


def test_default_columns_are_requested_explicitly_and_no_forbidden_sort_is_sent() -> None:
    query = ReportQuery.build("get.calls_report")
    params = query.request_params(Window.build("2026-01-04", "2026-01-05", TZ))
    assert params["fields"] == list(CALLS_REPORT.columns)
    assert "sort" not in params
    assert query.pages_by_time
    goals = ReportQuery.build("get.goals_report")
    # neither date_time (the window field) nor id is in the goals' default reply: both are asked, neither written
    assert goals.request_fields[-2:] == ("date_time", "id")
    assert goals.unwritten_fields == ("date_time", "id")


def test_window_days_never_exceed_the_method_limit() -> None:
    year = Window.build("2025-01-01", "2026-01-01", TZ)
    report = ReportQuery.build("get.calls_report", max_window_days=365)
    assert report.window_days == 90
    parts = plan_windows(year, report)
    assert [p.start for p in parts[1:]] == [p.end for p in parts[:-1]]
    assert (parts[0].start, parts[-1].end) == (year.start, year.end)
    assert max(p.seconds for p in parts) <= 90 * 86_400
    assert len(parts) == 5
    assert ReportQuery.build("get.uploaded_calls", max_window_days=365).window_days == 365
    assert ReportQuery.build("get.uploaded_calls", max_window_days=7).window_days == 7


# -- against the emulator -----------------------------------------------------------------------------------------


def test_multi_page_window_lands_every_record_once_with_fewest_calls(
    hook: UISHook, emulator: UISEmulator, tmp_path: Path
) -> None:
    window = Window.build("2026-01-03", "2026-01-08", TZ)
    query = ReportQuery.build("get.uploaded_calls", page_size=70)
    emulator.reset_log()
    result = extract_window(hook, window, query, str(tmp_path / "out.jsonl"))
    truth = emulator.records("2026-01-03", "2026-01-08")
    got = read_jsonl(tmp_path / "out.jsonl")
    assert len(truth) > 3 * 70
    assert result.records == len(got) == len(truth)
    assert got == sorted(truth, key=lambda r: r["ext_id"])
    assert emulator.count("get.uploaded_calls") == paging.page_count(len(truth), 70)
    assert result.parts == (window,)
    assert result.attempts == 1


def test_window_over_90_days_splits_and_lands_every_record_once_in_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = serve(monkeypatch, calls=2500, seed=5, start="2025-09-01", days=200)
    try:
        with UISHook("uis_default") as hook:
            window = Window.build("2025-09-01", "2026-03-20", TZ)
            result = extract_window(hook, window, ReportQuery.build("get.uploaded_calls"), str(tmp_path / "u.jsonl"))
            report = extract_window(
                hook, window, ReportQuery.build("get.calls_report", max_window_days=400), str(tmp_path / "r.jsonl")
            )
        truth = api.records("2025-09-01", "2026-03-20")
        assert [p.seconds // 86_400 for p in result.parts] == [90, 90, 20]
        got = read_jsonl(tmp_path / "u.jsonl")
        assert [r["ext_id"] for r in got] == expected_order(truth, result.parts, "upload_time", "ext_id")
        assert len(got) == len(truth) == result.records
        rows = api.report_rows("2025-09-01", "2026-03-20")
        got_rows = read_jsonl(tmp_path / "r.jsonl")
        assert len(report.parts) == 3
        assert [r["id"] for r in got_rows] == expected_order(rows, report.parts, "start_time", "id", by_time=True)
        assert len(got_rows) == len(rows) > 0
        spans = [
            pendulum.parse(e["params"]["date_till"]) - pendulum.parse(e["params"]["date_from"])
            for e in api.requests
            if e["method"] == "get.calls_report"
        ]
        assert spans
        assert max(s.in_days() for s in spans) <= 90
        assert all(e["error"] is None for e in api.requests)
    finally:
        api.stop()


@pytest.fixture
def big_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """120 000 calls in two days: more than one query's offsets reach (110 000)."""
    api = serve(monkeypatch, calls=120_000, seed=9, start="2026-02-01", days=2, report_calls=0)
    try:
        yield api
    finally:
        api.stop()


def test_window_over_110k_rows_continues_by_ext_id_with_only_full_pages(big_api: UISEmulator, tmp_path: Path) -> None:
    with UISHook("uis_default") as hook:
        window = Window.build("2026-02-01", "2026-02-03", TZ)
        # narrow columns keep the test quick; the continuation does not depend on them
        query = ReportQuery.build("get.uploaded_calls", fields=["ext_id", "upload_time"])
        result = extract_window(hook, window, query, str(tmp_path / "big.jsonl"))
        calls = hook.session.stats.calls
    keys = [json.loads(line)["ext_id"] for line in (tmp_path / "big.jsonl").open(encoding="utf-8")]
    truth = big_api.records("2026-02-01", "2026-02-03")
    assert len(truth) == 120_000
    assert keys == sorted(r["ext_id"] for r in truth)
    assert result.records == 120_000 and result.parts == (window,)
    # the API's total also counts the end second (inclusive date_till): page by what it answers
    answered = sum(1 for r in truth if window.api_from <= r["upload_time"] <= window.api_till)
    assert calls == paging.page_count(answered, 10_000)
    pages = [e["params"] for e in big_api.requests if e["method"] == "get.uploaded_calls"]
    # offsets up to the cap, then the rows after the last one they reached, from offset 0 again
    unfiltered = sorted(p["offset"] for p in pages if "filter" not in p)
    assert unfiltered == list(range(0, 110_000, 10_000))
    after = [p for p in pages if "filter" in p]
    assert sorted(p["offset"] for p in after) == list(range(0, (calls - 11) * 10_000, 10_000))
    assert all(p["filter"] == {"field": "ext_id", "operator": ">", "value": keys[109_999]} for p in after)
    assert all(e["error"] is None for e in big_api.requests)


def test_window_over_110k_rows_sorted_by_another_field_splits_by_time(big_api: UISEmulator, tmp_path: Path) -> None:
    with UISHook("uis_default") as hook:
        window = Window.build("2026-02-01", "2026-02-03", TZ)
        query = ReportQuery.build(
            "get.uploaded_calls", fields=["ext_id", "upload_time", "start_time"], sort=[{"field": "start_time"}]
        )
        result = extract_window(hook, window, query, str(tmp_path / "big.jsonl"))
        calls = hook.session.stats.calls
    keys = [json.loads(line)["ext_id"] for line in (tmp_path / "big.jsonl").open(encoding="utf-8")]
    truth = big_api.records("2026-02-01", "2026-02-03")
    assert len(result.parts) >= 2
    assert len(keys) == len(set(keys)) == result.records == 120_000
    expected = []
    for part in result.parts:
        inside = [r for r in truth if part.contains(r["upload_time"])]
        expected.extend(r["ext_id"] for r in sorted(inside, key=lambda r: (r["start_time"], r["ext_id"])))
    assert keys == expected
    per_part = [sum(1 for r in truth if p.contains(r["upload_time"])) for p in result.parts]
    assert max(per_part) <= paging.reachable_rows(10_000)
    answered = [sum(1 for r in truth if p.api_from <= r["upload_time"] <= p.api_till) for p in result.parts]
    # the first call found the window too big; then the fewest pages of each part
    assert calls == 1 + sum(paging.page_count(n, 10_000) for n in answered)


@pytest.mark.parametrize("till_inclusive", [True, False])
def test_adjacent_windows_across_a_boundary_second_lose_and_repeat_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, till_inclusive: bool
) -> None:
    api = serve(monkeypatch, calls=600, seed=2, start="2026-01-10", days=4, till_inclusive=till_inclusive)
    try:
        at_boundary = api.add_calls(6, "2026-01-12 00:00:00", "2026-01-12 00:00:01")
        just_before = api.add_calls(4, "2026-01-11 23:59:59", "2026-01-12 00:00:00")
        with UISHook("uis_default") as hook:
            query = ReportQuery.build("get.uploaded_calls", page_size=50)
            first = extract_window(hook, Window.build("2026-01-10", "2026-01-12", TZ), query, str(tmp_path / "a.jsonl"))
            second = extract_window(
                hook, Window.build("2026-01-12", "2026-01-14", TZ), query, str(tmp_path / "b.jsonl")
            )
        a = [r["ext_id"] for r in read_jsonl(tmp_path / "a.jsonl")]
        b = [r["ext_id"] for r in read_jsonl(tmp_path / "b.jsonl")]
        truth = [r["ext_id"] for r in api.records("2026-01-10", "2026-01-14")]
        assert len(a) + len(b) == len(truth) == len(set(a) | set(b))
        assert set(a) | set(b) == set(truth)
        assert set(at_boundary) <= set(b)
        assert set(just_before) <= set(a)
        assert first.records + second.records == len(truth)
        assert first.dropped == (6 if till_inclusive else 0)
    finally:
        api.stop()


def test_rerun_gives_byte_identical_output(hook: UISHook, emulator: UISEmulator, tmp_path: Path) -> None:
    window = Window.build("2026-01-05", "2026-01-12", TZ)
    query = ReportQuery.build("get.uploaded_calls", page_size=200)
    for name, fmt, compression in [("a.jsonl", "jsonl", None), ("a.csv.gz", "csv", "gzip")]:
        extract_window(hook, window, query, str(tmp_path / name), file_format=fmt, compression=compression)
        first = (tmp_path / name).read_bytes()
        extract_window(hook, window, query, str(tmp_path / f"again-{name}"), file_format=fmt, compression=compression)
        assert (tmp_path / f"again-{name}").read_bytes() == first
    assert len(read_jsonl(tmp_path / "a.jsonl")) == len(emulator.records("2026-01-05", "2026-01-12")) > 0


def test_narrowed_fields_request_the_time_field_but_do_not_write_it(
    hook: UISHook, emulator: UISEmulator, tmp_path: Path
) -> None:
    query = ReportQuery.build("get.uploaded_calls", fields=["status", "ext_id"], page_size=100)
    emulator.reset_log()
    extract_window(hook, Window.build("2026-01-20", "2026-01-22", TZ), query, str(tmp_path / "f.jsonl"))
    got = read_jsonl(tmp_path / "f.jsonl")
    truth = emulator.records("2026-01-20", "2026-01-22")
    assert got == [{"status": r["status"], "ext_id": r["ext_id"]} for r in sorted(truth, key=lambda r: r["ext_id"])]
    assert all(list(r) == ["status", "ext_id"] for r in got)
    assert {tuple(e["params"]["fields"]) for e in emulator.requests if e["method"] == "get.uploaded_calls"} == {
        ("status", "ext_id", "upload_time")
    }


class ChangingDataHook(UISHook):
    """A real hook that uploads more calls into the window after the first page of its first ``passes`` passes."""

    def __init__(self, api: UISEmulator, span: tuple[str, str], passes: int) -> None:
        super().__init__("uis_default")
        self.api, self.span, self.passes_left = api, span, passes

    def paginate(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[Any]:
        for index, page in enumerate(super().paginate(method, params, **kwargs)):
            yield page
            if index == 0 and self.passes_left > 0:
                self.passes_left -= 1
                self.api.add_calls(3, *self.span)


def test_data_changing_mid_window_restarts_the_whole_window_without_duplicates(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    span = ("2026-01-15", "2026-01-18")
    emulator.reset_log()
    with ChangingDataHook(emulator, span, passes=1) as hook:
        result = extract_window(
            hook, Window.build(*span, TZ), ReportQuery.build("get.uploaded_calls", page_size=60), tmp_path / "c.jsonl"
        )
        calls = hook.session.stats.calls
    truth = emulator.records(*span)
    got = read_jsonl(tmp_path / "c.jsonl")
    assert result.attempts == 2
    assert got == sorted(truth, key=lambda r: r["ext_id"])
    assert calls == emulator.count() > paging.page_count(len(truth), 60)
    assert [p.name for p in tmp_path.iterdir()] == ["c.jsonl"]


def test_data_that_keeps_changing_fails_and_keeps_the_old_output(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    target = tmp_path / "old.jsonl"
    target.write_bytes(b'{"previous": true}\n')
    span = ("2026-01-15", "2026-01-18")
    with ChangingDataHook(emulator, span, passes=5) as hook, pytest.raises(UISDataChangedError, match="2 passes"):
        extract_window(
            hook,
            Window.build(*span, TZ),
            ReportQuery.build("get.uploaded_calls", page_size=60),
            target,
            max_attempts=2,
        )
    assert target.read_bytes() == b'{"previous": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["old.jsonl"]


def test_iterating_a_window_streams_page_by_page(hook: UISHook, emulator: UISEmulator) -> None:
    emulator.reset_log()
    records = iter_window_records(
        hook, Window.build("2026-01-02", "2026-01-09", TZ), ReportQuery.build("get.uploaded_calls", page_size=25)
    )
    first = next(records)
    # the first page, and only the pages fetched ahead while it is handled
    assert emulator.count("get.uploaded_calls") <= 1 + DEFAULT_PREFETCH_PAGES
    assert set(first) == set(UPLOADED_CALLS.columns)
    rest = list(records)
    assert emulator.count("get.uploaded_calls") == paging.page_count(len(rest) + 1, 25) > 1 + DEFAULT_PREFETCH_PAGES


def test_empty_window_writes_a_valid_empty_output(hook: UISHook, emulator: UISEmulator, tmp_path: Path) -> None:
    window = Window.build("2025-06-01", "2025-06-02", TZ)
    query = ReportQuery.build("get.uploaded_calls")
    emulator.reset_log()
    jsonl = extract_window(hook, window, query, str(tmp_path / "e.jsonl"))
    csv = extract_window(hook, window, query, str(tmp_path / "e.csv"), file_format="csv")
    assert jsonl.records == csv.records == 0
    assert (tmp_path / "e.jsonl").read_bytes() == b""
    assert (tmp_path / "e.csv").read_text(encoding="utf-8") == ",".join(UPLOADED_CALLS.columns) + "\n"
    assert emulator.count("get.uploaded_calls") == 2


CHILD = """
import sys
from uis_provider.extract import ReportQuery, extract_window
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.windows import Window

with UISHook("uis_default") as hook:
    window = Window.build("2026-01-01", "2026-02-01", "Europe/Moscow")
    extract_window(hook, window, ReportQuery.build("get.uploaded_calls", page_size=20), sys.argv[1])
"""


def test_a_run_killed_mid_write_leaves_the_old_output_and_no_partial_file(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    target = tmp_path / "date=2026-01" / "part-0.jsonl"
    target.parent.mkdir()
    target.write_bytes(b'{"old": 1}\n')
    emulator.latency = 0.05
    emulator.reset_log()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while emulator.count("get.uploaded_calls") < 10:
            assert child.poll() is None, "the child ended before it was killed"
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.05)
        temps = [p.name for p in target.parent.iterdir() if p.name != "part-0.jsonl"]
        assert len(temps) == 1
        assert temps[0].startswith(".part-0.jsonl.tmp-")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b'{"old": 1}\n'

    emulator.latency = 0.0
    with UISHook(uis_conn) as hook:
        result = extract_window(
            hook, Window.build("2026-01-01", "2026-02-01", TZ), ReportQuery.build("get.uploaded_calls"), target
        )
    assert [p.name for p in target.parent.iterdir()] == ["part-0.jsonl"]
    assert result.records == len(read_jsonl(target)) == 2000


# -- what the result says of the written object: size, sha256, columns; the per-pass record observer -------------


@pytest.mark.parametrize(("name", "fmt", "compression"), [("d.jsonl", "jsonl", None), ("d.csv.gz", "csv", "gzip")])
def test_result_states_the_size_and_sha256_of_the_object_as_written(
    hook: UISHook, tmp_path: Path, name: str, fmt: str, compression: str | None
) -> None:
    import hashlib

    query = ReportQuery.build("get.uploaded_calls", page_size=100)
    window = Window.build("2026-01-05", "2026-01-08", TZ)
    result = extract_window(hook, window, query, tmp_path / name, file_format=fmt, compression=compression)
    body = (tmp_path / name).read_bytes()
    assert (result.bytes, result.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert result.records > 100  # several pages, so the sink saw several writes


def test_result_columns_are_the_kinds_the_writer_was_given(hook: UISHook, tmp_path: Path) -> None:
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    query = ReportQuery.build("get.uploaded_calls", fields=["ext_id", "talk_duration", "tags", "comment"])
    result = extract_window(
        hook,
        Window.build("2026-01-05", "2026-01-06", TZ),
        query,
        tmp_path / "d.parquet",
        file_format="parquet",
        column_kinds={"comment": "json"},
    )
    assert result.columns == (("ext_id", "string"), ("talk_duration", "int64"), ("tags", "json"), ("comment", "json"))
    schema = pyarrow_parquet.read_schema(tmp_path / "d.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        ("ext_id", "string"),
        ("talk_duration", "int64"),
        ("tags", "string"),
        ("comment", "string"),
    ]


def test_observer_sees_each_pass_afresh(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    span = ("2026-01-15", "2026-01-18")
    seen: list[list[str]] = []

    def observer() -> Any:
        seen.append([])
        return lambda batch: seen[-1].extend(record["ext_id"] for record in batch)

    with ChangingDataHook(emulator, span, passes=1) as hook:
        result = extract_window(
            hook,
            Window.build(*span, TZ),
            ReportQuery.build("get.uploaded_calls", page_size=60),
            tmp_path / "c.jsonl",
            observer=observer,
        )
    assert result.attempts == 2
    assert len(seen) == 2
    assert seen[-1] == [r["ext_id"] for r in read_jsonl(tmp_path / "c.jsonl")]


def test_observer_raising_aborts_the_write_and_keeps_the_previous_output(hook: UISHook, tmp_path: Path) -> None:
    target = tmp_path / "old.jsonl"
    target.write_bytes(b'{"previous": true}\n')

    def refuse(batch: Any) -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError, match="refused"):
        extract_window(
            hook,
            Window.build("2026-01-05", "2026-01-06", TZ),
            ReportQuery.build("get.uploaded_calls"),
            target,
            observer=lambda: refuse,
        )
    assert target.read_bytes() == b'{"previous": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["old.jsonl"]


# -- typed pages: the same bytes as record by record, and what happens to a column the API adds ----------------------


def forbid_record_by_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any record written one by one (instead of in a typed page) fail the test."""

    def refuse(self: Any, record: Any) -> None:
        raise AssertionError("a page was written record by record")

    for writer in (jsonl._JsonLinesWriter, csv_format._CsvWriter, parquet._ParquetWriter):
        monkeypatch.setattr(writer, "write", refuse)


def land(hook: UISHook, query: ReportQuery, path: Path, file_format: str, compression: str | None) -> bytes:
    window = Window.build("2026-01-03", "2026-01-12", TZ)
    extract_window(hook, window, query, str(path), file_format=file_format, compression=compression)
    return path.read_bytes()


def assert_typed_lands_as_plain(
    hook: UISHook,
    query: ReportQuery,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_format: str,
    compression: str | None,
) -> None:
    """Land ``query`` with typed pages only (record by record refused), then without msgspec: the same bytes."""
    with monkeypatch.context() as typed_only:
        forbid_record_by_record(typed_only)
        typed = land(hook, query, tmp_path / "typed", file_format, compression)
    monkeypatch.setattr(rows_module, "_msgspec", None)
    assert typed == land(hook, query, tmp_path / "plain", file_format, compression)
    assert len(typed) > 1000


@pytest.mark.parametrize("fields", [None, ["status", "ext_id", "tags", "talk_duration", "is_lost"]])
@pytest.mark.parametrize(("file_format", "compression"), [(f, c) for f in FILE_FORMATS for c in COMPRESSIONS])
def test_typed_pages_land_the_bytes_of_the_record_by_record_path(
    hook: UISHook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_format: str,
    compression: str | None,
    fields: list[str] | None,
) -> None:
    query = ReportQuery.build("get.uploaded_calls", page_size=150, fields=fields)
    assert_typed_lands_as_plain(hook, query, tmp_path, monkeypatch, file_format, compression)


class AddingProxy:
    """A loopback HTTP server in front of the emulator that adds a column to every uploaded call it answers, as an
    API that grew a column would."""

    def __init__(self, upstream: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = requests.post(upstream, data=body, headers={"Content-Type": "application/json"}, timeout=60)
                payload = answer.json()
                records = (payload.get("result") or {}).get("data")
                if isinstance(records, list):
                    for record in records:
                        record["added_column"] = {"z": record["ext_id"], "a": [1, None]}
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{upstream[upstream.index('/v') :]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def adding_hook(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[UISHook]:
    proxy = AddingProxy(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_ADDING", shared_conn_json(proxy.url))
    try:
        with UISHook("uis_adding") as uis_hook:
            yield uis_hook
    finally:
        proxy.stop()


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_a_column_the_api_adds_is_kept_in_json_lines_left_out_of_a_fixed_header_and_named(
    adding_hook: UISHook,
    hook: UISHook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    file_format: str,
) -> None:
    query = ReportQuery.build("get.uploaded_calls", page_size=150)
    with caplog.at_level(logging.WARNING, logger="uis_provider.extract"):
        added = land(adding_hook, query, tmp_path / "added", file_format, None)
    warnings = [r.getMessage() for r in caplog.records if "added_column" in r.getMessage()]
    assert len(warnings) == 1
    assert "JSON lines keep them" in warnings[0] and "CSV and parquet" in warnings[0]
    without = land(hook, query, tmp_path / "without", file_format, None)
    if file_format == "jsonl":
        lines = added.decode("utf-8").splitlines()
        assert len(lines) == len(without.decode("utf-8").splitlines()) > 150
        for line, original in zip(lines, without.decode("utf-8").splitlines(), strict=True):
            record = json.loads(line)
            assert list(record)[-1] == "added_column"
            assert record["added_column"] == {"a": [1, None], "z": record["ext_id"]}
            assert line.startswith(original[:-1] + ',"added_column":{"a":[1,null]')
    else:
        assert added == without
    monkeypatch.setattr(rows_module, "_msgspec", None)
    assert added == land(adding_hook, query, tmp_path / "plain", file_format, None)


def test_typed_and_plain_pages_are_kept_alike_inside_the_part() -> None:
    query = ReportQuery.build("get.uploaded_calls", fields=["ext_id", "status"])
    part = Window.build("2026-01-03", "2026-01-04", TZ)
    times = ["2026-01-02 23:59:59", "2026-01-03 00:00:00", "2026-01-03 12:00:00", "2026-01-04 00:00:00"]
    page = [{"ext_id": f"e{index}", "status": "ok", "upload_time": when} for index, when in enumerate(times)]
    row_type = row_type_for(query.method, query.columns, query.request_fields)
    assert row_type is not None
    typed, plain = ExtractProgress(), ExtractProgress()
    rows = row_type.decode(json.dumps(page).encode("utf-8"))
    assert rows is not None
    kept_rows = _kept_batch(part, query, typed, rows)
    kept_plain = _kept_batch(part, query, plain, [dict(record) for record in page])
    assert isinstance(kept_rows, Rows)
    assert (
        kept_rows.records() == list(kept_plain) == [{"ext_id": "e1", "status": "ok"}, {"ext_id": "e2", "status": "ok"}]
    )
    assert (typed.records, typed.dropped) == (plain.records, plain.dropped) == (2, 2)

    inside = [{**record, "upload_time": "2026-01-03 10:00:00"} for record in page]
    whole = row_type.decode(json.dumps(inside).encode("utf-8"))
    assert whole is not None and _kept_batch(part, query, ExtractProgress(), whole) is whole

    for broken, error in ((None, UISError), ("2026-01-03T10:00:00", UISTransportError), ("٢٠٢٦-01-03 10:00:00", None)):
        odd = [*inside[:2], {**inside[2], "upload_time": broken}]
        typed_page = row_type.decode(json.dumps(odd).encode("utf-8"))
        assert typed_page is not None
        if error is None:  # non-ASCII digits: the time format matches, the string order puts it outside the part
            assert len(_kept_batch(part, query, ExtractProgress(), typed_page)) == len(
                _kept_batch(part, query, ExtractProgress(), [dict(r) for r in odd])
            )
            continue
        for records in (typed_page, [dict(r) for r in odd]):
            with pytest.raises(error, match=r"upload_time|not 'YYYY-MM-DD hh:mm:ss'"):
                _kept_batch(part, query, ExtractProgress(), records)


REPORT_FIELDS = ["id", "start_time", "direction", "is_lost", "talk_duration", "call_records", "tags", "campaign_name"]


@pytest.mark.parametrize("fields", [REPORT_FIELDS, REPORT_FIELDS[2:]])  # without its time and unique fields too
@pytest.mark.parametrize(("file_format", "compression"), [(f, c) for f in FILE_FORMATS for c in COMPRESSIONS])
def test_a_report_paged_by_time_lands_typed_pages_with_the_bytes_of_the_record_by_record_path(
    hook: UISHook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file_format: str,
    compression: str | None,
    fields: list[str],
) -> None:
    query = ReportQuery.build("get.calls_report", fields=fields, page_size=200)
    assert query.pages_by_time
    assert_typed_lands_as_plain(hook, query, tmp_path, monkeypatch, file_format, compression)
