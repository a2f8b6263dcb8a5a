"""The one date parser: every date a user gives (operators, sensor, trigger, upload rows) is read here, one way.

Accepted: ``datetime``/``date`` objects (pendulum's too), ISO 8601 in its extended form (``2026-01-04``,
``2026-01-04 10:00:00``, ``2026-01-04T10:00:00.5+03:00``, ``...Z``) and the Russian ``DD.MM.YYYY`` with an
optional ``hh:mm[:ss]``, always read as day.month. Anything else — slashes, one-digit days, two-digit years, compact
``20260104``, numbers — is refused, quoting what was given, why that form is not read, and an accepted form.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from uis_provider.exceptions import UISConfigurationError

#: What the API sends and takes: naive local time, no ``T``, no zone, no fractions.
API_FORMAT = "%Y-%m-%d %H:%M:%S"
API_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

_TIME = r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
_ISO = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ]" + _TIME + r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"(?P<day>\d{2})\.(?P<month>\d{2})\.(?P<year>\d{4})(?: " + _TIME + r")?")

ACCEPTED_FORMS = "'2026-01-04', '2026-01-04 00:00:00', '2026-01-04T00:00:00+03:00' or '04.01.2026' (day.month.year)"


def parse_when(value: Any, parameter: str) -> dt.datetime:
    """``value`` as a datetime; naive results stay naive (they mean the account's time zone).

    Raises :class:`UISConfigurationError` naming ``parameter``, quoting ``value`` and showing accepted forms.
    """
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _parse_text(value, parameter)
    raise UISConfigurationError(
        f"{parameter} must be a datetime, a date or a date string such as {ACCEPTED_FORMS}; "
        f"got {type(value).__name__} {value!r}"
    )


def _parse_text(value: str, parameter: str) -> dt.datetime:
    text = value.strip()
    if not text:
        raise UISConfigurationError(
            f"{parameter}={value!r} is an empty string (a template that rendered to nothing?); give a date such as "
            f"{ACCEPTED_FORMS}, or leave {parameter} unset (None) to use the run's data interval"
        )
    match = _ISO.fullmatch(text) or _DOTTED.fullmatch(text)
    if match is None:
        raise UISConfigurationError(
            f"{parameter}={value!r} is refused: {refusal_reason(text)}. Use ISO 8601 such as {ACCEPTED_FORMS}"
        )
    parts = match.groupdict()
    try:
        moment = dt.datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int((parts["fraction"] or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(parts.get("zone")),
        )
    except ValueError as exc:
        shown = "day.month.year" if match.re is _DOTTED else "year-month-day"
        raise UISConfigurationError(
            f"{parameter}={value!r} is not a real date or time ({exc}; read as {shown}); give e.g. {ACCEPTED_FORMS}"
        ) from None
    return moment


_SLASHED_DAY_FIRST_OR_MONTH_FIRST = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}(?:[ T].*)?")
_SLASHED = re.compile(r"\d{1,4}/\d{1,2}/\d{1,4}(?:[ T].*)?")
_COMPACT = re.compile(r"\d{8}(?:T?\d{4,6})?")
_SHORT_DOTTED = re.compile(r"\d{1,2}\.\d{1,2}\.\d{2,4}(?: .*)?")
_NEAR_ISO = re.compile(r"\d{4}-\d{1,2}-\d{1,2}.*")


def refusal_reason(text: str) -> str:
    """Why a date string of no accepted form is refused, in terms of the form it has."""
    if _SLASHED_DAY_FIRST_OR_MONTH_FIRST.fullmatch(text):
        return "with slashes it can be read as more than one day (day/month in Europe, month/day in the US)"
    if _SLASHED.fullmatch(text):
        return (
            "dates with slashes are not read at all, since 01/04/2026 is a different day in different locales; "
            "write the same date with dashes"
        )
    if _COMPACT.fullmatch(text):
        return (
            "a run of digits (ISO 8601's compact form, what {{ ds_nodash }} renders) is not read as a date, so that "
            "a number or an id given by mistake is never taken for a day; write it with dashes ({{ ds }})"
        )
    if _SHORT_DOTTED.fullmatch(text):
        return (
            "the dotted form is read only as DD.MM.YYYY (two-digit day and month, four-digit year, e.g. 04.01.2026): "
            "a two-digit year could be any century"
        )
    if _NEAR_ISO.fullmatch(text):
        return "it is close to ISO 8601 but not one of its forms read here (two-digit month and day, then hh:mm[:ss])"
    return "it is not a date in a form this provider reads"


def _zone(text: str | None) -> dt.tzinfo | None:
    """The fixed offset of an ISO zone suffix (``Z``, ``+03``, ``+0300``, ``+03:00``), ``None`` without one."""
    if not text:
        return None
    if text.upper() == "Z":
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset {text} is out of range")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def parse_local_time(value: Any, parameter: str) -> str:
    """A naive wall-clock time to the second as the API's ``YYYY-MM-DD hh:mm:ss`` (upload rows' call times).

    The same forms as :func:`parse_when`, but it must carry a time of day, no zone (the API reads it in the
    account's time zone) and no fraction of a second.
    """
    moment = parse_when(value, parameter)
    has_time = isinstance(value, dt.datetime) or (isinstance(value, str) and bool(re.search(r"\d:\d", value)))
    if not has_time:
        raise UISConfigurationError(
            f"{parameter}={value!r} has no time of day; give 'YYYY-MM-DD hh:mm:ss' (or 'DD.MM.YYYY hh:mm:ss') "
            "in the account's time zone"
        )
    if moment.tzinfo is not None:
        raise UISConfigurationError(
            f"{parameter}={value!r} carries a time zone; give the account's local time without one, "
            "e.g. '2026-01-14 10:03:11'"
        )
    if moment.microsecond:
        raise UISConfigurationError(f"{parameter}={value!r} has a fraction of a second; the API takes whole seconds")
    return moment.strftime(API_FORMAT)
