"""Date-time helpers: the API's ``YYYY-MM-DD hh:mm:ss`` text and naive account-local seconds.

The emulator keeps every moment as integer "local seconds": seconds since 1970-01-01 00:00:00 on the account's
wall clock (no zone), which is what ``date_from``/``date_till`` and every date-time in an answer mean.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = date(1970, 1, 1)
_API_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DAY = 86_400


@lru_cache(maxsize=8192)
def _day_text(day: int) -> str:
    return (_EPOCH_DATE + timedelta(days=day)).isoformat()


def format_local(seconds: int) -> str:
    """Local seconds as the API writes them (``2026-01-05 13:04:59``)."""
    day, rest = divmod(seconds, DAY)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"{_day_text(day)} {hour:02d}:{minute:02d}:{second:02d}"


def parse_api_datetime(text: object) -> int | None:
    """Strictly parse ``YYYY-MM-DD hh:mm:ss`` into local seconds; ``None`` when the text is not exactly that."""
    if not isinstance(text, str) or not _API_FORMAT.fullmatch(text):
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return naive_to_local(moment)


def naive_to_local(moment: datetime) -> int:
    """A naive wall-clock datetime as local seconds (sub-second parts dropped)."""
    plain = datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return (plain - _EPOCH) // timedelta(seconds=1)


def epoch_to_local(unix_seconds: float, tz: tzinfo) -> int:
    """Unix seconds as local seconds on the account's wall clock."""
    moment = datetime.fromtimestamp(unix_seconds, tz=tz).replace(tzinfo=None)
    return naive_to_local(moment)


def coerce_local(value: str | date | datetime, tz: tzinfo) -> int:
    """A user-supplied moment (API text, ISO text, date, naive local or aware datetime) as local seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz).replace(tzinfo=None)
        return naive_to_local(value)
    if isinstance(value, date):
        return (value - _EPOCH_DATE).days * DAY
    if isinstance(value, str):
        parsed = parse_api_datetime(value)
        if parsed is not None:
            return parsed
        if "T" in value or ":" in value:
            return coerce_local(datetime.fromisoformat(value), tz)
        return coerce_local(date.fromisoformat(value), tz)
    raise TypeError(f"expected a date, datetime or date string, got {type(value).__name__}")
