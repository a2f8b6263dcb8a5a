"""``UISHook``: the connection, the auth token and every JSON-RPC call to the UIS Data API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from uis_provider.exceptions import UISConfigurationError, UISDataChangedError, UISError, UISPagingLimitError
from uis_provider.protocol import paging
from uis_provider.protocol.auth import ConnectionSettings, settings_from_connection
from uis_provider.protocol.jsonrpc import result_metadata, result_records
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import UISSession
from uis_provider.transport import sync


@dataclass(frozen=True)
class Page:
    """One page of a list method: its records, the offset it started at and the query's ``total_items``."""

    records: list[dict[str, Any]]
    offset: int
    total_items: int


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


class UISHook(BaseHook):
    """Talk to the UIS Data API (also CoMagic, CallGear, Novofon) through an Airflow ``uis`` connection.

    The connection's password is an API key, or with a login the password of a ``login.user`` session that the
    hook renews when it expires. Every call is paced by ``metadata.limits``, retried when the failure is transient,
    and mapped to :mod:`uis_provider.exceptions` by the API's mnemonic.

    :param uis_conn_id: the Airflow connection of type ``uis``.
    :param retry_policy: how transient failures are retried (default: 5 retries, exponential backoff).
    """

    conn_name_attr = "uis_conn_id"
    default_conn_name = "uis_default"
    conn_type = "uis"
    hook_name = "UIS Data API"

    def __init__(
        self, uis_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.uis_conn_id = uis_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._timezone: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uis_conn_id={self.uis_conn_id!r})"

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's endpoint, credentials and options (secrets masked in logs from here on)."""
        if not self.uis_conn_id or not isinstance(self.uis_conn_id, str):
            raise UISConfigurationError(f"uis_conn_id must name an Airflow connection, got {self.uis_conn_id!r}")
        try:
            conn = self.get_connection(self.uis_conn_id)
        except Exception as exc:
            if type(exc).__name__ not in ("AirflowNotFoundException", "ConnectionNotFound"):
                raise
            raise UISConfigurationError(
                f"uis_conn_id={self.uis_conn_id!r}: no such Airflow connection. Create a connection of type 'uis' "
                f"(UI: Admin > Connections, or AIRFLOW_CONN_{self.uis_conn_id.upper()})"
            ) from None
        if conn.password:
            _mask(conn.password)
        settings = settings_from_connection(conn.host, conn.login, conn.password, conn.extra)
        return settings

    @cached_property
    def session(self) -> UISSession:
        """The auth/limits state shared by this hook's calls."""
        return UISSession(self.settings, policy=self.retry_policy, on_secret=_mask)

    @cached_property
    def http(self) -> requests.Session:
        """The keep-alive HTTP session."""
        return sync.new_http_session()

    def get_conn(self) -> UISSession:
        """The API session of this connection (Airflow's hook interface)."""
        return self.session

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """One JSON-RPC call; returns the ``result`` object (``data``, ``metadata``).

        ``access_token`` and ``user_id`` are added here; pass only the method's own parameters.
        """
        return sync.run(self.session.call(method, params, request_id=request_id), self.http, self.settings.endpoint)

    def paginate(
        self, method: str, params: dict[str, Any] | None = None, *, page_size: int = paging.DEFAULT_PAGE_SIZE
    ) -> Iterator[Page]:
        """Yield every page of a ``get.*`` list, by ``total_items``, with the fewest calls.

        Raises :class:`UISPagingLimitError` after the first page when the query holds more rows than offsets can
        reach, and :class:`UISDataChangedError` when ``total_items`` changes between pages (read it again).
        Pass a ``sort`` on a unique key for pages that neither skip nor repeat a record.
        """
        paging.validate_page_size(page_size)
        base = dict(params or {})
        first = self.call(method, {**base, "limit": page_size, "offset": 0})
        total = _total_items(first, method)
        if not paging.is_pageable(total, page_size):
            raise UISPagingLimitError(
                f"the query holds {total} rows, more than the {paging.reachable_rows(page_size)} that offset "
                "paging reaches; split its date window",
                method=method,
                params={"total_items": total, "page_size": page_size},
            )
        yield Page(result_records(first), 0, total)
        for offset in paging.remaining_offsets(total, page_size):
            result = self.call(method, {**base, "limit": page_size, "offset": offset})
            now_total = _total_items(result, method)
            if now_total != total:
                raise UISDataChangedError(
                    f"total_items changed from {total} to {now_total} while paging; the data moved under the "
                    "query, read the window again",
                    method=method,
                )
            yield Page(result_records(result), offset, total)

    def get_records(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every record of a ``get.*`` list, page by page (memory bounded by one page)."""
        for page in self.paginate(method, params, **kwargs):
            yield from page.records

    def get_timezone(self) -> str:
        """The account's IANA time zone: the connection's ``timezone`` extra, else ``get.account`` (asked once)."""
        if self.settings.timezone:
            return self.settings.timezone
        if self._timezone is None:
            data = self.call("get.account").get("data")
            account = data[0] if isinstance(data, list) and data else data
            timezone = account.get("timezone") if isinstance(account, dict) else None
            if not isinstance(timezone, str) or not timezone:
                raise UISConfigurationError(
                    "get.account did not return a time zone; set the connection extra 'timezone' (e.g. Europe/Moscow)"
                )
            self._timezone = timezone
        return self._timezone

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``get.account``); the API's own message on failure."""
        try:
            data = self.call("get.account").get("data")
            account = data[0] if isinstance(data, list) and data else data
            name = account.get("name") if isinstance(account, dict) else None
            zone = account.get("timezone") if isinstance(account, dict) else None
            return True, f"Connected to {self.settings.endpoint}: account {name!r}, time zone {zone}"
        except UISError as exc:
            return False, str(exc)
        finally:
            self.close()

    def close(self) -> None:
        """End a login session (``logout.user``) and the HTTP connection pool."""
        if "session" in self.__dict__ and self.session.logged_in:
            sync.run(self.session.logout(), self.http, self.settings.endpoint)
        if "http" in self.__dict__:
            self.http.close()
            del self.__dict__["http"]

    def __enter__(self) -> UISHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _total_items(result: dict[str, Any], method: str) -> int:
    total = result_metadata(result).get("total_items")
    if isinstance(total, bool) or not isinstance(total, (int, str)):
        raise UISError("the answer has no metadata.total_items to page by", method=method)
    try:
        return int(total)
    except ValueError:
        raise UISError(f"metadata.total_items is not a number: {total!r}", method=method) from None
