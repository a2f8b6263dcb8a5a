"""A task process killed mid-window (SIGTERM or SIGKILL) leaves no partial object and the previous output intact;
the task's retry lands the whole window.

The child process runs the real operator against the emulator in this process, with a per-answer latency so it is
surely mid-window (pages answered, the output open) when the signal arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import S3_CONN_ID, MotoS3
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.testing import UISEmulator

from .conftest import TZ, set_conn

OLD = b'{"previous": "output"}\n'
START = pendulum.datetime(2026, 1, 1, tz=TZ)
END = pendulum.datetime(2026, 2, 1, tz=TZ)

CHILD = """
import signal, sys
import pendulum
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator

if sys.argv[3] == "exit-on-term":
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
op = UISUploadedCallsToStorageOperator(
    task_id="extract", output_path=sys.argv[1], output_conn_id=sys.argv[2] or None, page_size=20
)
start = pendulum.datetime(2026, 1, 1, tz="Europe/Moscow")
op.execute({"data_interval_start": start, "data_interval_end": start.add(months=1)})
"""


@pytest.fixture
def s3(moto_s3: MotoS3, s3_conn: str) -> Any:
    """The shared moto S3 server behind the ``aws_s3`` connection; a boto3 client to look at what landed."""
    return moto_s3.client


def kill_mid_window(
    api: UISEmulator, target: str, conn_id: str, sig: signal.Signals, mode: str, spool: Path
) -> tuple[int, list[Path]]:
    """Start the task in a child, signal it once it is paging, wait for it; returns its code and its temp files."""
    env = {**os.environ, "TMPDIR": str(spool)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, target, conn_id, mode], env=env)
    try:
        deadline = time.monotonic() + 90
        while api.count("get.uploaded_calls") < 6:
            assert child.poll() is None, "the task ended before it could be killed"
            assert time.monotonic() < deadline, "the task never got going"
            time.sleep(0.02)
        child.send_signal(sig)
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return code, sorted(spool.iterdir())


def truth(api: UISEmulator) -> list[dict[str, Any]]:
    """The month's records as the operator writes them: ordered by ext_id, columns in the documented order."""
    records = sorted(api.records("2026-01-01", "2026-02-01"), key=lambda r: r["ext_id"])
    return [{c: r[c] for c in UPLOADED_CALLS.columns} for r in records]


def records_of(body: bytes) -> list[dict[str, Any]]:
    """The records of a JSON-lines body."""
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def retry(target: str, conn_id: str | None) -> dict[str, Any]:
    """The task's retry, run in this process."""
    op = UISUploadedCallsToStorageOperator(task_id="extract", output_path=target, output_conn_id=conn_id)
    return op.execute({"data_interval_start": START, "data_interval_end": END})


KILLS = [
    pytest.param(signal.SIGKILL, "default", id="sigkill"),
    pytest.param(signal.SIGTERM, "default", id="sigterm"),
    pytest.param(signal.SIGTERM, "exit-on-term", id="sigterm-handled"),
]


@pytest.mark.parametrize(("sig", "mode"), KILLS)
def test_killed_task_keeps_the_local_file_and_its_retry_lands_the_window(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sig: signal.Signals, mode: str
) -> None:
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    target = tmp_path / "date=2026-01" / "part-0.jsonl"
    target.parent.mkdir()
    target.write_bytes(OLD)
    spool = tmp_path / "spool"
    spool.mkdir()
    api.latency = 0.05

    code, _ = kill_mid_window(api, str(target), "", sig, mode, spool)

    assert code == (-sig if mode == "default" else 128 + sig)
    assert target.read_bytes() == OLD, "the previous output was touched"
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    if mode == "default":
        # an abrupt death cannot clean up: at most its own temp, which is never the target and is never read
        assert all(name.startswith(".part-0.jsonl.tmp-") for name in leftovers)
        assert len(leftovers) <= 1
    else:
        assert leftovers == [], "a handled SIGTERM must remove its temp file"

    api.latency = 0.0
    result = retry(str(target), None)
    assert sorted(p.name for p in target.parent.iterdir()) == ["part-0.jsonl", "part-0.jsonl.manifest.json"], (
        "the retry did not clear the dead temp"
    )
    assert records_of(target.read_bytes()) == truth(api)
    assert result["records"] == 2000


@pytest.mark.parametrize(("sig", "mode"), KILLS)
def test_killed_task_writes_no_partial_s3_object_and_its_retry_lands_the_window(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3: Any, sig: signal.Signals, mode: str
) -> None:
    set_conn(monkeypatch, "uis_default", api.url, timezone=TZ)
    bucket = f"kill-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="uis/date=2026-01/part-0.jsonl", Body=OLD)
    target = f"s3://{bucket}/uis/date=2026-01/part-0.jsonl"
    spool = tmp_path / "spool"
    spool.mkdir()
    api.latency = 0.05

    code, spooled = kill_mid_window(api, target, S3_CONN_ID, sig, mode, spool)

    assert code == (-sig if mode == "default" else 128 + sig)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["uis/date=2026-01/part-0.jsonl"], "a partial or temporary object appeared"
    assert s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read() == OLD
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    if mode != "default":
        assert spooled == [], "a handled SIGTERM must remove its local spool file"

    api.latency = 0.0
    result = retry(target, S3_CONN_ID)
    assert records_of(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()) == truth(api)
    assert result["records"] == 2000
