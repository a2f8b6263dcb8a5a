"""No secret — the API key, the password, any session token the emulator issued — in anything a run produces: logs,
console, task log files, the metadata DB (XCom, rendered templates, task state), exception texts, trigger kwargs and
events, lineage, the ``repr`` of hooks and operators. And TLS is verified for https hosts, with no way to turn it off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import ipaddress
import json
import pickle
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from uis_provider.exceptions import UISError, UISTransportError
from uis_provider.hooks.uis import UISHook
from uis_provider.hooks.uis_async import UISAsyncHook
from uis_provider.operators.report import lineage_names
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.testing import UISEmulator
from uis_provider.transport import aio, sync
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

from .conftest import (
    API_KEY,
    FAST,
    LOGIN,
    PASSWORD,
    TZ,
    Answer,
    LoopbackServer,
    ScriptedAPI,
    emulator,
    rpc_error,
    rpc_result,
    set_conn,
)

REPO = Path(__file__).resolve().parents[2]
SENSE_DAG = REPO / "dags" / "uis_upload_sense_extract.py"
DAILY_DAG = REPO / "dags" / "uis_uploaded_calls_daily.py"
RUN_DAY = pendulum.datetime(2026, 1, 14, tz=TZ)
#: A day after the wall clock, so the emulator's clock can be moved to it and it holds only a test's uploads.
FUTURE_DAY = pendulum.datetime(2027, 6, 14, tz=TZ)
PROCESSING = 1200.0


def leaks(texts: dict[str, str | bytes], secrets: set[str]) -> list[str]:
    """``where: secret`` for every secret found in any text (bytes are searched as UTF-8)."""
    found = []
    for where, text in texts.items():
        haystack = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        found.extend(f"{where}: {secret[:4]}..." for secret in secrets if secret.encode() in haystack)
    return found


def files_under(root: Path) -> dict[str, bytes]:
    """The raw bytes of every file below ``root`` (the sqlite metadata DB and any task log file included)."""
    return {str(path): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def load_dag(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh import of an example DAG writing under ``tmp_path``."""
    monkeypatch.setenv("UIS_OUTPUT_ROOT", (tmp_path / "out").as_uri())
    monkeypatch.delenv("UIS_UPLOAD_SOURCE", raising=False)
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{time.monotonic_ns()}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def db_rows(run_id: str) -> dict[str, str]:
    """XCom values and rendered template fields of a run, read back from the metadata DB."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.run_id == run_id).all()
        rendered = session.query(RenderedTaskInstanceFields).filter(RenderedTaskInstanceFields.run_id == run_id).all()
        return {
            **{f"xcom {x.task_id}/{x.key}": json.dumps(XComModel.deserialize_value(x), default=str) for x in xcoms},
            **{f"rendered {r.task_id}": json.dumps(r.rendered_fields, default=str) for r in rendered},
        }


def finish_after_first_probe(api: UISEmulator) -> threading.Thread:
    """Once the sensor has seen the uploads pending, move the emulator clock past their processing."""

    def run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            r["method"] == "get.uploaded_calls" and (r["params"] or {}).get("limit") == 1 and not r["error"]
            for r in api.requests
        ):
            time.sleep(0.01)
        api.clock.advance(PROCESSING + 60)

    thread = threading.Thread(target=run, name="finish-processing", daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sense_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    """History in March 2025 only, so the run's day holds what the DAG uploads; uploads take 20 emulator minutes."""
    started = emulator(calls=300, start="2025-03-01", days=3, new_seconds=600, process_seconds=PROCESSING)
    try:
        yield started
    finally:
        started.stop()


