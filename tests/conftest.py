"""Shared fixtures: an isolated Airflow home (set before Airflow is imported), the UIS emulator, connections."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="uis-airflow-home-"))

# Airflow reads its configuration at first import: everything below must be set before any test imports it.
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
os.environ.pop("AIRFLOW_CONN_UIS_DEFAULT", None)
if int(importlib.metadata.version("apache-airflow").split(".")[0]) < 3:
    # Airflow 2's unit-test configuration picks the LocalExecutor, which refuses SQLite.
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"

import pendulum  # noqa: E402
import pytest  # noqa: E402

from uis_provider.testing import UISEmulator  # noqa: E402
from uis_provider.testing.dag_test import run_dag_test as dag_test  # noqa: E402, F401  (the tests' name)

API_KEY = "test-api-key-7f3a9c"
LOGIN = "analyst@example.com"
PASSWORD = "s3cret-Pa55word"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The Airflow home of this test session (a temp dir, removed at the end)."""
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """A freshly migrated metadata DB (sqlite), needed by ``dag.test()``."""
    from airflow.utils.db import resetdb

    resetdb()
    return airflow_home / "airflow.db"


def asset_events(uri: str) -> list[tuple[dict[str, Any], str | None]]:
    """``(extra, partition_key)`` of every event of the asset ``uri`` in the metadata DB, oldest first (Airflow 2:
    dataset events, which have no partition key)."""
    from airflow.utils.session import create_session

    from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent as Event
        from airflow.models.asset import AssetModel as Model
    else:
        from airflow.models.dataset import DatasetEvent as Event
        from airflow.models.dataset import DatasetModel as Model
    with create_session() as session:
        model = session.query(Model).filter(Model.uri == uri).one_or_none()
        if model is None:
            return []
        column = Event.asset_id if AIRFLOW_V_3_0_PLUS else Event.dataset_id
        rows = session.query(Event).filter(column == model.id).order_by(Event.timestamp, Event.id).all()
        return [(dict(row.extra or {}), getattr(row, "partition_key", None)) for row in rows]


def load_dag_file(path: Path) -> Any:
    """Import a DAG file afresh under a unique module name (it reads its environment when parsed)."""
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conn_json(url: str, *, password: str = API_KEY, login: str | None = None, **extra: object) -> str:
    """A ``uis`` connection as the JSON Airflow accepts in ``AIRFLOW_CONN_<ID>`` (every line reads this form)."""
    conn: dict[str, object] = {"conn_type": "uis", "host": url, "password": password}
    if login is not None:
        conn["login"] = login
    if extra:
        conn["extra"] = json.dumps(extra)
    return json.dumps(conn)


EMULATOR_DEFAULTS: dict[str, object] = {
    "calls": 2000,
    "seed": 1,
    "start": "2026-01-01",
    "days": 31,
    "api_keys": {API_KEY: "valid", "expired-key": "expired", "blocked-key": "blocked"},
    "users": {LOGIN: PASSWORD},
}


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., UISEmulator]]:
    """Start emulators with the test credentials and any other knobs; all are stopped after the test."""
    started: list[UISEmulator] = []

    def factory(**overrides: object) -> UISEmulator:
        api = UISEmulator(**{**EMULATOR_DEFAULTS, **overrides})  # type: ignore[arg-type]
        api.start()
        started.append(api)
        return api

    yield factory
    for api in started:
        api.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., UISEmulator]) -> UISEmulator:
    """A small UIS emulator on a random loopback port: 2 000 calls over January 2026, Moscow time."""
    return make_emulator()


def start_upload_emulator(
    monkeypatch: pytest.MonkeyPatch, day: pendulum.DateTime, *, seed: int, **knobs: Any
) -> UISEmulator:
    """A started emulator whose clock reads noon of ``day``, with slow upload processing (new 10 min, done after
    20 min) and the connections ``uis_default`` (API key), ``uis_tz`` (+ timezone extra) and ``uis_login``.

    For the sensor and trigger tests, which upload calls and watch them progress on the emulator's clock.
    """
    options: dict[str, Any] = {
        **EMULATOR_DEFAULTS,
        "calls": 300,
        "seed": seed,
        "days": 10,
        "new_seconds": 600,
        "process_seconds": 1200,
        **knobs,
    }
    emulator = UISEmulator(**options).start()  # type: ignore[arg-type]
    emulator.clock.advance(day.add(hours=12).timestamp() - emulator.clock.time())
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(emulator.url))
    monkeypatch.setenv("AIRFLOW_CONN_UIS_TZ", conn_json(emulator.url, timezone=str(day.timezone_name)))
    monkeypatch.setenv("AIRFLOW_CONN_UIS_LOGIN", conn_json(emulator.url, login=LOGIN, password=PASSWORD))
    return emulator


