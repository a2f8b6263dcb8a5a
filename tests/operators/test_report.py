"""``UISReportToStorageOperator`` against the UIS emulator: any report method, formats, validation, XCom, lineage."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import logging
import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import conn_json
from uis_provider.exceptions import (
    UISConfigurationError,
    UISInvalidParamsError,
    UISPermissionError,
    UISRateLimitError,
    UISTransportError,
)
from uis_provider.operators.report import UISReportToStorageOperator, lineage_names, output_uri
from uis_provider.protocol.methods import CALLS_REPORT, UPLOADED_CALLS
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.storage.atomic import to_storage_path
from uis_provider.testing import UISEmulator
from uis_provider.transport import sync

TZ = "Europe/Moscow"
API_KEY = "test-api-key-7f3a9c"


def interval(day: int, days: int = 1) -> dict[str, Any]:
    """A task context holding the data interval of Moscow days ``[2026-01-<day>, +days)`` (in UTC, as Airflow does)."""
    start = pendulum.datetime(2026, 1, day, tz=TZ)
    return {
        "data_interval_start": start.in_timezone("UTC"),
        "data_interval_end": start.add(days=days).in_timezone("UTC"),
    }


def uploaded_calls(tmp_path: Path, name: str = "out.jsonl", **kwargs: Any) -> UISReportToStorageOperator:
    """The general operator on ``get.uploaded_calls`` writing under ``tmp_path``."""
    kwargs.setdefault("output_path", str(tmp_path / name))
    return UISReportToStorageOperator(task_id="extract", method="get.uploaded_calls", **kwargs)


def by_key(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Records ordered by their unique key (the engine's order inside one part of a method sorted by that key)."""
    return sorted(records, key=lambda r: r[key])


def by_time(records: list[dict[str, Any]], time_field: str = "start_time") -> list[dict[str, Any]]:
    """Records in the order a method without a sortable key is read: by time, then by ``id``."""
    return sorted(records, key=lambda r: (r[time_field], r["id"]))


def test_calls_report_lands_through_the_general_operator(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    op = UISReportToStorageOperator(
        task_id="calls_report", method="get.calls_report", output_path=f"file://{tmp_path}/calls.jsonl"
    )
    emulator.reset_log()
    result = op.execute(interval(6, days=3))
    rows = emulator.report_rows("2026-01-06", "2026-01-09")
    got = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) > 0
    assert got == [{c: r[c] for c in CALLS_REPORT.columns} for r in by_time(rows)]
    assert any(r["source"] == "upload_calls" for r in got)
    assert all(list(r) == list(CALLS_REPORT.columns) for r in got)
    body = (tmp_path / "calls.jsonl").read_bytes()
    assert result == {
        "path": f"file://{tmp_path}/calls.jsonl",
        "records": len(rows),
        "date_from": "2026-01-06T00:00:00+03:00",
        "date_till": "2026-01-09T00:00:00+03:00",
        "api_calls": emulator.count(),
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "manifest": f"file://{tmp_path}/calls.jsonl.manifest.json",
        "final": True,
    }
    assert emulator.count("get.calls_report") == 1
    assert emulator.count("get.account") == 1


