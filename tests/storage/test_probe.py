"""The output probe: a store that cannot be written is refused before any API call, and the probe leaves nothing.

Local targets are probed on the real filesystem; S3 ones on a moto server on loopback through Airflow ``aws``
connections, so the refusals are the store's own (a missing bucket, no credentials, an unreachable endpoint).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, MotoS3, airflow_store_cache
from uis_provider.exceptions import UISConfigurationError
from uis_provider.storage.atomic import to_storage_path
from uis_provider.storage.probe import probe_output


def probe(uri: str, conn_id: str | None = None) -> None:
    probe_output(to_storage_path(uri, conn_id))


def test_a_local_target_in_missing_directories_is_probed_and_nothing_is_left(tmp_path: Path) -> None:
    probe(str(tmp_path / "a" / "b" / "date=2026-01-04" / "part-0.jsonl"))
    assert list(tmp_path.iterdir()) == []  # the writer makes the directories; the probe makes none


def test_a_probe_next_to_existing_files_leaves_them_alone(tmp_path: Path) -> None:
    (tmp_path / "part-0.jsonl").write_text("previous\n")
    probe(str(tmp_path / "part-0.jsonl"))
    assert [p.name for p in tmp_path.iterdir()] == ["part-0.jsonl"]
    assert (tmp_path / "part-0.jsonl").read_text() == "previous\n"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        pytest.param("/proc/uis-output/date=2026-01-04/part-0.jsonl", "FileNotFoundError", id="under-proc"),
        pytest.param("{tmp}/a-file/date=2026-01-04/part-0.jsonl", "is not a directory", id="parent-is-a-file"),
    ],
)
def test_a_local_directory_that_cannot_be_created_is_refused(tmp_path: Path, target: str, reason: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(UISConfigurationError) as error:
        probe(target.format(tmp=tmp_path))
    text = str(error.value)
    assert "output_path" in text
    assert reason in text
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_an_s3_target_in_a_writable_bucket_passes_and_leaves_no_object_or_upload(
    moto_s3: MotoS3, s3_conn: str, s3_bucket: str
) -> None:
    probe(f"s3://{s3_bucket}/uis/date=2026-01-04/part-0.jsonl", s3_conn)
    assert moto_s3.client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert moto_s3.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_a_missing_bucket_is_refused_with_the_stores_reason(moto_s3: MotoS3, s3_conn: str) -> None:
    with pytest.raises(UISConfigurationError) as error:
        probe("s3://no-such-bucket-uis/uis/part-0.jsonl", s3_conn)
    text = str(error.value)
    assert "output_path='s3://no-such-bucket-uis/uis/part-0.jsonl'" in text
    assert f"output_conn_id={s3_conn!r}" in text
    assert "bucket does not exist" in text


def aws_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "aws", **fields}))
    airflow_store_cache().pop(f"s3-{conn_id}", None)
    return conn_id


def test_a_connection_without_credentials_is_refused_before_writing_anonymously(
    moto_s3: MotoS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    conn_id = aws_conn(monkeypatch, "aws_nokeys", extra={"endpoint_url": moto_s3.endpoint_url, "region_name": REGION})
    with pytest.raises(
        UISConfigurationError, match="no AWS credentials were found through output_conn_id='aws_nokeys'"
    ):
        probe(f"s3://{s3_bucket}/uis/part-0.jsonl", conn_id)
    assert moto_s3.client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


def test_an_unreachable_endpoint_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    conn_id = aws_conn(
        monkeypatch,
        "aws_down",
        login="testing",
        password="testing",
        extra={
            "endpoint_url": f"http://127.0.0.1:{free_port}",
            "region_name": REGION,
            "config_kwargs": {"retries": {"max_attempts": 1}},
        },
    )
    with pytest.raises(UISConfigurationError) as error:
        probe("s3://bucket/uis/part-0.jsonl", conn_id)
    assert f"127.0.0.1:{free_port}" in str(error.value)


def test_an_output_conn_id_that_names_no_connection_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AWS_TYPO", raising=False)
    with pytest.raises(ValueError, match="output_conn_id='aws_typo': no such Airflow connection"):
        to_storage_path("s3://bucket/uis/part-0.jsonl", "aws_typo")
    with pytest.raises(ValueError, match="output_conn_id='aws_typo'"):
        to_storage_path("s3://aws_typo@bucket/uis/part-0.jsonl")


def test_a_connection_with_a_local_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"output_conn_id='aws_s3' is set, but output_path .* is a local path"):
        to_storage_path(str(tmp_path / "part-0.jsonl"), "aws_s3")
    with pytest.raises(ValueError, match="source_conn_id='aws_s3' is set, but source_path"):
        to_storage_path((tmp_path / "calls.jsonl").as_uri(), "aws_s3", parameter="source_path")
