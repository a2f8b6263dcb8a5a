"""``UISAsyncHook``: the ``uis`` connection on an event loop (the trigger's), running the same protocol flows.

Thin on purpose: the connection is read with ``get_async_connection`` (sync connection APIs can deadlock the
triggerer's loop), secrets are masked with ``amask_secret``, and flows from :mod:`uis_provider.protocol.session` run
over :mod:`uis_provider.transport.aio`. No JSON-RPC logic lives here. Its methods are those of
:class:`~uis_provider.hooks.uis.UISHook`, awaited, with the same parameters (``aclose`` and ``async with`` for
``close`` and ``with``); ``paginate`` and ``get_records`` are async generators over the same
:class:`~uis_provider.protocol.page_plan.PagePlan`, fetching one page at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator
from typing import Any, TypeVar

import httpx
from airflow.providers.common.compat.sdk import BaseHook

from uis_provider.exceptions import UISError
from uis_provider.protocol import paging
from uis_provider.protocol.account import ASKED_TIMEZONE, account_timezone, connection_test, quick_session
from uis_provider.protocol.auth import missing_connection, named_when_missing, settings_for
from uis_provider.protocol.jsonrpc import RecordsDecoder
from uis_provider.protocol.keyset import Keyset
from uis_provider.protocol.page_plan import Page, PagePlan, validate_prefetch_pages
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Effect, Reply, UISSession
from uis_provider.transport import aio
from uis_provider.version_compat import amask_secret

T = TypeVar("T")

log = logging.getLogger(__name__)

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
        self._timezone: str | None = None

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

    async def get_conn(self) -> UISSession:
        """The API session of this connection (Airflow's hook interface)."""
        return await self.get_session()

    async def _connection(self) -> Any:
        """The connection, read asynchronously; under ``dag.test()`` also from the metadata DB (see below)."""
        from airflow.providers.common.compat.connection import get_async_connection

        with named_when_missing(self.uis_conn_id, in_trigger=True):
            try:
                return await get_async_connection(self.uis_conn_id, hook=self)
            except Exception as exc:
                if missing_connection(self.uis_conn_id, exc) is None or not _inline_test_trigger():
                    raise
            # dag.test() runs the trigger in-process, whose comms answer only synchronous requests (Airflow 3.3.2's
            # InProcessSupervisorComms has no asend), so the async lookup misses metadata-DB connections. The sync
            # lookup goes through the same comms; run it off the loop.
            return await asyncio.to_thread(self.get_connection, self.uis_conn_id)

    async def _mask_new_secrets(self) -> None:
        while self._secrets_to_mask:
            await amask_secret(self._secrets_to_mask.pop())

    async def run(self, flow: Generator[Effect, Reply | None, T]) -> T:
        """Drive a flow of this hook's session (e.g. ``session.call(...)``) to its end; returns its value.

        Every secret the session learns (a login's token) is masked as soon as it is learned, before the flow's
        next request or log line.
        """
        session = await self.get_session()
        if self._http is None:
            self._http = aio.new_http_client(session.settings)
        return await aio.run(flow, self._http, session.settings.endpoint, after_step=self._mask_new_secrets)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """One JSON-RPC call; returns the ``result`` object (``data``, ``metadata``).

        ``access_token`` and ``user_id`` are added by the session; pass only the method's own parameters.
        """
        session = await self.get_session()
        return await self.run(session.call(method, params, request_id=request_id))

    async def paginate(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        prefetch_pages: int | None = None,
        keyset: Keyset | None = None,
        decode_records: RecordsDecoder | None = None,
    ) -> AsyncIterator[Page]:
        """Yield every page of a ``get.*`` list in order: the pages, checks and errors of
        :meth:`uis_provider.hooks.uis.UISHook.paginate` (the same :class:`~uis_provider.protocol.page_plan.PagePlan`).

        Pages are fetched one at a time, each when the caller asks for it (a trigger shares its event loop):
        ``prefetch_pages`` is checked as the sync hook checks it, and fetches nothing ahead.
        """
        paging.validate_page_size(page_size)
        if prefetch_pages is not None:
            validate_prefetch_pages(prefetch_pages)
        plan = PagePlan(method, params, page_size=page_size, keyset=keyset, decode=decode_records)
        with plan.day_budget_errors():
            session = await self.get_session()
            while plan.has_pages_left:
                yield plan.handed(await self.run(plan.next_page(session)))

    async def get_records(
        self, method: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a ``get.*`` list, page by page (memory bounded by one page)."""
        async for page in self.paginate(method, params, **kwargs):
            for record in page.records:
                yield record

    async def get_timezone(self) -> str:
        """The account's IANA time zone: the connection's ``timezone`` extra, else ``get.account`` (asked once per
        hook; the log says how to save that round trip)."""
        session = await self.get_session()
        if session.settings.timezone:
            return session.settings.timezone
        if self._timezone is None:
            self._timezone = account_timezone(await self.call("get.account"))
            log.info(ASKED_TIMEZONE, self.uis_conn_id, self._timezone, self._timezone)
        return self._timezone

    async def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``get.account``), made once with a short timeout: a test fails fast.

        The same test as :meth:`uis_provider.hooks.uis.UISHook.test_connection`, on the event loop.
        """
        try:
            settings = (await self.get_session()).settings
            session = quick_session(settings, self._secrets_to_mask.append)
            async with aio.new_http_client(session.settings) as http:
                test = connection_test(session)
                return True, await aio.run(test, http, settings.endpoint, after_step=self._mask_new_secrets)
        except UISError as exc:
            return False, str(exc)

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

    async def __aenter__(self) -> UISAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _inline_test_trigger() -> bool:
    """True inside ``dag.test()``'s in-process trigger run: task comms are set but cannot send asynchronously."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return False
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return comms is not None and not hasattr(comms, "asend")
