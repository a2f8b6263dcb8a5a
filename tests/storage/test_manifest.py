"""The manifest beside a landed window: canonical bytes, no secret, found beside local and S3 objects."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MotoS3
from uis_provider.protocol.windows import Window
from uis_provider.storage.atomic import to_storage_path
from uis_provider.storage.manifest import (
    build_manifest,
    manifest_bytes,
    manifest_path,
    read_manifest,
    without_secrets,
    write_manifest,
)
from uis_provider.version_compat import storage_conn_id

WINDOW = Window.build("2026-01-04", "2026-01-05", "Europe/Moscow")


def manifest(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "uri": "file:///data/uploaded_calls/date=2026-01-04/part-0.jsonl",
        "file_format": "jsonl",
        "compression": None,
        "rows": 2,
        "size": 120,
        "sha256": "ab" * 32,
        "columns": [("ext_id", "string"), ("talk_duration", "int64")],
        "window": WINDOW,
        "method": "get.uploaded_calls",
        "params": {"fields": ["ext_id", "talk_duration"], "date_from": "2026-01-04 00:00:00", "user_id": 7},
        "statuses": {"processed": 1, "new": 1},
        "pending": 1,
        "final": False,
        "provider_version": "0.1.0",
        "extracted_at": dt.datetime(2026, 1, 5, 0, 1, 2, 345678, tzinfo=dt.timezone.utc),
        **overrides,
    }
    return build_manifest(**fields)


def test_manifest_states_the_window_object_and_statuses() -> None:
    got = manifest()
    assert got == {
        "manifest_version": 1,
        "uri": "file:///data/uploaded_calls/date=2026-01-04/part-0.jsonl",
        "format": "jsonl",
        "compression": None,
        "rows": 2,
        "bytes": 120,
        "sha256": "ab" * 32,
        "columns": [{"name": "ext_id", "type": "string"}, {"name": "talk_duration", "type": "int64"}],
        "window_start": "2026-01-04T00:00:00+03:00",
        "window_end": "2026-01-05T00:00:00+03:00",
        "timezone": "Europe/Moscow",
        "method": "get.uploaded_calls",
        "params": {"fields": ["ext_id", "talk_duration"], "user_id": 7},
        "statuses": {"new": 1, "processed": 1},
        "pending": 1,
        "final": False,
        "extracted_at": "2026-01-05T00:01:02+00:00",
        "provider_version": "0.1.0",
    }


def test_equal_manifests_are_equal_bytes_and_only_the_extraction_time_differs() -> None:
    first = manifest_bytes(manifest())
    again = manifest_bytes(manifest(statuses={"new": 1, "processed": 1}))
    later = manifest_bytes(manifest(extracted_at=dt.datetime(2026, 1, 6, tzinfo=dt.timezone.utc)))
    assert first == again
    assert first.endswith(b"\n")
    differing = [
        (a, b) for a, b in zip(first.decode().splitlines(), later.decode().splitlines(), strict=True) if a != b
    ]
    assert differing == [
        ('  "extracted_at": "2026-01-05T00:01:02+00:00",', '  "extracted_at": "2026-01-06T00:00:00+00:00",')
    ]


def test_parameters_named_like_credentials_never_reach_the_manifest() -> None:
    params = {"report_id": 3, "api_key": "k-123", "nested": {"access_token": "t-456", "Password": "p"}, "keep": ["x"]}
    assert without_secrets(params) == {
        "report_id": 3,
        "api_key": "***",
        "nested": {"access_token": "***", "Password": "***"},
        "keep": ["x"],
    }
    text = manifest_bytes(manifest(params=params)).decode()
    for secret in ("k-123", "t-456", '"p"'):
        assert secret not in text


def test_written_beside_a_local_object_and_read_back(tmp_path: Path) -> None:
    data = to_storage_path(str(tmp_path / "date=2026-01-04" / "part-0.jsonl"))
    assert read_manifest(data) is None
    written = write_manifest(data, manifest())
    assert str(written.path).endswith("date=2026-01-04/part-0.jsonl.manifest.json")
    assert read_manifest(data) == manifest()
    assert (tmp_path / "date=2026-01-04" / "part-0.jsonl.manifest.json").read_bytes() == manifest_bytes(manifest())
    assert sorted(p.name for p in (tmp_path / "date=2026-01-04").iterdir()) == ["part-0.jsonl.manifest.json"]


def test_written_beside_an_s3_object_through_the_same_connection(s3_conn: str, s3_bucket: str, moto_s3: MotoS3) -> None:
    data = to_storage_path(f"s3://{s3_bucket}/uis/part-0.parquet", s3_conn)
    target = manifest_path(data)
    assert (target.path, storage_conn_id(target)) == (
        f"{s3_bucket}/uis/part-0.parquet.manifest.json",
        s3_conn,
    )
    assert read_manifest(data) is None
    write_manifest(data, manifest())
    body = moto_s3.client.get_object(Bucket=s3_bucket, Key="uis/part-0.parquet.manifest.json")["Body"].read()
    assert json.loads(body) == manifest() == read_manifest(data)


def test_a_manifest_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl.manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a manifest"):
        read_manifest(to_storage_path(str(tmp_path / "x.jsonl")))
