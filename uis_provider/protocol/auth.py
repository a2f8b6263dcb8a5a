"""Connection settings of the ``uis`` connection type, read from host/login/password/extra without network IO."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.params import optional_user_id

DEFAULT_HOST = "https://dataapi.uiscom.ru/v2.0"
DEFAULT_TIMEOUT = 60.0
#: Environment variables naming a CA file, in the order they are honoured when the connection sets none.
CA_ENVIRONMENT = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from an Airflow ``uis`` connection: endpoint, credentials and agent/timezone options.

    ``password`` alone is a cabinet API key; ``login`` + ``password`` start a ``login.user`` session.
    """

    endpoint: str
    login: str | None = field(default=None, repr=False)
    secret: str = field(default="", repr=False)
    user_id: int | None = None
    timezone: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: A PEM file of the CA(s) to trust for ``https://`` hosts instead of the default bundle (private CA, proxy).
    ca_bundle: str | None = None
    #: Whether TLS certificates are verified (on unless the connection says ``verify: false``).
    verify: bool = True
    #: An ``http(s)://[user:password@]host:port`` proxy every request goes through (also ``https://`` ones).
    proxy: str | None = field(default=None, repr=False)
    #: How ``endpoint`` was made from a host that did not spell it out (empty, or without a scheme), for errors.
    endpoint_note: str | None = None

    @property
    def uses_session(self) -> bool:
        """True for login/password auth (a session token that expires and can be renewed)."""
        return bool(self.login)

    @property
    def proxy_password(self) -> str | None:
        """The password in the proxy URL, if any (a secret to mask)."""
        return urlsplit(self.proxy).password if self.proxy else None

    def tls_trust(self, environ: Mapping[str, str]) -> bool | str:
        """What both transports verify certificates against: ``False`` (off), a CA file, or ``True`` (defaults).

        The connection's ``ca_bundle`` wins; without it the first non-empty of ``REQUESTS_CA_BUNDLE``,
        ``CURL_CA_BUNDLE`` and ``SSL_CERT_FILE`` in ``environ``, so requests and httpx trust the same CAs.
        """
        if not self.verify:
            return False
        if self.ca_bundle:
            return self.ca_bundle
        for name in CA_ENVIRONMENT:
            if environ.get(name):
                return environ[name]
        return True

    def __repr__(self) -> str:
        mode = "login/password" if self.uses_session else "api key"
        return f"ConnectionSettings(endpoint={self.endpoint!r}, auth={mode}, user_id={self.user_id!r})"


def normalize_endpoint(host: str | None) -> str:
    """The API base URL from the connection's host: default UIS host when empty, ``https://`` when no scheme."""
    value = (host or "").strip()
    if not value:
        return DEFAULT_HOST
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UISConfigurationError(
            f"connection host {host!r} is not an http(s) URL; use the API base URL including the version, "
            f"e.g. {DEFAULT_HOST}"
        )
    return value.rstrip("/")


def endpoint_note(host: str | None) -> str | None:
    """What :func:`normalize_endpoint` assumed about ``host``, said so in connection errors; ``None`` if nothing."""
    value = (host or "").strip()
    if not value:
        return f"the connection's host is empty, so the default {DEFAULT_HOST} was used"
    if "://" not in value:
        return (
            f"the connection's host {value!r} has no scheme, so https:// was assumed; write http://{value} if the "
            "API answers plain HTTP"
        )
    return None