UPLOAD_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class AfterRequests(threading.Thread):
    """Runs ``action`` once the emulator has answered ``n`` of the requests ``count`` counts, from a thread beside
    the code under test; if they never come within ``timeout`` seconds it does not act, and ``finish`` fails."""

    def __init__(
        self,
        api: UISEmulator,
        n: int,
        count: Callable[[UISEmulator], int],
        action: Callable[[], None],
        timeout: float = 90,
    ) -> None:
        super().__init__(name="after-requests", daemon=True)
        self.api, self.n, self.count, self.action, self.timeout = api, n, count, action, timeout
        self.missed = False
        self.start()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while self.count(self.api) < self.n:
            if time.monotonic() > deadline:
                self.missed = True
                return
            time.sleep(0.005)
        self.action()

    def finish(self) -> None:
        """Wait for the thread; fail the test when the requests it waited for never came."""
        self.join()
        assert not self.missed, f"{self.count(self.api)} of {self.n} requests came in {self.timeout} s: never acted"


def probes(api: UISEmulator) -> int:
    """The ``get.uploaded_calls`` probes (``limit=1``) the emulator answered without a fault or an error."""
    return sum(
        1
        for r in api.requests
        if r["method"] == "get.uploaded_calls" and not r["fault"] and not r["error"] and r["params"].get("limit") == 1
    )


def make_upload_calls(
    api: UISEmulator, n: int, *, prefix: str, urls: list[str] | None = None, timezone: str = "Europe/Moscow"
) -> list[dict[str, Any]]:
    """``n`` valid ``upload.calls`` items ending two minutes before the emulator's now; ``urls`` gives the recording
    URL of the first ones (the rest are fine)."""
    now = pendulum.from_timestamp(api.clock.time(), tz=timezone)
    urls = urls or []
    return [
        {
            "ext_id": f"{prefix}-{i:03d}",
            "is_lost": False,
            "calling_phone_number": "74951234567",
            "called_phone_number": "79161234567",
            "start_time": now.subtract(minutes=10).strftime(UPLOAD_TIME_FORMAT),
            "finish_time": now.subtract(minutes=8).strftime(UPLOAD_TIME_FORMAT),
            "mp3_records": [{"record_url": urls[i] if i < len(urls) else "https://records.example/ok.mp3"}],
        }
        for i in range(n)
    ]


def upload_calls(calls: list[dict[str, Any]], request_id: str | None = None, conn_id: str = "uis_default") -> list[str]:
    """Send ``calls`` with ``upload.calls`` through a real hook; returns their ext_ids."""
    from uis_provider.hooks.uis import UISHook

    with UISHook(conn_id) as hook:
        hook.call("upload.calls", {"calls": calls}, request_id=request_id)
    return [c["ext_id"] for c in calls]


@pytest.fixture
def uis_conn(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``uis_default`` pointing at the emulator with an API key; returns the conn id."""
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(emulator.url))
    return "uis_default"


@pytest.fixture
def uis_login_conn(emulator: UISEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``uis_login`` pointing at the emulator with login/password session auth; returns the conn id."""
    monkeypatch.setenv("AIRFLOW_CONN_UIS_LOGIN", conn_json(emulator.url, login=LOGIN, password=PASSWORD))
    return "uis_login"


# -- a real S3 API on loopback (moto in server mode) reached through an Airflow ``aws`` connection --------------

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
    store_cache = airflow_store_cache()
    store_cache.pop(f"s3-{S3_CONN_ID}", None)
    yield S3_CONN_ID
    store_cache.pop(f"s3-{S3_CONN_ID}", None)


def airflow_store_cache() -> dict[str, Any]:
    """Airflow's per-process cache of object-store filesystems (``airflow.sdk.io.store`` on 3, ``airflow.io.store``
    on 2.11)."""
    from airflow.providers.common.compat.sdk import io as airflow_io

    return importlib.import_module(f"{airflow_io.__name__}.store")._STORE_CACHE  # type: ignore[no-any-return]


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> str:
    """A fresh, empty bucket on the moto server."""
    name = f"uis-test-{uuid.uuid4().hex[:12]}"
    moto_s3.client.create_bucket(Bucket=name)
    return name
