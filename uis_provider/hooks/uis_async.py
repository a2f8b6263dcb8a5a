"""``UISAsyncHook``: the ``uis`` connection on an event loop (the trigger's), running the same protocol flows.

Thin on purpose: the connection is read with ``get_async_connection`` (sync connection APIs can deadlock the
triggerer's loop), secrets are masked with ``amask_secret``, and flows from :mod:`uis_provider.protocol.session` run
over :mod:`uis_provider.transport.aio`. No JSON-RPC logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any, TypeVar

import httpx
from airflow.providers.common.compat.sdk import BaseHook

from uis_provider.protocol.auth import ConnectionSettings, missing_connection, settings_for
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Effect, Reply, UISSession
from uis_provider.transport import aio
from uis_provider.version_compat import amask_secret

T = TypeVar("T")

#: The longest ``aclose`` waits for ``logout.user`` (it also runs while the trigger is being cancelled).
LOGOUT_TIMEOUT = 10.0


class UISAsyncHook(BaseHook):
    """Async access to the UIS Data API through a ``uis`` connection, for triggers.

    :param uis_conn_id: the Airflow connection of type ``uis`` (API key, or login/password re-logged in as needed).
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
        self._session: UISSession | None = None
        self._http: httpx.AsyncClient | None = None
        self._secrets_to_mask: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uis_conn_id={self.uis_conn_id!r})"

    async def get_session(self) -> UISSession:
        """The connection's API session (read once; its secrets are masked before anything can log them)."""
        if self._session is None:
            conn = await self._connection()
            if conn.password:
                await amask_secret(conn.password)
            settings = settings_for(self.uis_conn_id, conn.host, conn.login, conn.password, conn.extra)
            if settings.proxy_password:
                await amask_secret(settings.proxy_password)
            self._session = UISSession(settings, policy=self.retry_policy, on_secret=self._secrets_to_mask.append)
            await self._mask_new_secrets()
        return self._session

    async def _connection(self) -> Any:
        """The connection, read asynchronously; under ``dag.test()`` also from the metadata DB (see below)."""
        from airflow.providers.common.compat.connection import get_async_connection

        try:
            return await get_async_connection(self.uis_conn_id, hook=self)
        except Exception as exc:
            missing = missing_connection(self.uis_conn_id, exc, in_trigger=True)
            if missing is None:
                raise
            if not _inline_test_trigger():
                raise missing from None
        # dag.test() runs the trigger in-process, whose comms answer only synchronous requests (Airflow 3.3.2's
        # InProcessSupervisorComms has no asend), so the async lookup misses metadata-DB connections. The sync
        # lookup goes through the same comms; run it off the loop.
        try:
            return await asyncio.to_thread(self.get_connection, self.uis_conn_id)
        except Exception as exc:
            missing = missing_connection(self.uis_conn_id, exc, in_trigger=True)
            if missing is None:
                raise
            raise missing from None

    async def _mask_new_secrets(self) -> None:
        while self._secrets_to_mask:
            await amask_secret(self._secrets_to_mask.pop())

    def _client(self, settings: ConnectionSettings) -> httpx.AsyncClient:
        if self._http is None:
            self._http = aio.new_http_client(settings)
        return self._http

    async def run(self, flow: Generator[Effect, Reply | None, T]) -> T:
        """Drive a flow of this hook's session (e.g. ``session.call(...)``) to its end; returns its value."""
        session = await self.get_session()
        try:
            return await aio.run(flow, self._client(session.settings), session.settings.endpoint)
        finally:
            await self._mask_new_secrets()

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """One JSON-RPC call; returns the ``result`` object. ``access_token``/``user_id`` are added by the session."""
        session = await self.get_session()
        return await self.run(session.call(method, params, request_id=request_id))

    async def aclose(self) -> None:
        """End a login session (``logout.user``, bounded in time) and close the HTTP client; safe to call twice."""
        session, http = self._session, self._http
        self._http = None
        if http is None:
            return
        try:
            if session is not None and session.logged_in:
                with contextlib.suppress(Exception):
                    logout = aio.run(session.logout(), http, session.settings.endpoint)
                    await asyncio.wait_for(logout, LOGOUT_TIMEOUT)
        finally:
            await http.aclose()


def _inline_test_trigger() -> bool:
    """True inside ``dag.test()``'s in-process trigger run: task comms are set but cannot send asynchronously."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return comms is not None and not hasattr(comms, "asend")
