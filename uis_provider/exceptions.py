"""Exceptions raised by the UIS provider, keyed by the API's ``data.mnemonic`` (never by its numeric code).

The UIS Data API documents one code per mnemonic, but live answers have been seen to carry another code
(``method_component_disabled`` with -32602 instead of -32008), so only the mnemonic decides the class.

With Airflow installed every class is an ``AirflowException`` (what a task's caller catches); without it (the sans-IO
``uis_provider.protocol`` core used on its own) they derive from ``Exception``, with the same names and behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import AirflowException
else:
    try:
        from airflow.providers.common.compat.sdk import AirflowException
    except ImportError:  # the protocol core without Airflow: the errors are plain exceptions
        AirflowException = Exception


class UISError(AirflowException):
    """An error answered by the UIS Data API, or a failure to get a usable answer from it.

    Carries the API's ``code``, ``mnemonic``, ``message`` and, when the API names them, the offending ``field`` and
    ``value`` plus the message ``params``. ``retryable`` says whether trying again later can succeed.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        mnemonic: str | None = None,
        field: str | None = None,
        value: Any = None,
        params: dict[str, Any] | None = None,
        method: str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        # what the API answered, then where: the method called and the budget reading of the answer
        self.message, self.code, self.mnemonic = message, code, mnemonic
        self.field, self.value, self.params = field, value, dict(params or {})
        self.method, self.limits = method, dict(limits or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"UIS API {self.method}: " if self.method else "UIS API: "
        text = head + self.message
        details = []
        if self.mnemonic:
            details.append(f"mnemonic={self.mnemonic}")
        if self.code is not None:
            details.append(f"code={self.code}")
        if self.field:
            details.append(f"field={self.field}")
        if self.value is not None and self.field:
            shown = repr(self.value)
            details.append(f"value={shown if len(shown) <= 120 else shown[:117] + '...'}")
        if details:
            text += " (" + ", ".join(details) + ")"
        hint = self.hint()
        if hint:
            text += ". " + hint
        return text

    def hint(self) -> str:
        """What the user can do about this error, or an empty string."""
        return ""

    def redact(self, secrets: list[str]) -> UISError:
        """Replace every occurrence of the given secrets in this error's text, value and params with ``***``."""
        live = [s for s in secrets if s]
        if not live:
            return self

        def scrub(value: Any) -> Any:
            if isinstance(value, str):
                for secret in live:
                    value = value.replace(secret, "***")
                return value
            if isinstance(value, dict):
                return {k: scrub(v) for k, v in value.items()}
            if isinstance(value, list):
                return [scrub(v) for v in value]
            return value

        self.message = scrub(self.message)
        self.value = scrub(self.value)
        self.params = scrub(self.params)
        self.args = (self._describe(),)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                type(self),
                self.message,
                {
                    "code": self.code,
                    "mnemonic": self.mnemonic,
                    "field": self.field,
                    "value": self.value,
                    "params": self.params,
                    "method": self.method,
                    "limits": self.limits,
                },
            ),
        )


def _rebuild(cls: type[UISError], message: str, kwargs: dict[str, Any]) -> UISError:
    return cls(message, **kwargs)


class UISAuthError(UISError):
    """The token or the login/password was refused (``access_token_invalid``/``_expired``/``_blocked``, ``auth_error``)."""

    def hint(self) -> str:
        if self.mnemonic == "access_token_expired":
            return "The API key has passed its end date: create a new key in the UIS cabinet and update the connection"
        if self.mnemonic == "access_token_blocked":
            return "The API key is blocked: unblock it or create a new one in the UIS cabinet"
        if self.mnemonic == "auth_error":
            return "Check the login and password of the Airflow connection"
        return "Check the API key (password field) of the Airflow connection and that it belongs to this host's brand"


class UISRateLimitError(UISError):
    """A point budget is used up (``limit_exceeded``); ``limit_type`` is ``minute`` or ``day``."""

    @property
    def limit_type(self) -> str:
        """Which budget ran out: ``minute`` or ``day`` (empty when the API did not say)."""
        return str(self.params.get("limit_type") or "")

    @property
    def reset_seconds(self) -> float | None:
        """Seconds until the exhausted budget refills, from ``metadata.limits`` when the API sent it."""
        key = "day_reset" if self.limit_type == "day" else "minute_reset"
        value = self.limits.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """A minute budget refills within a minute, so it is worth waiting for; a day budget is not."""
        return self.limit_type != "day"

    @property
    def points_needed(self) -> int | None:
        """Points the interrupted run still needed, when the caller knew (``params["points_needed"]``)."""
        value = self.params.get("points_needed")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def needing(self, points: int, what: str) -> UISRateLimitError:
        """This error again, saying the run still needed ``points`` points (``what`` they were for)."""
        return type(self)(
            self.message,
            code=self.code,
            mnemonic=self.mnemonic,
            params={**self.params, "points_needed": points, "points_for": what},
            method=self.method,
            limits=self.limits,
        )

    def hint(self) -> str:
        if self.limit_type == "day":
            reset = self.reset_seconds
            when = f" in {int(reset)} s ({_refill_in_words(reset)})" if reset is not None else ""
            needed = self.points_needed
            still = f"; this run still needed {needed} point(s) ({self.params.get('points_for')})" if needed else ""
            return f"The daily point budget is exhausted; it refills{when}{still}. Retrying earlier cannot succeed"
        return ""


