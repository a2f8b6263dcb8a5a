"""``UISHook``: the connection, the auth token and every JSON-RPC call to the UIS Data API."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from functools import cached_property
from typing import Any, TypeVar

import requests
from airflow.providers.common.compat.sdk import BaseHook

from uis_provider import connection_form
from uis_provider.exceptions import UISConfigurationError, UISError
from uis_provider.protocol import paging
from uis_provider.protocol.account import (
    ASKED_TIMEZONE,
    account_timezone,
    connection_test,
    quick_session,
)
from uis_provider.protocol.account import (
    TEST_CONNECTION_TIMEOUT as TEST_CONNECTION_TIMEOUT,  # where it was defined before protocol.account
)
from uis_provider.protocol.auth import ConnectionSettings, named_when_missing, settings_for
from uis_provider.protocol.budget import BudgetDeadline
from uis_provider.protocol.jsonrpc import RecordsDecoder, last_record
from uis_provider.protocol.keyset import Keyset
from uis_provider.protocol.page_plan import Page, PagePlan, PlannedPage, validate_prefetch_pages
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import CallFlow, Effect, Reply, UISSession
from uis_provider.transport import sync
from uis_provider.transport.collector import collector_paused
from uis_provider.version_compat import AIRFLOW_V_3_2_PLUS

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Pages of a list fetched ahead (in flight or waiting) while the caller handles the current one; 0 = sequential.
DEFAULT_PREFETCH_PAGES = 4


def _mask(secret: str) -> None:
    from uis_provider.version_compat import mask_secret

    mask_secret(secret)


class UISHook(BaseHook):
    """Talk to the UIS Data API (also CoMagic, CallGear, Novofon) through an Airflow ``uis`` connection.

    The connection's password is an API key, or with a login the password of a ``login.user`` session that the
    hook renews when it expires. Every call is paced by ``metadata.limits``, retried when the failure is transient,
    and mapped to :mod:`uis_provider.exceptions` by the API's mnemonic.

    :param uis_conn_id: the Airflow connection of type ``uis``.
    :param retry_policy: how transient failures are retried (default: 5 retries, exponential backoff).
    :param prefetch_pages: pages :meth:`paginate` fetches ahead on worker threads while the caller handles the
        current page (0 fetches one page at a time); never more than the minute and day point budgets left, and
        halved when the minute budget refuses a call (other tasks share it), growing back by one a round.
    :param budget_deadline: when calls stop waiting for the shared minute point budget and fail, naming it
        (default: :data:`~uis_provider.protocol.budget.DEFAULT_BUDGET_TIMEOUT` from the first call).
    """

    conn_name_attr = "uis_conn_id"
    default_conn_name = "uis_default"
    conn_type = "uis"
    hook_name = "UIS Data API"

    def __init__(
        self,
        uis_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        prefetch_pages: int = DEFAULT_PREFETCH_PAGES,
        budget_deadline: BudgetDeadline | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.uis_conn_id = uis_conn_id
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise UISConfigurationError(
                "retry_policy must be a uis_provider.protocol.retry.RetryPolicy (or None for the default), got "
                f"{type(retry_policy).__name__} {retry_policy!r}"
            )
        self.retry_policy = retry_policy or RetryPolicy()
        self.prefetch_pages = validate_prefetch_pages(prefetch_pages)
        if budget_deadline is not None and not isinstance(budget_deadline, BudgetDeadline):
            raise UISConfigurationError(
                "budget_deadline must be a uis_provider.protocol.budget.BudgetDeadline (or None for the default), "
                f"got {type(budget_deadline).__name__} {budget_deadline!r}"
            )
        self.budget_deadline = budget_deadline
        self._timezone: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uis_conn_id={self.uis_conn_id!r})"

    if not AIRFLOW_V_3_2_PLUS:
        # Airflow 2.11-3.1 build the connection form from these; 3.2+ reads get_provider_info() and warns if they exist.

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, Any]:
            """The extra fields of the ``uis`` connection form, from :mod:`uis_provider.connection_form`."""
            return connection_form.legacy_form_widgets()

        @classmethod
        def get_ui_field_behaviour(cls) -> dict[str, Any]:
            """Hidden, relabelled and placeholder fields of the form, from :mod:`uis_provider.connection_form`."""
            return connection_form.legacy_ui_field_behaviour()

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's endpoint, credentials and options (secrets masked in logs from here on)."""
        if not self.uis_conn_id or not isinstance(self.uis_conn_id, str):
            raise UISConfigurationError(f"uis_conn_id must name an Airflow connection, got {self.uis_conn_id!r}")
        with named_when_missing(self.uis_conn_id):
            conn = self.get_connection(self.uis_conn_id)
        if conn.password:
            _mask(conn.password)
        settings = settings_for(self.uis_conn_id, conn.host, conn.login, conn.password, conn.extra)
        if settings.proxy_password:
            _mask(settings.proxy_password)
        return settings

    @cached_property
    def session(self) -> UISSession:
        """The auth/limits state shared by this hook's calls."""
        return UISSession(
            self.settings,
            policy=self.retry_policy,
            on_secret=_mask,
            budget_deadline=self.budget_deadline,
            in_flight=max(1, self.prefetch_pages),
        )

    @cached_property
    def http(self) -> requests.Session:
        """The keep-alive HTTP session."""
        return sync.new_http_client(self.settings)

    def get_conn(self) -> UISSession:
        """The API session of this connection (Airflow's hook interface)."""
        return self.session

    def get_session(self) -> UISSession:
        """The connection's API session (read once; its secrets are masked before anything can log them)."""
        return self.session

    def run(self, flow: Generator[Effect, Reply | None, T]) -> T:
        """Drive a flow of this hook's session (e.g. ``session.call(...)``) to its end; returns its value.

        Every secret the session learns (a login's token) is masked as soon as it is learned.
        """
        return sync.run(flow, self.http, self.settings.endpoint)

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """One JSON-RPC call; returns the ``result`` object (``data``, ``metadata``).

        ``access_token`` and ``user_id`` are added by the session; pass only the method's own parameters.
        """
        return self.run(self.session.call(method, params, request_id=request_id))

    def paginate(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        page_size: int = paging.DEFAULT_PAGE_SIZE,
        prefetch_pages: int | None = None,
        keyset: Keyset | None = None,
        decode_records: RecordsDecoder | None = None,
    ) -> Generator[Page, None, None]:
        """Yield every page of a ``get.*`` list in order, by ``total_items``, with the fewest calls.

        From the second page on, up to ``prefetch_pages`` (default: the hook's) further pages are fetched on worker
        threads while the caller handles the current one; pages still come out in order, and a failure of a
        fetched-ahead page is raised when its turn comes. Offsets reach 110 000 rows of a query: past that, a
        ``keyset`` (the unique key ``params["sort"]`` orders by) continues with the rows after the last one reached;
        without one, :class:`UISPagingLimitError` is raised after the first page. :class:`UISDataChangedError` is
        raised when ``total_items`` moves while paging (read it again). Pass a ``sort`` on a unique key for pages
        that neither skip nor repeat a record. When the daily point budget runs out, the
        :class:`UISRateLimitError` says how many points the pages not yet read still needed. ``decode_records``
        decodes each page's records from its encoded ``data`` (e.g. into typed records,
        :meth:`uis_provider.storage.rows.RowType.decode`); a page it returns None for comes as dicts. The pages and
        their checks are planned by :class:`~uis_provider.protocol.page_plan.PagePlan`.
        """
        paging.validate_page_size(page_size)
        depth = self.prefetch_pages if prefetch_pages is None else validate_prefetch_pages(prefetch_pages)
        plan = PagePlan(method, params, page_size=page_size, keyset=keyset, decode=decode_records)
        with plan.day_budget_errors():
            yield from self._pages(plan, depth)

    def _pages(self, plan: PagePlan, depth: int) -> Generator[Page, None, None]:
        first = plan.first_page(self.run(plan.first_call(self.session)))
        workers = min(depth, paging.page_count(first.total_items, plan.page_size) - 1)
        with (
            sync.FlowPool(self.settings.endpoint, workers, self.settings)
            if workers
            else contextlib.nullcontext() as pool
        ):
            feed = _PageFeed(
                self.session, plan, depth=depth, pool=pool, http=self.http, endpoint=self.settings.endpoint
            )
            feed.top_up()  # the next pages go out while the caller handles the first
            yield plan.handed(first)
            del first  # from here only the caller holds a page it was handed
            while plan.has_pages_left:
                yield plan.handed(feed.take())

    def get_records(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every record of a ``get.*`` list, page by page (memory bounded by one page)."""
        for page in self.paginate(method, params, **kwargs):
            yield from page.records

    def get_timezone(self) -> str:
        """The account's IANA time zone: the connection's ``timezone`` extra, else ``get.account`` (asked once per
        hook; the log says how to save that round trip)."""
        if self.settings.timezone:
            return self.settings.timezone
        if self._timezone is None:
            self._timezone = account_timezone(self.call("get.account"))
            log.info(ASKED_TIMEZONE, self.uis_conn_id, self._timezone, self._timezone)
        return self._timezone

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``get.account``), made once with a short timeout: a test fails fast.

        Retries and the connection's long ``timeout`` are for tasks; a UI or CLI test answers within
        :data:`~uis_provider.protocol.account.TEST_CONNECTION_TIMEOUT` seconds per request (a login and the call)
        with the API's own message.
        """
        try:
            session = quick_session(self.settings, _mask)
            with contextlib.closing(sync.new_http_client(session.settings)) as http:
                return True, sync.run(connection_test(session), http, session.settings.endpoint)
        except UISError as exc:
            return False, str(exc)

    def close(self) -> None:
        """End a login session (``logout.user``) and the HTTP connection pool."""
        if "session" in self.__dict__ and self.session.logged_in:
            self.run(self.session.logout())
        if "http" in self.__dict__:
            self.http.close()
            del self.__dict__["http"]

    def __enter__(self) -> UISHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: How far ahead of the caller (in times ``prefetch_pages``) the last page of a query a keyset continues is fetched,
#: ahead of its turn (within ``prefetch_pages``).
CONTINUED_LEAD = 2


class _PageFeed:
    """The pages of a :class:`~uis_provider.protocol.page_plan.PagePlan` after the first, in order, up to ``depth``
    of them fetched ahead on ``pool``.

    The plan says which pages there are and checks each answer; with a keyset, the last page a query's offsets reach
    plans the next query. That last page goes out ahead of its turn (first of the pages that may go), once it is
    :data:`CONTINUED_LEAD` times ``depth`` pages from the caller, and the next query is planned as soon as it is
    answered, so the next query's pages go out while the caller still takes the pages before it: paging does not
    stall at each 110 000 rows.

    A page goes out as soon as one is taken (a sliding window of ``depth``), but none once a page sent before has
    failed, and only as many as the minute and day point budgets left beyond the calls in flight allow; when none
    may go ahead (or without a pool) the next page is fetched in the caller's thread when its turn comes. Pages are
    handed out in order, and a failure of one fetched ahead is raised when its turn comes.
    """

    def __init__(
        self,
        session: UISSession,
        plan: PagePlan,
        *,
        depth: int,
        pool: sync.FlowPool | None,
        http: requests.Session,
        endpoint: str,
    ) -> None:
        # the query's plan, how its pages are fetched
        self._session, self._plan, self._method = session, plan, plan.method
        self._depth, self._pool, self._http, self._endpoint = depth, pool, http, endpoint
        #: The planned pages not yet sent, in the order they go out (a query's continued page first).
        self._queue: deque[PlannedPage] = deque(plan.planned)
        #: Pages sent and not yet taken.
        self._sent: dict[PlannedPage, Future[dict[str, Any]]] = {}
        #: Continued pages answered ahead of their turn, still encoded (or the error to raise when their turn comes).
        self._ready: dict[PlannedPage, dict[str, Any] | BaseException] = {}

    def _start(self, slot: PlannedPage) -> CallFlow:
        return self._plan.call(self._session, slot)

    def _failed(self) -> bool:
        return any(isinstance(page, BaseException) for page in self._ready.values()) or any(
            future.done() and future.exception() for future in self._sent.values()
        )

    def top_up(self) -> None:
        """Send further pages ahead, up to ``depth`` in flight or waiting, while none has failed and the budgets allow;
        the last page of a query a keyset continues goes first once it is near (see the class)."""
        if self._pool is None:
            return
        self._collect_continued()
        if self._failed():
            return
        allowed = min(self._depth, self._session.window.allowed)
        room = allowed - len(self._sent) - len(self._ready)
        affordable = self._session.affordable_calls(self._method)
        if affordable is not None:
            # a page just sent books its points only when its worker starts it: count every unanswered one too, so
            # the budget is never overdrawn (at worst a page waits for the next turn)
            room = min(room, affordable - sum(1 for future in self._sent.values() if not future.done()))
        lead = CONTINUED_LEAD * allowed
        order = self._plan.planned
        first = [slot for slot in self._queue if slot.continued and order.index(slot) < lead]
        for slot in [*first, *(slot for slot in self._queue if slot not in first)][: max(0, room)]:
            self._queue.remove(slot)
            self._sent[slot] = self._pool.submit(self._start(slot))

    def _collect_continued(self) -> None:
        """Plan the queries after the continued pages answered ahead of their turn (from their last record only:
        the page waits encoded, and is decoded and checked when its turn comes)."""
        for slot, future in list(self._sent.items()):
            if slot.continued and future.done() and slot is not self._plan.planned[0]:
                del self._sent[slot]
                try:
                    result = future.result()
                    self._queue.extend(self._plan.continue_after(slot, last_record(result)))
                except Exception as exc:  # raised when the page's turn comes, after every page before it
                    self._ready[slot] = exc
                else:
                    self._ready[slot] = result

    def _decoded(self, slot: PlannedPage, result: dict[str, Any]) -> Page:
        with collector_paused():  # the page's data was left encoded by its call: decoded here, as large as a body
            return self._plan.page(slot, result)

    def _wait(self, future: Future[dict[str, Any]]) -> None:
        """Wait for ``future``, planning the next query as soon as a continued page ahead is answered meanwhile."""
        while not future.done():
            ahead = [pending for slot, pending in self._sent.items() if slot.continued and not pending.done()]
            if not ahead:
                return
            wait([future, *ahead], return_when=FIRST_COMPLETED)
            self.top_up()

    def take(self) -> Page:
        """The next page (waiting for its answer); more pages go ahead before and after the wait if they may."""
        if not self._sent:
            self.top_up()
        slot = self._plan.planned[0]
        ready = self._ready.pop(slot, None)
        future = self._sent.get(slot)
        if ready is None and future is not None:
            self._wait(future)  # still counted as sent meanwhile: no page more than ``depth`` goes ahead
        self._plan.planned.popleft()
        self._sent.pop(slot, None)
        if isinstance(ready, BaseException):
            raise ready
        if ready is not None:
            result = ready
        elif future is not None:
            result = future.result()
        else:
            self._queue.remove(slot)
            result = sync.run(self._start(slot), self._http, self._endpoint)
        page = self._decoded(slot, result)
        if slot.continued and ready is None:
            self._queue.extend(self._plan.continue_after(slot, page.records))
        del result, ready, future  # the body (7 MB) goes before the next page's is made
        self.top_up()
        return page
