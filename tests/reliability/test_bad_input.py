"""Bad input to every operator and the sensor fails before any API call, with a message naming the parameter;
validation errors the API itself answers surface with the field it names and are never retried.

Each case runs against a live emulator and asserts ``api.count() == 0``: a check that let the request through would
show up there. Date windows in DST-observing account zones are checked both ways: bad mixes are refused, good ones
land every record of the day exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest

from uis_provider.exceptions import UISConfigurationError, UISInvalidParamsError
from uis_provider.hooks.uis import UISHook
from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.operators.upload_calls import UISUploadCallsOperator
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS, ReportMethod
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.windows import ZERO_WINDOW_HINT
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.testing import UISEmulator

from .conftest import FAST, LOGIN, TZ, emulator, read_jsonl, set_conn

DAY = pendulum.datetime(2026, 1, 14, tz=TZ)
CONTEXT = {"data_interval_start": DAY, "data_interval_end": DAY.add(days=1)}
LEAF = {"field": "status", "operator": "=", "value": "processed"}
THREE_LEVELS = {"filters": [{"filters": [{"filters": [LEAF]}]}], "condition": "and"}


@pytest.fixture
def conns(api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> UISEmulator:
    """Connections for every case: a good one (time zone known, so no ``get.account``) and broken ones."""
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    set_conn(monkeypatch, "uis_nokey", api.url, password="")
    set_conn(monkeypatch, "uis_loginonly", api.url, login=LOGIN, password="")
    set_conn(monkeypatch, "uis_ftp", "ftp://dataapi.example.ru/v2.0")
    set_conn(monkeypatch, "uis_badtimeout", api.url, timeout="soon")
    set_conn(monkeypatch, "uis_badzone", api.url, timezone="Mars/Olympus_Mons")
    set_conn(monkeypatch, "uis_baduser", api.url, user_id="agent-7")
    monkeypatch.delenv("AIRFLOW_CONN_UIS_MISSING", raising=False)
    monkeypatch.chdir(tmp_path)
    api.reset_log()
    return api


def refused(action: Callable[[], Any], needle: str, api: UISEmulator) -> str:
    """Run ``action``; it must raise :class:`UISConfigurationError` naming ``needle`` before any API call."""
    with pytest.raises(UISConfigurationError) as error:
        action()
    text = str(error.value)
    assert needle in text, text
    assert api.count() == 0, f"{api.count()} API call(s) were made before the bad input was noticed"
    return text


# -- the extract operators ---------------------------------------------------------------------------------

EXTRACT_STATIC = [
    ({"page_size": 0}, "page_size"),
    ({"page_size": 10_001}, "page_size"),
    ({"page_size": "many"}, "page_size"),
    ({"page_size": True}, "page_size"),
    ({"page_size": 2.5}, "page_size"),
    ({"max_window_days": 0}, "max_window_days"),
    ({"max_window_days": "week"}, "max_window_days"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": -2}, "max_attempts"),
    ({"file_format": "xml"}, "file_format"),
    ({"file_format": None}, "file_format"),
    ({"compression": "zip"}, "compression"),
    ({"compression": True}, "compression"),
]


@pytest.mark.parametrize(("kwargs", "needle"), EXTRACT_STATIC)
def test_extract_static_options_fail_when_the_dag_is_parsed(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], needle: str
) -> None:
    options = {"task_id": "extract", "output_path": str(tmp_path / "out.jsonl"), **kwargs}
    refused(lambda: UISUploadedCallsToStorageOperator(**options), needle, conns)


@pytest.mark.parametrize(
    ("method", "needle"),
    [(123, "method"), ("upload.calls", "method"), ("calls_report", "method"), (None, "method")],
)
def test_report_method_is_checked_when_the_dag_is_parsed(
    conns: UISEmulator, tmp_path: Path, method: Any, needle: str
) -> None:
    options = {"task_id": "extract", "output_path": str(tmp_path / "out.jsonl"), "method": method}
    refused(lambda: UISReportToStorageOperator(**options), needle, conns)


EXTRACT_RUNTIME = [
    # the window
    ({"date_from": 20260114, "date_till": "2026-01-15"}, CONTEXT, "date_from"),
    ({"date_from": "2026-01-14", "date_till": ["2026-01-15"]}, CONTEXT, "date_till"),
    ({"date_from": "yesterday", "date_till": "2026-01-15"}, CONTEXT, "date_from"),
    ({"date_from": "2026-01-14", "date_till": "2026-02-30"}, CONTEXT, "date_till"),
    ({"date_from": "2026-01-15", "date_till": "2026-01-14"}, CONTEXT, "swap them"),
    ({"date_from": "2026-01-14 10:00", "date_till": "2026-01-14 10:00"}, CONTEXT, "is empty"),
    ({}, {}, "no data interval"),
    ({}, {"data_interval_start": DAY, "data_interval_end": DAY}, ZERO_WINDOW_HINT[:50]),
    ({"date_from": "2026-01-10"}, CONTEXT, "date_from='2026-01-10' is set but date_till is not"),
    ({"date_till": "2026-01-20"}, CONTEXT, "date_from='{{ data_interval_start }}' keeps"),
    ({"date_from": "2026-01-10"}, {}, "Give both date_from and date_till"),
    # what to ask for
    ({"fields": "ext_id"}, CONTEXT, "fields"),
    ({"fields": []}, CONTEXT, "fields"),
    ({"fields": ["ext_id", 7]}, CONTEXT, "fields"),
    ({"fields": ["ext_id", "duration"]}, CONTEXT, "fields"),
    ({"fields": ["ext_id", "ext_id"]}, CONTEXT, "fields"),
    ({"filter": [LEAF]}, CONTEXT, "filter"),
    ({"filter": "status = processed"}, CONTEXT, "filter"),
    ({"filter": THREE_LEVELS}, CONTEXT, "filter nests 3 levels"),
    ({"filter": {**LEAF, "operator": "~"}}, CONTEXT, "filter.operator"),
    ({"filter": {**LEAF, "operator": "between"}}, CONTEXT, "filter.operator"),
    ({"filter": {**LEAF, "field": "duration"}}, CONTEXT, "filter.field"),
    ({"filter": {**LEAF, "field": "upload_time"}}, CONTEXT, "filter.field"),
    ({"filter": {**LEAF, "negate": True}}, CONTEXT, "filter"),
    ({"filter": {"filters": [LEAF], "condition": "xor"}}, CONTEXT, "filter.condition"),
    ({"filter": {"filters": []}}, CONTEXT, "filter.filters"),
    ({"filter": {"filters": [LEAF, {**LEAF, "operator": "=~"}]}}, CONTEXT, "filter.filters[1].operator"),
    ({"sort": "ext_id"}, CONTEXT, "sort"),
    ({"sort": [{"field": "tags"}]}, CONTEXT, "sort[0].field"),
    ({"sort": [{"field": "duration"}]}, CONTEXT, "sort[0].field"),
    ({"sort": [{"field": "ext_id", "order": "up"}]}, CONTEXT, "sort[0].order"),
    ({"sort": [{"order": "asc"}]}, CONTEXT, "sort[0]"),
    ({"user_id": "agent-7"}, CONTEXT, "user_id"),
    ({"user_id": 0}, CONTEXT, "user_id"),
    ({"user_id": -5}, CONTEXT, "user_id"),
    ({"user_id": True}, CONTEXT, "user_id"),
    ({"user_id": 1.5}, CONTEXT, "user_id"),
    ({"report_id": "monthly"}, CONTEXT, "report_id"),
    ({"report_id": 0}, CONTEXT, "report_id"),
    ({"extra_params": {"date_from": "2026-01-01"}}, CONTEXT, "extra_params"),
    ({"extra_params": {"offset": 10}}, CONTEXT, "extra_params"),
    ({"extra_params": {"access_token": "x"}}, CONTEXT, "extra_params"),
    # where to write
    ({"output_path": None}, CONTEXT, "output_path"),
    ({"output_path": ""}, CONTEXT, "output_path"),
    ({"output_path": "out/part-0.jsonl"}, CONTEXT, "output_path"),
    ({"output_path": "part-0.jsonl"}, CONTEXT, "output_path"),
    ({"output_path": "nosuchfs://bucket/key.jsonl"}, CONTEXT, "output_path"),
    ({"output_path": "file://host/tmp/x.jsonl"}, CONTEXT, "output_path"),
    ({"output_path": "/tmp/uis-out/"}, CONTEXT, "output_path"),
    ({"output_path": "/proc/uis-out/date=2026-01-14/part-0.jsonl"}, CONTEXT, "output_path"),
    ({"output_conn_id": "aws_default"}, CONTEXT, "output_conn_id='aws_default' is set, but output_path"),
    ({"output_path": "s3://bucket/uis/part-0.jsonl", "output_conn_id": "aws_typo"}, CONTEXT, "output_conn_id"),
    # which connection
    ({"uis_conn_id": "uis_missing"}, CONTEXT, "uis_conn_id='uis_missing'"),
    ({"uis_conn_id": None}, CONTEXT, "uis_conn_id"),
    ({"uis_conn_id": ""}, CONTEXT, "uis_conn_id"),
    ({"uis_conn_id": "uis_nokey"}, CONTEXT, "no API key or password"),
    ({"uis_conn_id": "uis_loginonly"}, CONTEXT, "no API key or password"),
    ({"uis_conn_id": "uis_ftp"}, CONTEXT, "host"),
    ({"uis_conn_id": "uis_badtimeout"}, CONTEXT, "'timeout'"),
    ({"uis_conn_id": "uis_badzone"}, CONTEXT, "'timezone'"),
    ({"uis_conn_id": "uis_baduser"}, CONTEXT, "'user_id'"),
]


@pytest.mark.parametrize(("kwargs", "context", "needle"), EXTRACT_RUNTIME)
def test_extract_bad_input_fails_before_any_call(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], context: dict[str, Any], needle: str
) -> None:
    options = {"task_id": "extract", "output_path": str(tmp_path / "out.jsonl"), **kwargs}
    refused(lambda: UISUploadedCallsToStorageOperator(**options).execute(context), needle, conns)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"uis_conn_id": "uis_nokey"}, "uis_nokey"),
        ({"uis_conn_id": "uis_ftp"}, "uis_ftp"),
    ],
)
def test_a_broken_connection_is_named_by_its_id(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], needle: str
) -> None:
    options = {"task_id": "extract", "output_path": str(tmp_path / "out.jsonl"), **kwargs}
    refused(lambda: UISUploadedCallsToStorageOperator(**options).execute(CONTEXT), needle, conns)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        pytest.param({"extra_params": ["report_id", 5]}, "extra_params", id="extra_params-list"),
        pytest.param({"output_path": 123}, "output_path", id="output_path-int"),
        pytest.param(
            {"file_format": "parquet", "column_kinds": {"wait_duration": "decimal"}}, "column_kinds", id="kinds"
        ),
    ],
)
def test_extract_bad_input_of_the_wrong_type_is_a_configuration_error(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], needle: str
) -> None:
    options = {"task_id": "extract", "output_path": str(tmp_path / "out.parquet"), **kwargs}
    refused(lambda: UISUploadedCallsToStorageOperator(**options).execute(CONTEXT), needle, conns)


# -- naive and aware datetimes in DST-observing account zones ------------------------------------------------

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


@pytest.mark.parametrize(
    ("zone", "date_from", "date_till", "needle"),
    [
        # aware start (08:00 EDT) after a naive end (07:00 New York): reversed once both are in the account zone
        (NEW_YORK, "2026-03-08T12:00:00+00:00", "2026-03-08 07:00:00", "swap them"),
        # the same instant written two ways across the spring-forward change: an empty window
        (NEW_YORK, "2026-03-08T07:00:00Z", "2026-03-08 03:00:00", "is empty"),
        # naive 02:30 does not exist on 2026-03-29 in Berlin: it is 03:30 CEST, so this window is empty
        (BERLIN, "2026-03-29 02:30:00", "2026-03-29T01:30:00+00:00", "is empty"),
        # on the fall-back day 02:10 CET (second pass) is after 02:30 CEST (first pass), though its wall clock is not
        (BERLIN, "2026-10-25T02:10:00+01:00", "2026-10-25T02:30:00+02:00", "swap them"),
        (NEW_YORK, "2026-11-01T01:00:00-05:00", "2026-11-01T01:00:00-04:00", "swap them"),
        (BERLIN, pendulum.datetime(2026, 10, 25, 12, tz="UTC"), "2026-10-25 08:00:00", "swap them"),
    ],
)
def test_mixed_naive_and_aware_windows_are_checked_in_the_account_zone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, zone: str, date_from: Any, date_till: Any, needle: str
) -> None:
    api = emulator(timezone=zone, start="2026-03-01", days=250)
    try:
        set_conn(monkeypatch, "uis_default", api.url, timezone=zone)
        op = UISUploadedCallsToStorageOperator(
            task_id="extract", output_path=str(tmp_path / "out.jsonl"), date_from=date_from, date_till=date_till
        )
        text = refused(lambda: op.execute({}), needle, api)
        assert "date_from" in text or "window" in text
    finally:
        api.stop()


@pytest.mark.parametrize(
    ("zone", "day", "minutes"),
    [
        (BERLIN, "2026-03-29", 60),
        (BERLIN, "2026-10-25", 60),
        (BERLIN, "2026-10-25", 20),
        (NEW_YORK, "2026-03-08", 60),
        (NEW_YORK, "2026-11-01", 60),
        (NEW_YORK, "2026-11-01", 30),
    ],
)
def test_utc_intervals_over_a_dst_change_land_the_local_day_exactly_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, zone: str, day: str, minutes: int
) -> None:
    local_day = pendulum.parse(day, tz=zone)
    api = emulator(timezone=zone, start=local_day.subtract(days=1).to_date_string(), days=3, calls=3000)
    try:
        set_conn(monkeypatch, "uis_default", api.url, timezone=zone)
        start, end = local_day.in_timezone("UTC"), local_day.add(days=1).in_timezone("UTC")
        steps = int((end - start).total_seconds() // (60 * minutes))
        assert steps * minutes == (23 if day in ("2026-03-29", "2026-03-08") else 25) * 60
        got: list[str] = []
        for step in range(steps):
            target = tmp_path / f"part-{step:03d}.jsonl"
            interval = {
                "data_interval_start": start.add(minutes=step * minutes),
                "data_interval_end": start.add(minutes=(step + 1) * minutes),
            }
            UISUploadedCallsToStorageOperator(task_id="extract", output_path=str(target)).execute(interval)
            got.extend(r["ext_id"] for r in read_jsonl(target))
        truth = [r["ext_id"] for r in api.records(day, local_day.add(days=1).to_date_string())]
        assert len(truth) > 50
        assert len(got) == len(set(got)), "a record landed in two windows"
        assert sorted(got) == sorted(truth), "a record of the local day landed in no window"
    finally:
        api.stop()


def test_a_naive_start_and_an_aware_end_in_another_zone_make_one_local_day(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = emulator(timezone=BERLIN, start="2026-03-28", days=3, calls=3000)
    try:
        set_conn(monkeypatch, "uis_default", api.url, timezone=BERLIN)
        # 2026-03-29 18:00 in New York (EDT) is 2026-03-30 00:00 in Berlin (CEST)
        op = UISUploadedCallsToStorageOperator(
            task_id="extract",
            output_path=str(tmp_path / "day.jsonl"),
            date_from="2026-03-29 00:00:00",
            date_till=pendulum.datetime(2026, 3, 29, 18, tz=NEW_YORK),
        )
        result = op.execute({})
        assert (result["date_from"], result["date_till"]) == ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")
        assert [r["ext_id"] for r in read_jsonl(tmp_path / "day.jsonl")] == sorted(
            r["ext_id"] for r in api.records("2026-03-29", "2026-03-30")
        )
        sent = [r["params"] for r in api.requests if r["method"] == "get.uploaded_calls"]
        assert [(p["date_from"], p["date_till"]) for p in sent] == [("2026-03-29 00:00:00", "2026-03-30 00:00:00")]
    finally:
        api.stop()


# -- the sensor ---------------------------------------------------------------------------------------------

SENSOR_RUNTIME = [
    ({"date_from": 20260114, "date_till": "2026-01-15"}, CONTEXT, "date_from"),
    ({"date_from": "2026-01-15", "date_till": "2026-01-14"}, CONTEXT, "swap them"),
    ({"date_from": "2026-01-14T12:00:00+03:00", "date_till": "2026-01-14 11:00:00"}, CONTEXT, "swap them"),
    ({}, {}, "no data interval"),
    ({"filter": THREE_LEVELS}, CONTEXT, "filter nests 3 levels"),
    ({"filter": {**LEAF, "operator": "~"}}, CONTEXT, "filter.operator"),
    ({"filter": {**LEAF, "field": "duration"}}, CONTEXT, "filter.field"),
    ({"filter": {**LEAF, "field": "records"}}, CONTEXT, "filter.field"),
    ({"filter": [LEAF]}, CONTEXT, "filter"),
    (
        {"filter": {"filters": [{"filters": [LEAF, LEAF]}, LEAF], "condition": "or"}, "ext_ids": ["a"]},
        CONTEXT,
        "allows 2",
    ),
    ({"ext_ids": "ext-1"}, CONTEXT, "ext_ids"),
    ({"ext_ids": [1, 2]}, CONTEXT, "ext_ids"),
    ({"ext_request_id": {"id": "a"}}, CONTEXT, "ext_request_id"),
    ({"ext_request_id": ["a", None]}, CONTEXT, "ext_request_id"),
    ({"ext_request_id": True}, CONTEXT, "ext_request_id"),
    ({"user_id": "agent-7"}, CONTEXT, "user_id"),
    ({"user_id": -1}, CONTEXT, "user_id"),
    ({"api_retry_policy": "fast"}, CONTEXT, "retry_policy"),
    ({"api_retry_policy": {"max_retries": 2}}, CONTEXT, "retry_policy"),
    ({"uis_conn_id": "uis_missing"}, CONTEXT, "uis_conn_id='uis_missing'"),
    ({"uis_conn_id": "uis_nokey"}, CONTEXT, "no API key or password"),
    ({"uis_conn_id": "uis_ftp"}, CONTEXT, "host"),
]


@pytest.mark.parametrize(("kwargs", "context", "needle"), SENSOR_RUNTIME)
def test_sensor_bad_input_fails_before_any_call(
    conns: UISEmulator, kwargs: dict[str, Any], context: dict[str, Any], needle: str
) -> None:
    options = {"task_id": "wait", "poke_interval": 0.05, "api_retry_policy": FAST, **kwargs}
    refused(lambda: UISUploadedCallsSensor(**options).poke(context), needle, conns)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pending_statuses": []}, "pending_statuses"),
        ({"pending_statuses": "new"}, "pending_statuses"),
        ({"pending_statuses": ["new", "done"]}, "pending_statuses"),
        ({"pending_statuses": ["processed"]}, "pending_statuses"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": "10"}, "page_size"),
    ],
)
def test_sensor_static_options_fail_when_the_dag_is_parsed(
    conns: UISEmulator, kwargs: dict[str, Any], needle: str
) -> None:
    refused(lambda: UISUploadedCallsSensor(task_id="wait", **kwargs), needle, conns)


# -- the upload operator ------------------------------------------------------------------------------------

GOOD_CALL = {
    "ext_id": "bad-input-1",
    "is_lost": False,
    "start_time": "2026-01-14 10:00:00",
    "finish_time": "2026-01-14 10:02:00",
    "mp3_records": [{"record_url": "https://records.example/ok.mp3"}],
}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "source_path"),
        ({"calls": [GOOD_CALL], "source_path": "/tmp/calls.jsonl"}, "source_path"),
        ({"calls": [GOOD_CALL], "on_invalid": "ignore"}, "on_invalid"),
        ({"calls": [GOOD_CALL], "batch_size": 0}, "batch_size"),
        ({"calls": [GOOD_CALL], "batch_size": 51}, "batch_size"),
        ({"calls": [GOOD_CALL], "batch_size": "fifty"}, "batch_size"),
        ({"calls": [GOOD_CALL], "file_format": "xml"}, "file_format"),
    ],
)
def test_upload_static_options_fail_when_the_dag_is_parsed(
    conns: UISEmulator, kwargs: dict[str, Any], needle: str
) -> None:
    refused(lambda: UISUploadCallsOperator(task_id="upload", **kwargs), needle, conns)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"source_path": "calls.jsonl"}, "source_path"),
        ({"source_path": "data/calls.jsonl"}, "source_path"),
        ({"source_path": "/nonexistent/calls.jsonl"}, "source_path"),
        ({"source_path": "/tmp/calls.xml"}, "source_path"),
        ({"calls": "ext_id=1"}, "calls"),
        ({"calls": GOOD_CALL}, "calls"),
        ({"calls": [GOOD_CALL], "user_id": "agent-7"}, "user_id"),
        ({"calls": [GOOD_CALL], "user_id": 0}, "user_id"),
        ({"calls": [GOOD_CALL], "request_id_prefix": "my batch"}, "request_id_prefix"),
        ({"calls": [GOOD_CALL], "request_id_prefix": "x" * 101}, "request_id_prefix"),
        ({"calls": [GOOD_CALL], "api_retry_policy": "fast"}, "retry_policy"),
    ],
)
def test_upload_bad_input_fails_before_any_call(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], needle: str
) -> None:
    if kwargs.get("source_path") == "/tmp/calls.xml":
        kwargs = {"source_path": str(tmp_path / "calls.xml")}
        (tmp_path / "calls.xml").write_text(json.dumps(GOOD_CALL) + "\n", encoding="utf-8")
    refused(lambda: UISUploadCallsOperator(task_id="upload", **kwargs).execute(CONTEXT), needle, conns)


@pytest.mark.parametrize(
    ("conn_id", "needle"), [("uis_missing", "uis_conn_id='uis_missing'"), ("uis_nokey", "no API key or password")]
)
def test_upload_with_a_broken_connection_says_so_before_any_batch(
    conns: UISEmulator, conn_id: str, needle: str
) -> None:
    text = refused(
        lambda: UISUploadCallsOperator(task_id="upload", calls=[GOOD_CALL], uis_conn_id=conn_id).execute(CONTEXT),
        needle,
        conns,
    )
    assert "batch" not in text


# -- the hook and the retry policy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"max_retries": "5"}, "max_retries"),
        ({"backoff_base": -0.5}, "backoff_base"),
        ({"backoff_base": "1"}, "backoff_base"),
        ({"backoff_max": -1}, "backoff_max"),
        ({"limit_margin": float("nan")}, "limit_margin"),
    ],
)
def test_retry_policy_values_are_checked_when_it_is_made(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle):
        RetryPolicy(**kwargs)


def test_hook_refuses_a_retry_policy_of_the_wrong_type(conns: UISEmulator) -> None:
    refused(lambda: UISHook("uis_default", retry_policy={"max_retries": 1}).call("get.account"), "retry_policy", conns)


# -- validation the API does itself -----------------------------------------------------------------------

UNRESTRICTED = ReportMethod(
    name=UPLOADED_CALLS.name, time_field="upload_time", key_field="ext_id", columns=UPLOADED_CALLS.columns
)


@pytest.mark.parametrize(
    ("kwargs", "mnemonic", "field", "shown"),
    [
        (
            {"method": UNRESTRICTED, "extra_params": {"group_by": "day"}},
            "unexpected_parameters",
            "group_by",
            "group_by",
        ),
        (
            {"filter": {"field": "wait_duration", "operator": ">", "value": "long"}},
            "invalid_parameter_value",
            "filter",
            "long",
        ),
        (
            {"method": UNRESTRICTED, "filter": {"field": "tags", "operator": "is_null"}},
            "filter_prohibited",
            "filter",
            "tags",
        ),
        ({"method": UNRESTRICTED, "sort": [{"field": "records"}]}, "sort_prohibited", "sort", "records"),
        ({"method": UNRESTRICTED, "sort": [{"field": "upload_time"}]}, "sort_prohibited", "sort", "upload_time"),
    ],
)
def test_api_validation_errors_name_the_field_and_are_not_retried(
    conns: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], mnemonic: str, field: str, shown: str
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"previous\n")
    options = {"method": "get.uploaded_calls", **kwargs}
    op = UISReportToStorageOperator(task_id="extract", output_path=str(target), **options)
    with pytest.raises(UISInvalidParamsError) as error:
        op.execute(CONTEXT)
    text = str(error.value)
    assert error.value.mnemonic == mnemonic
    assert error.value.field == field
    assert f"field={field}" in text
    assert shown in text
    assert f"Fix the parameter '{field}'" in text
    assert conns.count() == 1, "a caller error was retried"
    assert target.read_bytes() == b"previous\n"


def test_api_rejecting_a_date_names_it_once(conns: UISEmulator) -> None:
    with UISHook("uis_default", retry_policy=FAST) as hook, pytest.raises(UISInvalidParamsError) as error:
        hook.call("get.uploaded_calls", {"date_from": "2026-13-01 00:00:00", "date_till": "2026-01-02 00:00:00"})
    assert (error.value.mnemonic, error.value.field, error.value.value) == (
        "invalid_parameter_value",
        "date_from",
        "2026-13-01 00:00:00",
    )
    assert "field=date_from" in str(error.value)
    assert conns.count() == 1
