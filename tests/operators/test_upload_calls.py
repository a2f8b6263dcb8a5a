"""``UISUploadCallsOperator`` against the UIS emulator over loopback: batching at both limits, validation, retries.

Every upload is checked against the emulator's ground truth (``api.records()``): what arrived, under which request
id, and that no call exists twice.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from tests.conftest import API_KEY, EMULATOR_DEFAULTS, MotoS3, airflow_store_cache, conn_json
from uis_provider.exceptions import UISConfigurationError
from uis_provider.hooks.uis import UISHook
from uis_provider.operators.upload_calls import UISUploadCallsOperator
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_plan import MAX_REQUEST_BYTES
from uis_provider.testing import UISEmulator

TZ = "Europe/Moscow"
FAST_RETRIES = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05)


@dataclass
class StubTI:
    """The task-instance identity the operator reads, and the XComs it pushes."""

    dag_id: str = "uploads"
    task_id: str = "upload_calls"
    run_id: str = "scheduled__2026-01-15T00:00:00+03:00"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def context(ti: StubTI | None = None, day: int = 14) -> dict[str, Any]:
    """A task context: the task instance and the data interval of the Moscow day 2026-01-<day>."""
    start = pendulum.datetime(2026, 1, day, tz=TZ)
    return {"ti": ti or StubTI(), "data_interval_start": start, "data_interval_end": start.add(days=1)}


def make_call(n: int, prefix: str = "op", **changes: Any) -> dict[str, Any]:
    """A valid call with an mp3 recording."""
    call: dict[str, Any] = {
        "ext_id": f"{prefix}-{n:05d}",
        "direction": "in",
        "calling_phone_number": f"7916{n:07d}",
        "called_phone_number": "74951234567",
        "start_time": "2026-01-14 10:00:00",
        "finish_time": "2026-01-14 10:04:00",
        "is_lost": False,
        "wait_duration": 10,
        "talk_duration": 230,
        "mp3_records": [{"record_url": f"https://records.example.ru/2026/01/14/{n}.mp3"}],
    }
    call.update(changes)
    return call


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def uploads(api: UISEmulator) -> list[dict[str, Any]]:
    """The upload.calls requests the emulator received."""
    return [r for r in api.requests if r["method"] == "upload.calls"]


def truth(api: UISEmulator, prefix: str = "op-") -> list[dict[str, Any]]:
    """Ground truth: the uploaded-call records this test created."""
    return [r for r in api.records() if r["ext_id"].startswith(prefix)]


def operator(**kwargs: Any) -> UISUploadCallsOperator:
    kwargs.setdefault("api_retry_policy", FAST_RETRIES)
    return UISUploadCallsOperator(task_id="upload_calls", **kwargs)


def test_calls_go_in_batches_of_50_each_under_its_own_request_id(uis_conn: str, emulator: UISEmulator) -> None:
    calls = [make_call(n) for n in range(120)]
    ti = StubTI()
    emulator.reset_log()
    result = operator(calls=calls).execute(context(ti))

    sent = uploads(emulator)
    assert [len(r["params"]["calls"]) for r in sent] == [50, 50, 20]
    assert [r["id"] for r in sent] == result["request_ids"] == ti.pushed["request_ids"]
    assert len(set(result["request_ids"])) == 3
    assert all(r["error"] is None for r in sent)
    assert result["sent"] == 120 and result["batches"] == 3 and result["skipped"] == []
    assert result["uploaded_before"] == ti.pushed["uploaded_before"]
    records = truth(emulator)
    assert sorted(r["ext_id"] for r in records) == sorted(c["ext_id"] for c in calls)
    batch_of = {c["ext_id"]: result["request_ids"][i // 50] for i, c in enumerate(calls)}
    assert all(r["ext_request_id"] == batch_of[r["ext_id"]] for r in records)
    assert all(
        r["upload_time"] < pendulum.parse(result["uploaded_before"]).in_timezone(TZ).strftime("%Y-%m-%d %H:%M:%S")
        for r in records
    )
    assert API_KEY not in json.dumps(result)


def test_batches_stay_under_512_kb_counting_utf8_bytes(uis_conn: str, emulator: UISEmulator) -> None:
    # 60 000 Cyrillic letters are 120 000 bytes: four such calls fit in 512 KB, five do not.
    calls = [make_call(n, comment="з" * 60_000) for n in range(12)]
    emulator.reset_log()
    result = operator(calls=calls).execute(context())

    sent = uploads(emulator)
    assert len(sent) == result["batches"] == 3
    assert [len(r["params"]["calls"]) for r in sent] == [4, 4, 4]
    sizes = [len(json.dumps(r["params"], ensure_ascii=False).encode("utf-8")) for r in sent]
    assert all(size <= MAX_REQUEST_BYTES for size in sizes)
    assert all(size + 120_000 > MAX_REQUEST_BYTES for size in sizes)
    assert all(r["error"] is None for r in sent)
    assert len(truth(emulator)) == 12


def test_invalid_rows_fail_the_task_with_lines_and_reasons_before_any_call(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path
) -> None:
    rows: list[Any] = [
        make_call(1),
        make_call(2, finish_time="2026-01-14 09:00:00"),
        make_call(3),
        make_call(4, mp3_records=[{"record_url": "http://records.example.ru/4.mp3?token=s3cr3t"}], is_lost=None),
    ]
    source = write_jsonl(tmp_path / "calls.jsonl", rows)
    with source.open("a", encoding="utf-8") as handle:
        handle.write("\n{broken\n")
    emulator.reset_log()
    with pytest.raises(AirflowFailException) as failure:
        operator(source_path=str(source)).execute(context())

    message = str(failure.value)
    assert message.startswith("3 of 5 calls are invalid, so nothing was sent (on_invalid='fail'")
    assert "line 2 (ext_id 'op-00002'): finish_time 2026-01-14 09:00:00 is before start_time" in message
    assert (
        "line 4 (ext_id 'op-00004'): is_lost is required; mp3_records[0].record_url must be an absolute https://"
        in message
    )
    assert "line 6: not valid JSON" in message
    assert "s3cr3t" not in message
    assert emulator.count() == 0


def test_skip_sends_the_valid_rows_and_reports_the_others(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = [make_call(1), make_call(2, direction="both"), make_call(3), make_call(1, comment="a second copy")]
    source = write_jsonl(tmp_path / "calls.jsonl", rows)
    emulator.reset_log()
    result = operator(source_path=source.as_uri(), on_invalid="skip").execute(context())

    assert result["sent"] == 2
    assert result["skipped_count"] == 2
    assert result["skipped"] == [
        {"line": 2, "ext_id": "op-00002", "reason": "direction must be 'in' or 'out', got 'both'"},
        {
            "line": 4,
            "ext_id": "op-00001",
            "reason": "ext_id 'op-00001' repeats line 1; every call needs its own ext_id",
        },
    ]
    assert [c["ext_id"] for r in uploads(emulator) for c in r["params"]["calls"]] == ["op-00001", "op-00003"]
    record = next(r for r in truth(emulator) if r["ext_id"] == "op-00001")
    assert record["comment"] is None
    logs = capfd.readouterr().out
    assert "Skipping 2 invalid calls (on_invalid='skip')" in logs
    assert "line 2 (ext_id 'op-00002'): direction must be 'in' or 'out'" in logs


def test_list_input_reports_items(uis_conn: str, emulator: UISEmulator) -> None:
    with pytest.raises(AirflowFailException, match=r"item 2: a call must be a JSON object, got str"):
        operator(calls=[make_call(1), "op-2"]).execute(context())
    assert emulator.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"calls": [], "source_path": "/tmp/x.jsonl"}, "give exactly one of source_path"),
        ({}, "give exactly one of source_path"),
        ({"calls": [], "on_invalid": "ignore"}, "on_invalid must be 'fail'"),
        ({"calls": [], "batch_size": 51}, "batch_size must be a whole number from 1 to 50"),
        ({"calls": [], "batch_size": 0}, "batch_size must be a whole number from 1 to 50"),
        ({"calls": [], "file_format": "xml"}, "file_format must be one of"),
        ({"calls": [], "csv_delimiter": ";;"}, "csv_delimiter must be one character"),
        ({"calls": [], "budget_timeout": 0}, "budget_timeout must be a number of seconds > 0"),
    ],
)
def test_bad_static_parameters_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(UISConfigurationError, match=expected):
        operator(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"user_id": "-4"}, "user_id must be a positive whole number"),
        ({"user_id": True}, "user_id must be a positive whole number"),
        ({"request_id_prefix": "my prefix"}, "request_id_prefix must be 1 to 100 characters"),
        ({"source_path": "calls.jsonl"}, "source_path must be an absolute local path"),
        ({"source_path": "MISSING"}, "does not exist"),
        ({"source_path": "WRONG_SUFFIX"}, "set file_format to 'jsonl' or 'csv'"),
        ({"source_path": "LATIN1"}, "is not UTF-8 text"),
        ({"calls": '[{"ext_id": "x"}]'}, "calls must be a list of call objects, got str"),
        ({"calls": {"ext_id": "x"}}, "calls must be a list of call objects, got dict"),
    ],
)
def test_bad_runtime_parameters_fail_before_any_call_naming_the_parameter(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, kwargs: dict[str, Any], expected: str
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [make_call(1)])
    paths = {
        "MISSING": str(tmp_path / "absent.jsonl"),
        "WRONG_SUFFIX": str(write_jsonl(tmp_path / "calls.json", [make_call(1)])),
        "LATIN1": str(tmp_path / "latin1.jsonl"),
    }
    (tmp_path / "latin1.jsonl").write_bytes(
        json.dumps(make_call(1, comment="é"), ensure_ascii=False).encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    )
    if "source_path" in kwargs:
        kwargs["source_path"] = paths.get(kwargs["source_path"], kwargs["source_path"])
    elif "calls" not in kwargs:
        kwargs["source_path"] = str(good)
    emulator.reset_log()
    with pytest.raises(UISConfigurationError, match=expected):
        operator(**kwargs).execute(context())
    assert emulator.count() == 0


def test_gzip_is_detected_by_content_and_csv_by_name(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    jsonl = tmp_path / "calls.jsonl"
    with gzip.open(jsonl, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(make_call(n)) + "\n" for n in range(3))
    csv_path = tmp_path / "calls.csv.gz"
    with gzip.open(csv_path, "wt", encoding="utf-8-sig", newline="") as handle:
        handle.write("ext_id,is_lost,calling_phone_number,mp3_records\r\n")
        handle.write('op-00010,true,79161234567,"[{""record_url"": ""https://records.example.ru/10.mp3""}]"\r\n')
    assert operator(source_path=str(jsonl)).execute(context())["sent"] == 3
    assert operator(source_path=str(csv_path), request_id_prefix="csv-test").execute(context())["sent"] == 1
    record = next(r for r in truth(emulator) if r["ext_id"] == "op-00010")
    assert (record["is_lost"], record["record_type"], record["ext_request_id"]) == (True, "mp3", "csv-test-0001")
    semicolons = tmp_path / "export.txt"
    semicolons.write_text("ext_id;is_lost;talk_duration\nop-00011;нет;5\nop-00012;false;7\n", encoding="utf-8")
    with pytest.raises(AirflowFailException, match=r"line 2 \(ext_id 'op-00011'\): is_lost must be true or false"):
        operator(source_path=str(semicolons), file_format="csv", csv_delimiter=";").execute(context())


def test_an_object_store_source_is_read_through_fsspec(uis_conn: str, emulator: UISEmulator) -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    body = "".join(json.dumps(make_call(n)) + "\n" for n in (20, 21)).encode("utf-8")
    fs.pipe_file("/uis-upload-test/2026-01-14/calls.ndjson.gz", gzip.compress(body))
    try:
        result = operator(source_path="memory://uis-upload-test/2026-01-14/calls.ndjson.gz").execute(context())
    finally:
        fs.rm("/uis-upload-test", recursive=True)
    assert result["sent"] == 2
    assert {"op-00020", "op-00021"} <= {r["ext_id"] for r in truth(emulator)}


def test_an_s3_source_is_read_through_its_connection(
    uis_conn: str, emulator: UISEmulator, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_cache = airflow_store_cache()

    extra = {"endpoint_url": moto_s3.endpoint_url, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_PBX_S3", json.dumps(conn))
    store_cache.pop("s3-pbx_s3", None)
    client = moto_s3.client
    client.create_bucket(Bucket="pbx-exports")
    body = "".join(json.dumps(make_call(n)) + "\n" for n in (30, 31, 32))
    client.put_object(Bucket="pbx-exports", Key="calls/date=2026-01-14/calls.jsonl", Body=body.encode("utf-8"))
    try:
        result = operator(
            source_path="s3://pbx-exports/calls/date=2026-01-14/calls.jsonl", source_conn_id="pbx_s3"
        ).execute(context())
        with pytest.raises(UISConfigurationError, match="does not exist"):
            operator(source_path="s3://pbx-exports/calls/absent.jsonl", source_conn_id="pbx_s3").execute(context())
    finally:
        store_cache.pop("s3-pbx_s3", None)
    assert result["sent"] == 3
    assert {"op-00030", "op-00031", "op-00032"} <= {r["ext_id"] for r in truth(emulator)}


def test_an_empty_source_sends_nothing(uis_conn: str, emulator: UISEmulator, tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("\n\n", encoding="utf-8")
    emulator.reset_log()
    result = operator(source_path=str(source)).execute(context())
    assert (result["request_ids"], result["sent"], result["batches"]) == ([], 0, 0)
    assert emulator.count() == 0


def test_user_id_goes_into_every_batch(uis_conn: str, emulator: UISEmulator) -> None:
    emulator.reset_log()
    operator(calls=[make_call(n) for n in range(3)], user_id="77", batch_size=2).execute(context())
    assert [r["params"]["user_id"] for r in uploads(emulator)] == [77, 77]


def test_a_batch_retried_after_a_transient_fault_keeps_its_id_and_is_not_duplicated(
    uis_conn: str, emulator: UISEmulator
) -> None:
    calls = [make_call(n) for n in range(60)]
    emulator.reset_log()
    emulator.faults.script(["http_502"])
    result = operator(calls=calls, batch_size=30).execute(context())

    sent = uploads(emulator)
    assert [r["http_status"] for r in sent] == [502, 200, 200]
    assert [r["id"] for r in sent] == [result["request_ids"][0], *result["request_ids"]]
    records = truth(emulator)
    assert Counter(r["ext_id"] for r in records) == Counter(c["ext_id"] for c in calls)
    assert Counter(r["ext_request_id"] for r in records) == {result["request_ids"][0]: 30, result["request_ids"][1]: 30}


def test_rerunning_the_task_resends_under_the_same_ids_without_duplicates(uis_conn: str, emulator: UISEmulator) -> None:
    calls = [make_call(n) for n in range(45)]
    first = operator(calls=calls, batch_size=20).execute(context(StubTI(run_id="manual__a")))
    pending_again = operator(calls=calls, batch_size=20).execute(context(StubTI(run_id="manual__b")))
    emulator.clock.advance(600)
    assert {r["status"] for r in truth(emulator)} == {"processed"}
    emulator.reset_log()
    after_processing = operator(calls=calls, batch_size=20).execute(context(StubTI(run_id="manual__c")))

    assert first["request_ids"] == pending_again["request_ids"] == after_processing["request_ids"]
    assert [r["id"] for r in uploads(emulator)] == first["request_ids"]
    records = truth(emulator)
    assert len(records) == len({r["ext_id"] for r in records}) == 45
    assert {r["ext_request_id"] for r in records} == set(first["request_ids"])
    other_day = operator(calls=[make_call(1, prefix="od")]).execute(context(day=15))
    assert set(other_day["request_ids"]).isdisjoint(first["request_ids"])


def test_a_batch_that_keeps_failing_fails_the_task_and_a_retry_completes_without_duplicates(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    api = make_emulator(calls=50, day_limit=16)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    with UISHook("uis_default") as hook:
        for _ in range(6):
            hook.call("get.account")
    calls = [make_call(n) for n in range(60)]
    ti = StubTI()
    api.reset_log()
    with pytest.raises(AirflowException) as failure:
        operator(calls=calls, batch_size=20).execute(context(ti))

    message = str(failure.value)
    assert not isinstance(failure.value, AirflowFailException)
    assert "upload.calls failed for batch 3 of 3 (20 calls, lines 41-60, request id upload-" in message
    assert "mnemonic=limit_exceeded" in message
    assert "Batches 1-2 were accepted (40 calls, request ids [" in message
    assert "Retrying the task is safe" in message
    logs = capfd.readouterr().out
    assert "Batch 2/3 accepted: 20 calls, lines 21-40, request id upload-" in logs
    assert API_KEY not in message and API_KEY not in logs
    assert len(truth(api)) == 40

    api.clock.advance(86_401)
    retried = operator(calls=calls, batch_size=20).execute(context(ti))

    ids = retried["request_ids"]
    assert [r["id"] for r in uploads(api)] == [*ids, *ids]
    records = truth(api)
    assert Counter(r["ext_id"] for r in records) == Counter(c["ext_id"] for c in calls)
    assert Counter(r["ext_request_id"] for r in records) == dict.fromkeys(ids, 20)
    with UISHook("uis_default") as hook:
        watched = hook.call(
            "get.uploaded_calls",
            {
                "date_from": "2026-01-01 00:00:00",
                "date_till": pendulum.from_timestamp(api.clock.time() + 60, tz=TZ).strftime("%Y-%m-%d %H:%M:%S"),
                "filter": {"field": "ext_request_id", "operator": "in", "value": ids},
                "fields": ["ext_id"],
                "limit": 100,
            },
        )
    assert watched["metadata"]["total_items"] == 60


def test_an_api_refusal_fails_without_task_retries(uis_conn: str, emulator: UISEmulator) -> None:
    emulator.disable_method("upload.calls")
    with pytest.raises(
        AirflowFailException,
        match=r"batch 1 of 1 \(1 call, line 1, .*method_component_disabled.*No batch was accepted; "
        r"UIS refused batch 1\. Fix the cause; then retrying the task is safe",
    ):
        operator(calls=[make_call(1)]).execute(context())


def test_the_five_point_weight_is_paced_by_the_minute_budget_without_errors(
    make_emulator: Callable[..., UISEmulator], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = make_emulator(calls=50, minute_limit=10, minute_window=1.5)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    calls = [make_call(n) for n in range(30)]
    result = operator(calls=calls, batch_size=10).execute(context())

    sent = uploads(api)
    assert [r["id"] for r in sent] == result["request_ids"]
    assert [(r["error"], r["points"]) for r in sent] == [(None, 5)] * 3
    # one wait for the reset: after the first batch (its reading leaves one batch's points) or before the third
    waits = [record.getMessage() for record in caplog.records if "minute point budget" in record.getMessage()]
    assert len(waits) == 1 and "waiting" in waits[0], waits
    records = truth(api)
    assert Counter(r["ext_request_id"] for r in records) == dict.fromkeys(result["request_ids"], 10)


def test_budget_timeout_bounds_the_tasks_wait_for_the_minute_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    api = UISEmulator(**{**EMULATOR_DEFAULTS, "minute_limit": 5, "minute_window": 60.0}).start()  # type: ignore[arg-type]
    try:
        monkeypatch.setenv("AIRFLOW_CONN_UIS_ONE_POINT", conn_json(api.url))
        task = operator(calls=[make_call(n) for n in range(60)], budget_timeout=2, uis_conn_id="uis_one_point")
        with pytest.raises(AirflowException, match=r"deadline \(budget_timeout=2 s\)"):
            task.execute(context(StubTI()))
        # the first answer says the minute budget is spent: the second batch waits, and the deadline ends the wait
        assert [r["error"] for r in uploads(api)] == [None]
    finally:
        api.stop()
