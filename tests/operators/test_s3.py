"""The extract operator writing to ``s3://`` on a moto S3 server on loopback, through an Airflow ``aws`` connection."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import S3_CONN_ID, MotoS3
from uis_provider.exceptions import UISConfigurationError, UISPermissionError
from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
from uis_provider.testing import UISEmulator

TZ = "Europe/Moscow"


@pytest.fixture
def s3(moto_s3: MotoS3, s3_conn: str) -> Any:
    """The shared moto S3 server behind the ``aws_s3`` connection; a boto3 client to look at what landed."""
    return moto_s3.client


@pytest.fixture
def bucket(s3: Any, s3_bucket: str) -> str:
    """A fresh bucket on the moto server, with the connection in place."""
    return s3_bucket


def day(number: int) -> dict[str, Any]:
    """The task context of the Moscow day 2026-01-<number>."""
    start = pendulum.datetime(2026, 1, number, tz=TZ)
    return {"data_interval_start": start, "data_interval_end": start.add(days=1)}


@pytest.mark.parametrize(("file_format", "compression"), [("jsonl", None), ("csv", "gzip"), ("parquet", None)])
def test_window_lands_on_s3_identical_to_the_local_file(
    uis_conn: str,
    emulator: UISEmulator,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    file_format: str,
    compression: str | None,
) -> None:
    key = f"uis/uploaded_calls/date=2026-01-04/part-0.{file_format}"
    common = {"file_format": file_format, "compression": compression, "page_size": 25}
    remote = UISUploadedCallsToStorageOperator(
        task_id="s3", output_path=f"s3://{bucket}/{key}", output_conn_id=S3_CONN_ID, **common
    ).execute(day(4))
    local = UISUploadedCallsToStorageOperator(task_id="local", output_path=str(tmp_path / "part"), **common).execute(
        day(4)
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == (tmp_path / "part").read_bytes()
    assert remote["records"] == local["records"] == len(emulator.records("2026-01-04", "2026-01-05")) > 25
    assert remote["path"] == f"s3://{bucket}/{key}"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key, key + ".manifest.json"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())
    assert (manifest["uri"], manifest["rows"]) == (f"s3://{bucket}/{key}", remote["records"])
    assert (manifest["bytes"], manifest["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    assert remote["manifest"] == f"s3://{bucket}/{key}.manifest.json"
    assert S3_CONN_ID not in json.dumps(manifest)


def test_failed_run_leaves_the_previous_object(uis_conn: str, emulator: UISEmulator, s3: Any, bucket: str) -> None:
    key = "uis/uploaded_calls/date=2026-01-05/part-0.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"previous": 1}\n')
    emulator.disable_method("get.uploaded_calls")
    op = UISUploadedCallsToStorageOperator(task_id="s3", output_path=f"s3://{bucket}/{key}", output_conn_id=S3_CONN_ID)
    with pytest.raises(UISPermissionError):
        op.execute(day(5))
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b'{"previous": 1}\n'
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


@pytest.mark.parametrize(
    ("output", "conn_id", "needle"),
    [
        pytest.param("s3://no-such-bucket-uis/uis/part-0.jsonl", S3_CONN_ID, "bucket does not exist", id="no-bucket"),
        pytest.param("s3://{bucket}/uis/part-0.jsonl", "aws_typo", "no such Airflow connection", id="no-connection"),
    ],
)
def test_a_store_that_cannot_be_written_fails_before_any_api_call(
    uis_conn: str, emulator: UISEmulator, bucket: str, output: str, conn_id: str, needle: str
) -> None:
    """The connection has no time zone: before the probe, get.account and the day's pages were paid for first."""
    op = UISUploadedCallsToStorageOperator(
        task_id="s3", output_path=output.format(bucket=bucket), output_conn_id=conn_id
    )
    with pytest.raises(UISConfigurationError) as error:
        op.execute(day(4))
    assert needle in str(error.value)
    assert "output_conn_id" in str(error.value)
    assert emulator.count() == 0