def test_calls_report_parquet_takes_the_methods_column_kinds(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "calls.parquet"
    fields = ["id", "start_time", "total_duration", "visitor_session_id", "is_lost", "is_transfer", "sale_cost"]
    fields += ["finish_reason", "call_records", "campaign_name"]
    op = UISReportToStorageOperator(
        task_id="calls_report",
        method="get.calls_report",
        output_path=str(path),
        file_format="parquet",
        fields=fields,
        column_kinds={"campaign_name": "json"},
    )
    op.execute(interval(6, days=3))
    table = pq.read_table(path)
    kinds = {field.name: str(field.type) for field in table.schema}
    assert kinds["id"] == kinds["total_duration"] == kinds["visitor_session_id"] == "int64"
    assert kinds["is_lost"] == kinds["is_transfer"] == "bool"
    assert kinds["sale_cost"] == "double"
    assert kinds["finish_reason"] == kinds["call_records"] == kinds["campaign_name"] == "string"
    rows = by_time(emulator.report_rows("2026-01-06", "2026-01-09"))
    got = table.to_pylist()
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert [r["is_lost"] for r in got] == [r["is_lost"] for r in rows]
    assert [json.loads(r["call_records"]) for r in got] == [r["call_records"] for r in rows]
    # the user's kind overrides: a string column holding JSON text of the value
    assert [r["campaign_name"] for r in got] == [
        None if r["campaign_name"] is None else json.dumps(r["campaign_name"], ensure_ascii=False) for r in rows
    ]


def test_prefetch_pages_reaches_the_hook_and_changes_neither_output_nor_calls(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []
    real_pool = sync.FlowPool

    def recording_pool(endpoint: str, workers: int, *rest: Any) -> sync.FlowPool:
        pools.append(workers)
        return real_pool(endpoint, workers, *rest)

    monkeypatch.setattr(sync, "FlowPool", recording_pool)
    outputs, calls, workers = [], [], []
    for depth in (0, 3):
        path = tmp_path / f"depth-{depth}.jsonl"
        emulator.reset_log()
        pools.clear()
        op = uploaded_calls(tmp_path, output_path=str(path), page_size=100, prefetch_pages=depth)
        result = op.execute(interval(5, days=4))
        outputs.append(path.read_bytes())
        calls.append((result["api_calls"], emulator.count()))
        workers.append(list(pools))
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") > 300
    assert calls[0] == calls[1] and calls[0][0] == calls[0][1]
    assert workers == [[], [3]]


def test_xcom_is_json_and_holds_no_secret(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    result = uploaded_calls(tmp_path).execute(interval(4))
    text = json.dumps(result)
    assert API_KEY not in text
    assert set(result) == {
        *("path", "records", "date_from", "date_till", "api_calls"),
        *("bytes", "sha256", "manifest", "final", "pending"),
    }
    assert result["records"] == len(emulator.records("2026-01-04", "2026-01-05")) > 0


def test_api_calls_counts_retries_too(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    emulator.reset_log()
    emulator.faults.script(["http_502"])
    result = uploaded_calls(tmp_path, page_size=40).execute(interval(10))
    assert emulator.faults.injected == 1
    assert result["api_calls"] == emulator.count()
    assert result["api_calls"] == 1 + 1 + -(-result["records"] // 40)


def test_api_retry_policy_reaches_the_hook(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    emulator.faults.script(["http_502"])
    with pytest.raises(UISTransportError, match="HTTP 502"):
        uploaded_calls(tmp_path, api_retry_policy=RetryPolicy(max_retries=0)).execute(interval(10))
    assert emulator.count() == 1  # the first call (get.account for the time zone) failed and was not retried
    assert not (tmp_path / "out.jsonl").exists()


def read_back(path: Path, file_format: str, compression: str | None) -> list[dict[str, Any]]:
    """Records of an output file, decoded by format (CSV cells stay text, as a CSV reader gives them)."""
    raw = path.read_bytes()
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(raw)).to_pylist()
    text = (gzip.decompress(raw) if compression == "gzip" else raw).decode("utf-8")
    if file_format == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines()]


def as_written(record: dict[str, Any], file_format: str) -> dict[str, Any]:
    """What a ground-truth record must read back as, per format."""
    out: dict[str, Any] = {}
    for column in UPLOADED_CALLS.columns:
        value = record[column]
        nested = isinstance(value, (list, dict))
        if file_format == "csv":
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif nested:
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            else:
                value = str(value)
        elif file_format == "parquet" and nested:
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        out[column] = value
    return out


@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_formats_round_trip(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, file_format: str, compression: str | None
) -> None:
    path = tmp_path / f"calls.{file_format}"
    result = uploaded_calls(
        tmp_path, name=path.name, file_format=file_format, compression=compression, page_size=40
    ).execute(interval(12, days=2))
    truth = by_key(emulator.records("2026-01-12", "2026-01-14"), "ext_id")
    got = read_back(path, file_format, compression)
    assert result["records"] == len(got) == len(truth) > 40
    assert got == [as_written(r, file_format) for r in truth]
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (compression == "gzip" and file_format != "parquet")


BAD_AT_EXECUTE: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = [
    ({}, {}, "CronDataIntervalTimetable"),
    ({}, {"data_interval_start": None, "data_interval_end": None}, "no data interval"),
    ({}, {**interval(4, days=0)}, "CronDataIntervalTimetable"),
    ({"date_from": "2026-01-05", "date_till": "2026-01-04"}, None, "date_from .* is after date_till"),
    (
        {"date_from": "the day before yesterday"},
        None,
        "date_from='the day before yesterday' is refused: it is not a date",
    ),
    ({"date_till": "2026-13-45"}, None, "date_till"),
    ({"filter": {"field": "status", "operator": "equals", "value": "new"}}, None, "filter.operator='equals'"),
    (
        {
            "filter": {
                "filters": [{"filters": [{"filters": [{"field": "status", "operator": "=", "value": "processed"}]}]}]
            }
        },
        None,
        "filter nests 3 levels",
    ),
    ({"fields": ["ext_id", "duration"]}, None, "fields holds 'duration'"),
    ({"sort": [{"field": "records"}]}, None, r"sort\[0\]\.field='records' cannot be sorted"),
    ({"user_id": "client-7"}, None, "user_id must be a positive whole number"),
    ({"output_path": "relative/out.jsonl"}, None, "output_path must be an absolute local path"),
    ({"output_path": "nosuchscheme://bucket/key"}, None, "nosuchscheme"),
]


@pytest.mark.parametrize(("kwargs", "context", "message"), BAD_AT_EXECUTE)
def test_bad_input_fails_before_any_api_call(
    uis_conn: str,
    emulator: UISEmulator,
    tmp_path: Path,
    kwargs: dict[str, Any],
    context: dict[str, Any] | None,
    message: str,
) -> None:
    op = uploaded_calls(tmp_path, **kwargs)
    with pytest.raises(UISConfigurationError, match=message):
        op.execute(interval(4) if context is None else context)
    assert emulator.count() == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page_size": 0}, "page_size=0 is out of range"),
        ({"page_size": 20_000}, "page_size=20000 is out of range"),
        ({"file_format": "xlsx"}, "file_format must be one of 'jsonl', 'csv', 'parquet'; got 'xlsx'"),
        ({"compression": "zip"}, "compression must be one of None, 'gzip'; got 'zip'"),
        ({"max_window_days": -1}, "max_window_days must be a positive whole number"),
        ({"max_attempts": 0}, "max_attempts must be a positive whole number"),
        ({"prefetch_pages": -1}, r"prefetch_pages must be a whole number >= 0 \(0 = sequential\), got -1"),
    ],
)
def test_bad_static_options_fail_when_the_dag_is_parsed(
    emulator: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UISConfigurationError, match=message):
        uploaded_calls(tmp_path, **kwargs)
    with pytest.raises(UISConfigurationError, match="method must name a get"):
        UISReportToStorageOperator(task_id="x", method="upload.calls", output_path=str(tmp_path / "x"))
    assert emulator.count() == 0


def test_template_needing_a_missing_interval_says_what_to_do(tmp_path: Path) -> None:
    op = uploaded_calls(tmp_path, output_path=str(tmp_path) + "/date={{ data_interval_start | ds }}/part-0.jsonl")
    with pytest.raises(UISConfigurationError, match=r"no data interval.*CronDataIntervalTimetable"):
        op.render_template_fields({})


def test_templated_fields_render_from_the_context(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    op = uploaded_calls(
        tmp_path,
        output_path=str(tmp_path) + "/date={{ data_interval_start.in_timezone('Europe/Moscow') | ds }}/part-0.jsonl",
        filter={"field": "status", "operator": "=", "value": "{{ params.status }}"},
        fields=["ext_id", "{{ params.column }}"],
        sort=[{"field": "{{ params.column }}", "order": "desc"}],
        date_from="{{ data_interval_start }}",
        date_till="{{ data_interval_end }}",
    )
    context = {**interval(7), "params": {"status": "error", "column": "error_code"}}
    op.render_template_fields(context)
    assert op.filter == {"field": "status", "operator": "=", "value": "error"}
    emulator.reset_log()
    result = op.execute(context)
    out = tmp_path / "date=2026-01-07" / "part-0.jsonl"
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    errors = [r for r in emulator.records("2026-01-07", "2026-01-08") if r["status"] == "error"]
    expected = sorted(by_key(errors, "ext_id"), key=lambda r: r["error_code"], reverse=True)
    assert got == [{"ext_id": r["ext_id"], "error_code": r["error_code"]} for r in expected]
    assert result["records"] == len(errors) > 0
    assert result["path"].endswith("/date=2026-01-07/part-0.jsonl")


def test_user_id_parameter_overrides_the_connections(
    emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UIS_AGENT", conn_json(emulator.url, password=API_KEY, user_id=700101))
    uploaded_calls(tmp_path, name="a.jsonl", uis_conn_id="uis_agent").execute(interval(4))
    assert {e["params"].get("user_id") for e in emulator.requests} == {700101}
    emulator.reset_log()
    uploaded_calls(tmp_path, name="b.jsonl", uis_conn_id="uis_agent", user_id="700102").execute(interval(4))
    assert {e["params"].get("user_id") for e in emulator.requests if e["method"] == "get.uploaded_calls"} == {700102}


def test_a_failed_run_leaves_the_previous_output(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b'{"previous": 1}\n')
    emulator.disable_method("get.uploaded_calls")
    with pytest.raises(UISPermissionError, match="method_component_disabled"):
        uploaded_calls(tmp_path).execute(interval(4))
    assert target.read_bytes() == b'{"previous": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_empty_window_writes_a_valid_empty_output(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    result = uploaded_calls(tmp_path, name="empty.csv", file_format="csv").execute(
        {"data_interval_start": pendulum.datetime(2025, 6, 1, tz=TZ), "data_interval_end": "2025-06-02T00:00:00+03:00"}
    )
    assert result["records"] == 0
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8") == ",".join(UPLOADED_CALLS.columns) + "\n"


def test_naive_dates_are_read_in_the_account_time_zone(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    result = uploaded_calls(tmp_path, date_from="2026-01-04 06:00", date_till=pendulum.naive(2026, 1, 4, 18)).execute(
        {}
    )
    assert (result["date_from"], result["date_till"]) == ("2026-01-04T06:00:00+03:00", "2026-01-04T18:00:00+03:00")
    assert result["records"] == len(emulator.records("2026-01-04 06:00:00", "2026-01-04 18:00:00")) > 0


def test_lineage_names_the_api_method_and_the_written_object() -> None:
    source, target = lineage_names(
        "https://dataapi.uiscom.ru/v2.0", "get.uploaded_calls", to_storage_path("file:///data/uis/day.jsonl")
    )
    assert source == ("https://dataapi.uiscom.ru", "get.uploaded_calls")
    assert target == ("file", "/data/uis/day.jsonl")
    _, s3 = lineage_names("https://x/v2.0", "get.calls_report", to_storage_path("s3://bucket/uis/day=1/part-0.jsonl"))
    assert s3 == ("s3://bucket", "uis/day=1/part-0.jsonl")


def test_output_uri_is_a_plain_uri_without_connection_id(s3_conn: str) -> None:
    assert output_uri(to_storage_path("/data/uis/day.jsonl")) == "file:///data/uis/day.jsonl"
    assert output_uri(to_storage_path("file:///data/uis/day.jsonl")) == "file:///data/uis/day.jsonl"
    assert output_uri(to_storage_path("s3://aws_s3@bucket/uis/day.jsonl")) == "s3://bucket/uis/day.jsonl"
    assert output_uri(to_storage_path("memory://bucket/uis/day.jsonl")) == "memory://bucket/uis/day.jsonl"


def test_openlineage_facets_when_the_provider_is_installed(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    op = uploaded_calls(tmp_path)
    op.execute(interval(4))
    if importlib.util.find_spec("airflow.providers.openlineage") is None:
        with pytest.raises(ImportError):
            op.get_openlineage_facets_on_complete(None)
        return
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(emulator.url.rsplit("/", 1)[0], "get.uploaded_calls")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", str(tmp_path / "out.jsonl"))]


def test_template_fields_cover_what_users_template() -> None:
    assert {"date_from", "date_till", "output_path", "filter", "fields", "user_id", "sort"} <= set(
        UISReportToStorageOperator.template_fields
    )


def test_an_unknown_method_names_itself_and_the_known_report_methods(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    """Issue 15 item 6: not just 'Fix the request parameters' — and now refused when the DAG is parsed."""
    emulator.reset_log()
    with pytest.raises(UISConfigurationError) as caught:
        UISReportToStorageOperator(task_id="t", method="get.call_report", output_path=str(tmp_path / "x.jsonl"))
    message = str(caught.value)
    assert "method='get.call_report' is not a method the provider knows" in message
    assert "get.calls_report, get.call_legs_report" in message
    assert emulator.count() == 0
    # a method the API does not have, called through the hook, says what the API answered and what is known
    from uis_provider.hooks.uis import UISHook

    with UISHook() as hook, pytest.raises(UISInvalidParamsError) as answered:
        hook.call("get.call_report")
    text = str(answered.value)
    assert "The API has no method 'get.call_report'" in text
    assert "get.calls_report, get.call_legs_report" in text
    assert "Fix the request parameters" not in text
    assert not (tmp_path / "x.jsonl").exists()


def test_an_unreachable_store_is_named_before_any_call(uis_conn: str, emulator: UISEmulator) -> None:
    """Issue 15 item 4: ftp://127.0.0.1:<closed>/x.jsonl used to call get.account, then fail with a bare
    ConnectionRefusedError, logging the URI without its host."""
    import socket

    from airflow.providers.common.compat.sdk import ObjectStoragePath

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    op = UISReportToStorageOperator(
        task_id="t", method="get.calls_report", output_path=f"ftp://127.0.0.1:{port}/x.jsonl"
    )
    with pytest.raises(UISConfigurationError, match=f"cannot open the store 'ftp://127.0.0.1:{port}'") as caught:
        op.execute(interval(4))
    assert "ConnectionRefusedError" in str(caught.value)
    assert emulator.count() == 0
    assert output_uri(ObjectStoragePath("ftp://127.0.0.1:2121/dir/x.jsonl")) == "ftp://127.0.0.1:2121/dir/x.jsonl"


@pytest.mark.parametrize("bad", [0, -1, "later", timedelta(0)])
def test_budget_timeout_is_checked_when_the_dag_is_parsed(bad: Any, tmp_path: Path) -> None:
    with pytest.raises(UISConfigurationError, match="budget_timeout must be a number of seconds > 0"):
        uploaded_calls(tmp_path, budget_timeout=bad)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"budget_timeout": 2}, "deadline (budget_timeout=2 s)"),
        ({"execution_timeout": timedelta(seconds=20)}, "deadline (the task's execution_timeout of 20 s"),
    ],
)
def test_waiting_for_the_minute_budget_ends_at_a_named_deadline_and_writes_nothing(
    make_emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    api = make_emulator(minute_limit=1, minute_window=120.0)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url, timezone=TZ))
    op = uploaded_calls(tmp_path, page_size=10, **options)
    with pytest.raises(UISRateLimitError, match=re.escape(named)) as info:
        op.execute(interval(6))
    assert info.value.limit_type == "minute"
    assert "an Airflow pool per UIS connection" in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert api.count("get.uploaded_calls") == 1, "it failed before waiting, not after"


def test_long_extracts_log_progress_lines_and_a_summary(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uis_provider.extract")
    result = uploaded_calls(tmp_path, page_size=5).execute(interval(6, days=2))
    pages = math.ceil(result["records"] / 5)
    assert pages > 20
    lines = [record.getMessage() for record in caplog.records if record.name == "uis_provider.extract"]
    progress = [line for line in lines if line.startswith("progress: ")]
    assert [line.split(",")[0] for line in progress] == [
        f"progress: {done}/{pages} pages" for done in range(10, pages, 10)
    ]
    assert all(f"/{result['records']} records" in line and "left" in line for line in progress)
    summary = [line for line in lines if line.startswith("done: ")]
    assert summary == [summary[0]] and summary[0].startswith(f"done: {pages} pages, {result['records']} records")