def test_a_dag_run_on_a_login_session_leaks_no_secret_anywhere(
    sense_api: UISEmulator,
    airflow_db: Path,
    airflow_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    set_conn(monkeypatch, "uis_default", sense_api.url, login=LOGIN, password=PASSWORD)
    sense_api.expire_sessions_every(4)
    sense_api.faults.script(["http_502"])
    module = load_dag(SENSE_DAG, tmp_path, monkeypatch)
    module.dag.get_task("wait_for_processing").poke_interval = 0.05
    module.dag.get_task("upload_calls").batch_size = 8

    finisher = finish_after_first_probe(sense_api)
    run = module.dag.test(logical_date=RUN_DAY.add(days=1))
    finisher.join()

    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == dict.fromkeys(
        ("upload_calls", "wait_for_processing", "extract_uploaded_calls", "extract_calls_report"), "success"
    )
    assert "[DAG TEST] running trigger in line" in caplog.text, "the trigger did not run"
    tokens = set(sense_api.issued_tokens)
    assert len(tokens) >= 4, "sessions were meant to expire and be renewed several times"
    secrets = {PASSWORD, API_KEY, *tokens}
    rows = db_rows(run.run_id)
    assert any(key.startswith("xcom wait_for_processing") for key in rows)
    assert any(key.startswith("rendered extract_uploaded_calls") for key in rows)
    out, err = capfd.readouterr()
    texts: dict[str, str | bytes] = {
        "caplog": caplog.text,
        "log records": "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records),
        "stdout": out,
        "stderr": err,
        **rows,
        **files_under(airflow_home),
        **files_under(tmp_path / "out"),
        **{f"repr {t.task_id}": repr(t) + repr(vars(t)) for t in module.dag.tasks},
    }
    assert leaks(texts, secrets) == []
    # the raw scan does see what the run stored: the upload's request ids are in the metadata DB's bytes
    request_ids = json.loads(rows["xcom upload_calls/request_ids"])
    assert request_ids
    assert leaks(files_under(airflow_home), set(request_ids))
    assert sense_api.open_sessions == 0, "a task left its login session open"


def test_a_failing_dag_run_on_an_api_key_leaks_no_secret(
    airflow_db: Path,
    airflow_home: Path,
    api: UISEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    set_conn(monkeypatch, "uis_default", api.url)
    api.disable_method("get.uploaded_calls")
    module = load_dag(DAILY_DAG, tmp_path, monkeypatch)
    module.dag.get_task("extract_uploaded_calls").retries = 0
    run = module.dag.test(logical_date=pendulum.datetime(2026, 1, 5, tz=TZ))
    assert str(run.state) == "failed"
    out, err = capfd.readouterr()
    assert "method_component_disabled" in caplog.text + out + err, "the API's error did not reach the log"
    texts: dict[str, str | bytes] = {
        "caplog": caplog.text,
        "log records": "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
        "stdout": out,
        "stderr": err,
        **db_rows(run.run_id),
        **files_under(airflow_home),
    }
    assert leaks(texts, {API_KEY}) == []


# -- exception texts, even when the API echoes a secret back ----------------------------------------------------


def echoing(request: dict[str, Any]) -> Answer:
    """A server that logs in anyone, then answers every call with an error echoing the token and the password."""
    params = request.get("params") or {}
    if request.get("method") == "login.user":
        token = f"tok-{len(request.get('id', ''))}-9f8e7d6c5b4a39281706"
        return rpc_result(request, {"data": {"access_token": token, "expire_at": int(time.time()) + 3600}})
    token = str(params.get("access_token"))
    return rpc_error(
        request,
        "invalid_parameter_value",
        message=f"Invalid value {token} (login {LOGIN}, password {PASSWORD})",
        field="access_token",
        value=token,
        params={"echo": [token, {"password": PASSWORD}]},
    )


def every_text_of(error: BaseException) -> dict[str, str]:
    """Everything an exception shows: str, repr, args, attributes, and the same after a pickle round trip."""
    again = pickle.loads(pickle.dumps(error))
    texts = {"str": str(error), "repr": repr(error), "args": repr(error.args), "vars": repr(vars(error))}
    texts.update(
        {f"pickled {k}": v for k, v in {"str": str(again), "repr": repr(again), "vars": repr(vars(again))}.items()}
    )
    return texts


@pytest.mark.parametrize("login", [LOGIN, None], ids=["login-session", "api-key"])
def test_errors_echoing_secrets_are_scrubbed_in_every_form(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, login: str | None
) -> None:
    caplog.set_level("DEBUG")
    secret = PASSWORD if login else API_KEY
    with ScriptedAPI(echoing) as server:
        conn_id = set_conn(monkeypatch, "uis_echo", server.url, login=login, password=secret)
        hook = UISHook(conn_id, retry_policy=FAST)
        with pytest.raises(UISError) as error:
            hook.call("get.account")
        hook.close()
        sent = {str((r.get("params") or {}).get("access_token")) for r in server.requests} - {"None"}
    assert sent, "no token reached the server"
    assert error.value.mnemonic == "invalid_parameter_value"
    assert "***" in str(error.value)
    secrets = {secret, *sent}
    texts: dict[str, str | bytes] = {**every_text_of(error.value), "log": caplog.text, "hook": repr(hook)}
    assert leaks(texts, secrets) == []


def test_async_hook_and_trigger_events_scrub_echoed_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedAPI(echoing) as server:
        set_conn(monkeypatch, "uis_echo", server.url, login=LOGIN, password=PASSWORD, timezone=TZ)
        trigger = UISUploadedCallsTrigger(
            uis_conn_id="uis_echo",
            date_from=RUN_DAY.isoformat(),
            date_till=RUN_DAY.add(days=1).isoformat(),
            timezone=TZ,
            poll_interval=0.01,
            retry_policy={"max_retries": 1, "backoff_base": 0.01},
        )

        async def collect() -> tuple[list[Any], str]:
            events = [event async for event in trigger.run()]
            hook = UISAsyncHook("uis_echo", retry_policy=FAST)
            try:
                await hook.call("get.account")
            except UISError as exc:
                return events, repr(vars(exc)) + str(exc)
            finally:
                await hook.aclose()
            return events, ""

        events, async_error = asyncio.run(asyncio.wait_for(collect(), 60))
        tokens = {str((r.get("params") or {}).get("access_token")) for r in server.requests} - {"None"}
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert async_error
    texts: dict[str, str | bytes] = {
        "event": json.dumps(events[0].payload),
        "serialized": json.dumps(trigger.serialize()),
        "async error": async_error,
    }
    assert leaks(texts, {PASSWORD, *tokens}) == []


# -- the sensor's deferral: trigger kwargs and events ------------------------------------------------------------


def test_deferral_serializes_no_secret_and_events_carry_none(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    api = emulator(calls=300, start="2026-01-01", days=10, new_seconds=600, process_seconds=PROCESSING)
    try:
        api.clock.advance(FUTURE_DAY.add(hours=12).timestamp() - api.clock.time())
        set_conn(monkeypatch, "uis_default", api.url)
        set_conn(monkeypatch, "uis_login", api.url, login=LOGIN, password=PASSWORD, timezone=TZ)
        now = pendulum.from_timestamp(api.clock.time(), tz=TZ).strftime("%Y-%m-%d %H:%M:%S")
        calls = [
            {
                "ext_id": f"sec-{i}",
                "is_lost": False,
                "start_time": now,
                "finish_time": now,
                "mp3_records": [{"record_url": "https://records.example/ok.mp3"}],
            }
            for i in range(3)
        ]
        with UISHook("uis_default") as uploader:
            uploader.call("upload.calls", {"calls": calls})
        api.expire_sessions_every(2)
        sensor = UISUploadedCallsSensor(
            task_id="wait", uis_conn_id="uis_login", deferrable=True, poke_interval=0.01, api_retry_policy=FAST
        )
        context = {"data_interval_start": FUTURE_DAY, "data_interval_end": FUTURE_DAY.add(days=1)}
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context)
        trigger = deferred.value.trigger
        api.clock.advance(PROCESSING + 60)

        async def collect() -> list[Any]:
            return [event async for event in trigger.run()]

        events = asyncio.run(asyncio.wait_for(collect(), 60))
        assert [e.payload["status"] for e in events] == ["success"]
        result = sensor.execute_complete(context, events[0].payload)
        tokens = set(api.issued_tokens)
        assert len(tokens) >= 2
        texts: dict[str, str | bytes] = {
            "serialized": json.dumps(trigger.serialize()),
            "deferral": repr(deferred.value) + repr(vars(deferred.value)),
            "events": json.dumps([e.payload for e in events]),
            "result": json.dumps(result),
            "log": caplog.text,
            "sensor": repr(sensor) + repr(vars(sensor)),
            "trigger": repr(trigger) + repr(vars(trigger)),
        }
        assert leaks(texts, {PASSWORD, API_KEY, *tokens}) == []
        assert api.open_sessions == 0
    finally:
        api.stop()


# -- repr, lineage and Airflow's masker ----------------------------------------------------------------------


def test_repr_lineage_and_masking_of_a_finished_extract(
    api: UISEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.providers.common.compat.sdk import get_hook_lineage_collector
    from airflow.sdk._shared.secrets_masker import redact

    from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator

    set_conn(monkeypatch, "uis_login", api.url, login=LOGIN, password=PASSWORD)
    api.expire_sessions_every(3)
    op = UISUploadedCallsToStorageOperator(
        task_id="extract", uis_conn_id="uis_login", output_path=str(tmp_path / "out.jsonl"), page_size=10
    )
    result = op.execute({"data_interval_start": RUN_DAY, "data_interval_end": RUN_DAY.add(days=1)})
    tokens = set(api.issued_tokens)
    assert len(tokens) >= 3
    hook = UISHook("uis_login")
    hook.call("get.account")
    collector = get_hook_lineage_collector()
    texts: dict[str, str | bytes] = {
        "xcom": json.dumps(result),
        "operator": repr(op) + repr(vars(op)),
        "lineage": repr(op._lineage) + repr(lineage_names(*op._lineage)) if op._lineage else "",
        "collected": repr(collector.collected_assets),
        "hook": repr(hook) + repr(hook.session) + repr(hook.settings) + repr(hook.session.stats),
    }
    for token in set(api.issued_tokens) | {PASSWORD}:
        assert redact(f"x {token} y") == "x *** y", "a secret was not registered with Airflow's masker"
    hook.close()
    assert leaks(texts, {PASSWORD, *api.issued_tokens}) == []


# -- TLS ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store holds, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class TLSServer(LoopbackServer):
    """A JSON-RPC server on https://127.0.0.1 with the self-signed certificate; counts requests that got through."""

    scheme = "https"

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        served = self.served = []  # type: list[str]
        handshakes = self.handshakes = []  # type: list[object]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the access log."""

            def do_POST(self) -> None:
                """Answer any call with a ``get.account``-like result and remember that it got through."""
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                served.append(request.get("method"))
                _, body = rpc_result(request, {"data": {"name": "tls", "timezone": TZ}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                """A refused handshake is the expected outcome here, not an error to print."""

            def get_request(self) -> Any:
                """Accept one connection (the TLS handshake happens here), counting every attempt."""
                handshakes.append(None)
                return super().get_request()

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server = Server(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        super().__init__(server)


def test_http_clients_verify_tls_by_default() -> None:
    http = sync.new_http_client()
    try:
        assert http.verify is True
    finally:
        http.close()
    client = aio.new_http_client()
    try:
        pool_context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert pool_context.verify_mode == ssl.CERT_REQUIRED
        assert pool_context.check_hostname is True
    finally:
        asyncio.run(client.aclose())


TURN_OFF_ATTEMPTS = [
    pytest.param({}, {}, id="defaults"),
    pytest.param({"verify_ssl": False, "ssl_verify": False, "insecure": True}, {}, id="extras"),
    pytest.param({}, {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0"}, id="environment"),
]


@pytest.mark.parametrize(("extra", "env"), TURN_OFF_ATTEMPTS)
def test_an_untrusted_certificate_is_refused_by_the_hook_and_the_trigger(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with TLSServer(*self_signed) as server:
        set_conn(monkeypatch, "uis_tls", server.url, **extra)
        with pytest.raises(UISTransportError) as error:
            UISHook("uis_tls", retry_policy=FAST).call("get.account")
        assert "SSLError" in str(error.value) and "trust its CA" in str(error.value)
        assert len(server.handshakes) == 1, "an untrusted certificate was retried"

        async def trigger_call() -> None:
            hook = UISAsyncHook("uis_tls", retry_policy=FAST)
            try:
                await hook.call("get.account")
            finally:
                await hook.aclose()

        with pytest.raises(UISTransportError, match="TLS handshake failed"):
            asyncio.run(asyncio.wait_for(trigger_call(), 60))
        assert len(server.handshakes) == 2, "an untrusted certificate was retried by the trigger's client"
        assert server.served == [], "a request went through an unverified TLS connection"


def test_the_same_server_is_reached_once_its_certificate_is_trusted(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, _ = self_signed
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with TLSServer(*self_signed) as server:
        set_conn(monkeypatch, "uis_tls", server.url)
        assert UISHook("uis_tls", retry_policy=FAST).call("get.account")["data"]["name"] == "tls"

        async def trigger_call() -> dict[str, Any]:
            hook = UISAsyncHook("uis_tls", retry_policy=FAST)
            try:
                return await hook.call("get.account")
            finally:
                await hook.aclose()

        assert asyncio.run(asyncio.wait_for(trigger_call(), 60))["data"]["name"] == "tls"
        assert server.served == ["get.account", "get.account"]


class ConnectProxy(LoopbackServer):
    """A tiny HTTP CONNECT proxy on 127.0.0.1 that tunnels bytes and remembers every CONNECT target."""

    def __init__(self) -> None:
        targets = self.targets = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the access log."""

            def do_CONNECT(self) -> None:
                """Open the tunnel to the requested host:port and copy bytes both ways until one side closes."""
                targets.append(self.path)
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=30)
                self.send_response(200, "Connection established")
                self.end_headers()
                sides = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sides, [], [], 30)
                        if not readable:
                            return
                        for side in readable:
                            chunk = side.recv(65536)
                            if not chunk:
                                return
                            (upstream if side is self.connection else self.connection).sendall(chunk)
                finally:
                    upstream.close()
                    self.close_connection = True

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    @property
    def proxy_url(self) -> str:
        return self.url.removesuffix("/v2.0")


async def _async_account(conn_id: str) -> dict[str, Any]:
    hook = UISAsyncHook(conn_id, retry_policy=FAST)
    try:
        return await hook.call("get.account")
    finally:
        await hook.aclose()


def both_transports(conn_id: str) -> list[str]:
    """``get.account`` through the hook (requests) and the async hook (httpx): ``ok`` or the error, for each."""
    outcomes = []
    for call in (
        lambda: UISHook(conn_id, retry_policy=FAST).call("get.account"),
        lambda: asyncio.run(asyncio.wait_for(_async_account(conn_id), 60)),
    ):
        try:
            outcomes.append("ok" if call()["data"]["name"] == "tls" else "wrong answer")
        except UISError as exc:
            outcomes.append(str(exc))
    return outcomes


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_a_ca_from_the_environment_is_trusted_by_both_transports_alike(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """Issue 15 item 11: REQUESTS_CA_BUNDLE used to work for the hook only, SSL_CERT_FILE for the trigger only."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(self_signed[0]))
    with TLSServer(*self_signed) as server:
        set_conn(monkeypatch, "uis_tls", server.url)
        assert both_transports("uis_tls") == ["ok", "ok"]


def test_the_connection_ca_bundle_is_trusted_by_both_transports_and_named_when_missing(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with TLSServer(*self_signed) as server:
        set_conn(monkeypatch, "uis_plain", server.url)
        refused = both_transports("uis_plain")
        assert all("TLS handshake failed" in text and "extra 'ca_bundle'" in text for text in refused), refused
        set_conn(monkeypatch, "uis_ca", server.url, ca_bundle=str(self_signed[0]))
        assert both_transports("uis_ca") == ["ok", "ok"]
        # the connection's bundle wins over an environment variable naming another CA
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(REPO / "pyproject.toml"))
        monkeypatch.setenv("SSL_CERT_FILE", str(REPO / "pyproject.toml"))
        assert both_transports("uis_ca") == ["ok", "ok"]
        assert server.served == ["get.account"] * 4


def test_verify_false_is_honoured_by_both_transports_with_a_warning(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with TLSServer(*self_signed) as server:
        set_conn(monkeypatch, "uis_unverified", server.url, verify=False)
        assert both_transports("uis_unverified") == ["ok", "ok"]
    assert caplog.text.count("TLS certificate verification is OFF") >= 2


def test_the_connection_proxy_carries_both_transports(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 11: one proxy setting for the extract and the trigger, over the environment's proxy."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with TLSServer(*self_signed) as server, ConnectProxy() as proxy:
        set_conn(monkeypatch, "uis_proxied", server.url, ca_bundle=str(self_signed[0]), proxy=proxy.proxy_url)
        assert both_transports("uis_proxied") == ["ok", "ok"]
        target = server.url.split("//")[1].split("/")[0]
        assert proxy.targets == [target, target]
        assert server.served == ["get.account", "get.account"]
