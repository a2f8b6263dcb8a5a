"""A ``uis`` connection's fields read into settings: the endpoint, the auth mode, the extras, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.auth import (
    DEFAULT_HOST,
    DEFAULT_TIMEOUT,
    endpoint_note,
    missing_connection,
    named_when_missing,
    normalize_endpoint,
    settings_for,
    settings_from_connection,
)


def test_the_endpoint_is_the_default_host_or_the_host_with_https_assumed_and_says_so() -> None:
    assert normalize_endpoint(None) == normalize_endpoint("  ") == DEFAULT_HOST
    assert normalize_endpoint("dataapi.comagic.ru/v2.0/") == "https://dataapi.comagic.ru/v2.0"
    assert normalize_endpoint("http://127.0.0.1:8080/v2.0") == "http://127.0.0.1:8080/v2.0"
    assert endpoint_note("http://127.0.0.1:8080/v2.0") is None
    assert "default" in (endpoint_note("") or "")
    assert "https:// was assumed" in (endpoint_note("dataapi.comagic.ru") or "")
    with pytest.raises(UISConfigurationError, match="not an http"):
        normalize_endpoint("ftp://dataapi.uiscom.ru")


def test_a_password_alone_is_an_api_key_and_with_a_login_a_session() -> None:
    key = settings_from_connection("", None, "key-123", None)
    assert not key.uses_session and key.secret == "key-123" and key.timeout == DEFAULT_TIMEOUT
    login = settings_from_connection("", "analyst", "pa55", '{"extra__uis__user_id": "77", "timeout": "30"}')
    assert login.uses_session and login.user_id == 77 and login.timeout == 30.0
    shown = repr(login)
    assert "pa55" not in shown and "analyst" not in shown and "login/password" in shown


@pytest.mark.parametrize(
    ("password", "extra", "needle"),
    [
        (None, None, "no API key or password"),
        ("k", "not json", "not valid JSON"),
        ("k", "[1]", "must be a JSON object"),
        ("k", '{"timeout": "-3"}', "'timeout' must be a positive number"),
        ("k", '{"timezone": "Mars/Olympus"}', "not an IANA time zone"),
        ("k", '{"verify": "maybe"}', "'verify' must be true or false"),
        ("k", '{"ca_bundle": "relative.pem"}', "absolute path of a PEM file"),
        ("k", '{"proxy": "socks5://user:hunter2@proxy:1080"}', "'proxy' must be an http:// or https://"),
    ],
)
def test_each_bad_field_is_refused_naming_it(password: str | None, extra: str | None, needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle) as info:
        settings_for("uis_x", "", None, password, extra)
    assert "uis_conn_id='uis_x'" in str(info.value)
    assert "hunter2" not in str(info.value), "a proxy password never reaches the error"


def test_tls_trust_is_off_the_connections_bundle_or_the_first_ca_variable(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("PEM")
    environ = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "/etc/curl.pem", "SSL_CERT_FILE": "/etc/ssl.pem"}
    assert settings_from_connection("", None, "k", {"verify": "false"}).tls_trust(environ) is False
    assert settings_from_connection("", None, "k", {"ca_bundle": str(bundle)}).tls_trust(environ) == str(bundle)
    assert settings_from_connection("", None, "k", None).tls_trust(environ) == "/etc/curl.pem"
    assert settings_from_connection("", None, "k", None).tls_trust({}) is True
    with pytest.raises(UISConfigurationError, match="contradict"):
        settings_from_connection("", None, "k", {"ca_bundle": str(bundle), "verify": False})
    with pytest.raises(UISConfigurationError, match="not a readable file"):
        settings_from_connection("", None, "k", {"ca_bundle": str(tmp_path / "missing.pem")})


def test_a_proxy_password_is_known_as_a_secret() -> None:
    settings = settings_from_connection("", None, "k", {"proxy": " http://user:hunter2@proxy.corp:3128 "})
    assert settings.proxy == "http://user:hunter2@proxy.corp:3128" and settings.proxy_password == "hunter2"


def test_a_missing_connection_names_the_ways_that_work_and_other_errors_pass() -> None:
    class AirflowNotFoundException(Exception):
        pass

    in_task = missing_connection("uis_main", AirflowNotFoundException("nope"))
    assert in_task is not None and "AIRFLOW_CONN_UIS_MAIN" in str(in_task) and "plain Python script" in str(in_task)
    in_trigger = missing_connection("uis_main", AirflowNotFoundException("nope"), in_trigger=True)
    assert in_trigger is not None and "triggerer" in str(in_trigger)
    assert missing_connection("uis_main", RuntimeError("database is down")) is None


def test_around_a_lookup_only_a_connection_not_found_becomes_the_named_error() -> None:
    class ConnectionNotFound(Exception):
        pass

    lookup = named_when_missing("uis_gone", in_trigger=True)
    with pytest.raises(UISConfigurationError, match=r"uis_conn_id='uis_gone'.*triggerer") as info, lookup:
        raise ConnectionNotFound("uis_gone")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(RuntimeError, match="database is down"), named_when_missing("uis_gone"):
        raise RuntimeError("database is down")