def _parse_extra(extra: Any) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, dict):
        return extra
    try:
        parsed = json.loads(extra)
    except ValueError:
        raise UISConfigurationError("connection extra is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise UISConfigurationError("connection extra must be a JSON object")
    return parsed


def settings_from_connection(
    host: str | None, login: str | None, password: str | None, extra: Any
) -> ConnectionSettings:
    """Validate a connection's fields and return its settings; errors say which field and what to put there."""
    options = {
        key.removeprefix("extra__uis__"): value for key, value in _parse_extra(extra).items() if value not in (None, "")
    }
    if not password:
        raise UISConfigurationError(
            "the UIS connection has no API key or password: put a cabinet API key in the 'API key or password' "
            "field, or a login and its password"
        )
    user_id = optional_user_id(options.get("user_id"), "connection extra 'user_id'")
    timezone = options.get("timezone") or None
    if timezone is not None:
        import pendulum

        try:
            pendulum.timezone(str(timezone))
        except Exception:
            raise UISConfigurationError(
                f"connection extra 'timezone' {timezone!r} is not an IANA time zone name (e.g. Europe/Moscow)"
            ) from None
    timeout_raw = options.get("timeout")
    timeout = DEFAULT_TIMEOUT
    if timeout_raw not in (None, ""):
        try:
            timeout = float(timeout_raw)
        except (TypeError, ValueError):
            timeout = -1.0
        if timeout <= 0:
            raise UISConfigurationError(
                f"connection extra 'timeout' must be a positive number of seconds, got {timeout_raw!r}"
            )
    verify = _verify_option(options.get("verify", True))
    ca_bundle = _ca_bundle_option(options.get("ca_bundle"), verify)
    return ConnectionSettings(
        endpoint=normalize_endpoint(host),
        login=(login or None),
        secret=password,
        user_id=user_id,
        timezone=str(timezone) if timezone else None,
        timeout=timeout,
        ca_bundle=ca_bundle,
        verify=verify,
        proxy=_proxy_option(options.get("proxy")),
        endpoint_note=endpoint_note(host),
    )


def _verify_option(value: Any) -> bool:
    """The ``verify`` extra: true/false (as JSON or text); anything else is refused rather than guessed."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise UISConfigurationError(
        f"connection extra 'verify' must be true or false, got {value!r}; to trust a private CA keep it true and "
        "set 'ca_bundle' to the CA's PEM file"
    )


def _ca_bundle_option(value: Any, verify: bool) -> str | None:
    """The ``ca_bundle`` extra: the path of a readable PEM file on this machine."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not os.path.isabs(value):
        raise UISConfigurationError(
            f"connection extra 'ca_bundle' must be the absolute path of a PEM file with the CA certificate(s) to "
            f"trust, got {value!r}"
        )
    if not verify:
        raise UISConfigurationError(
            "connection extras 'ca_bundle' and 'verify': false contradict each other; drop 'verify' to verify "
            "certificates against the CA bundle"
        )
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise UISConfigurationError(
            f"connection extra 'ca_bundle' {value!r} is not a readable file on this machine; every worker and the "
            "triggerer need the CA file at that path"
        )
    return value


def _proxy_option(value: Any) -> str | None:
    """The ``proxy`` extra: an ``http://`` or ``https://`` proxy URL with a host and port."""
    if value in (None, ""):
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if parts else repr(value)
        raise UISConfigurationError(
            f"connection extra 'proxy' must be an http:// or https:// proxy URL such as "
            f"http://proxy.corp.example:3128, got {shown!r}"
        )
    return value.strip()


def missing_connection(conn_id: str, error: Exception, *, in_trigger: bool = False) -> UISConfigurationError | None:
    """The configuration error for a connection lookup that found nothing; ``None`` when ``error`` is another failure.

    Airflow 3 gives code outside a task (a plain script, a notebook) no connections from the metadata DB, although
    ``airflow connections get`` shows them: the message names the ways that work.
    """
    if type(error).__name__ not in ("AirflowNotFoundException", "ConnectionNotFound"):
        return None
    env = f"AIRFLOW_CONN_{conn_id.upper()}"
    where = (
        "The triggerer looks connections up in the metadata DB, in secrets backends and in its own environment "
        f"({env}); create it there"
        if in_trigger
        else "Inside an Airflow task every connection is found (UI: Admin > Connections, or `airflow connections "
        "add`). A plain Python script outside a task sees no metadata-DB connections in Airflow 3 (even when "
        f"`airflow connections get {conn_id}` shows it): give the script the connection as the environment "
        f"variable {env} (its JSON or URI), or through a secrets backend"
    )
    return UISConfigurationError(
        f"uis_conn_id={conn_id!r}: no such Airflow connection here. Create a connection of type 'uis'. {where}"
    )


@contextmanager
def named_when_missing(conn_id: str, *, in_trigger: bool = False) -> Iterator[None]:
    """Around a connection lookup: a connection that is not found raises :func:`missing_connection`'s error, which
    says where to create it; any other failure passes unchanged."""
    try:
        yield
    except Exception as exc:
        missing = missing_connection(conn_id, exc, in_trigger=in_trigger)
        if missing is None:
            raise
        raise missing from None


def settings_for(
    conn_id: str, host: str | None, login: str | None, password: str | None, extra: Any
) -> ConnectionSettings:
    """:func:`settings_from_connection` with the connection id named in its errors."""
    try:
        return settings_from_connection(host, login, password, extra)
    except UISConfigurationError as exc:
        raise UISConfigurationError(f"uis_conn_id={conn_id!r}: {exc.message}") from None
