"""A real S3 API on loopback (moto in server mode) reached through an Airflow ``aws`` connection."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Only matters when this directory runs on its own: tests/conftest.py has set these before Airflow is imported.
if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="uis-storage-airflow-home-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest

S3_CONN_ID = "aws_s3"
REGION = "us-east-1"


@dataclass(frozen=True)
class MotoS3:
    """Where the moto S3 server listens and a boto3 client for checking what landed there."""

    endpoint_url: str
    client: Any


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """Start moto's S3 server on a free loopback port for the session and stop it at the end."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield MotoS3(endpoint_url=endpoint_url, client=client)
    finally:
        server.stop()


@pytest.fixture
def s3_conn(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``AIRFLOW_CONN_AWS_S3`` pointing at the moto server with dummy keys; returns the conn id."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_s3.endpoint_url, "region_name": REGION},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", json.dumps(conn))
    # Airflow keeps one filesystem per (scheme, conn_id) for the whole process; a path built while this
    # connection was undefined would otherwise pin a filesystem that talks to real AWS.
    from airflow.sdk.io import store

    store._STORE_CACHE.pop(f"s3-{S3_CONN_ID}", None)
    yield S3_CONN_ID
    store._STORE_CACHE.pop(f"s3-{S3_CONN_ID}", None)


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> str:
    """A fresh, empty bucket on the moto server."""
    name = f"uis-test-{uuid.uuid4().hex[:12]}"
    moto_s3.client.create_bucket(Bucket=name)
    return name