def _refill_in_words(seconds: float) -> str:
    """``about 23 h 59 min`` / ``about 12 min`` / ``under a minute`` for a reset time in seconds."""
    minutes = int(seconds) // 60
    if minutes >= 60:
        return f"about {minutes // 60} h {minutes % 60} min"
    return f"about {minutes} min" if minutes else "under a minute"


class UISInvalidParamsError(UISError):
    """The request was refused for its parameters; the caller must change them (never retried)."""

    def hint(self) -> str:
        if self.mnemonic == "method_not_found":
            from uis_provider.protocol.catalog import catalog

            known = ", ".join(catalog())
            return (
                f"The API has no method {self.method!r}: check its spelling and the API version in the connection's "
                f"host. Read methods this provider knows: {known}"
            )
        if self.field:
            return f"Fix the parameter '{self.field}' of the request"
        return "Fix the request parameters"


class UISPermissionError(UISError):
    """Access rights, IP allow-list, disabled component or inactive account: a setting in the UIS cabinet."""

    def hint(self) -> str:
        if self.mnemonic == "ip_not_whitelisted":
            return "Add the Airflow workers' IP addresses to the allow-list of the API key in the UIS cabinet"
        if self.mnemonic in ("method_component_disabled", "parameter_component_disabled"):
            return "The account lacks the component this method or parameter needs; enable it in the UIS cabinet"
        return "Check the rights of this user / key in the UIS cabinet"


class UISServerError(UISError):
    """A transient failure on the API side (``internal_error``); worth retrying with backoff."""

    retryable = True


class UISTransportError(UISError):
    """No usable JSON-RPC answer: a timeout, a dropped connection, an HTTP error status or a malformed body."""

    def __init__(self, message: str, *, retryable: bool = True, http_status: int | None = None, **kwargs: Any):
        self.retryable = retryable
        self.http_status = http_status
        super().__init__(message, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_transport,
            (self.message, self.retryable, self.http_status, self.method),
        )


def _rebuild_transport(message: str, retryable: bool, http_status: int | None, method: str | None) -> UISTransportError:
    return UISTransportError(message, retryable=retryable, http_status=http_status, method=method)


class UISDataChangedError(UISError):
    """The result set changed while it was being paged (``total_items`` moved); the window must be read again."""

    retryable = True


class UISDataError(UISError):
    """The API answered records that cannot be written as asked (a value of the wrong type for its column)."""

    def _describe(self) -> str:
        return "UIS data: " + self.message


class UISPagingLimitError(UISError):
    """A query holds more rows than offset paging can reach (``offset`` <= 100 000); split its window."""


class UISConfigurationError(UISError):
    """The connection or the task is configured in a way that cannot work; raised before any API call."""

    def _describe(self) -> str:
        # no API call was made: say so, rather than the "UIS API:" head of errors the API answered
        return "UIS configuration: " + self.message


@contextmanager
def configuration_errors() -> Iterator[None]:
    """Raise a ``ValueError`` of a pure validator (``protocol/``, ``storage/``, usable without Airflow) as the task's
    :class:`UISConfigurationError`, with its message and without the chain."""
    try:
        yield
    except ValueError as exc:
        raise UISConfigurationError(str(exc)) from None


AUTH_MNEMONICS = frozenset({"access_token_invalid", "access_token_expired", "access_token_blocked", "auth_error"})
PERMISSION_MNEMONICS = frozenset(
    {
        "forbidden",
        "ip_not_whitelisted",
        "method_component_disabled",
        "parameter_component_disabled",
        "account_inactive",
    }
)
SERVER_MNEMONICS = frozenset({"internal_error"})
RATE_LIMIT_MNEMONICS = frozenset({"limit_exceeded"})


def error_class_for(mnemonic: str | None) -> type[UISError]:
    """The exception class for a mnemonic; unknown mnemonics are caller errors (fail at once)."""
    if mnemonic in AUTH_MNEMONICS:
        return UISAuthError
    if mnemonic in RATE_LIMIT_MNEMONICS:
        return UISRateLimitError
    if mnemonic in SERVER_MNEMONICS:
        return UISServerError
    if mnemonic in PERMISSION_MNEMONICS:
        return UISPermissionError
    if mnemonic is None:
        return UISError
    return UISInvalidParamsError
