"""Date windows: parse user dates, express them in the API's local ``YYYY-MM-DD hh:mm:ss``, split them.

A window is half-open ``[start, end)`` at the API's one-second resolution. It is requested up to the end second and
records at or after the end are dropped, which is exact whether the API treats ``date_till`` as inclusive or not,
so adjacent Airflow data intervals hold every record exactly once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pendulum

from uis_provider.exceptions import UISConfigurationError, UISPagingLimitError, UISTransportError
from uis_provider.protocol.dates import API_FORMAT, API_TIME, parse_when

__all__ = ["API_FORMAT", "API_TIME", "Window", "parse_when", "split_part", "to_api"]

#: A part is split so each piece is expected to fill at most this share of what one query reaches; the headroom
#: absorbs uneven traffic over time, so a second split (and its wasted first call) is rare.
SPLIT_FILL = 0.9

ZERO_WINDOW_HINT = (
    "Airflow 3 cron strings (schedule='@daily') make CronTriggerTimetable runs whose data interval has zero "
    "length; schedule the DAG with CronDataIntervalTimetable('0 0 * * *', timezone=...) or "
    "DeltaDataIntervalTimetable, or pass date_from/date_till explicitly"
)


def localize(value: dt.datetime, timezone: str) -> pendulum.DateTime:
    """An aware datetime: naive values are read in ``timezone``, aware ones are converted to it."""
    tz = pendulum.timezone(timezone)
    if value.tzinfo is None:
        moment = pendulum.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tz=tz
        )
        # a wall time a fall-back change repeats means its first pass, so the naive text is sent as written
        return moment.replace(fold=0) if _repeat(moment) > dt.timedelta(0) else moment
    return pendulum.instance(value).in_timezone(tz)


def _repeat(moment: pendulum.DateTime) -> dt.timedelta:
    """How much wall-clock time a fall-back change repeats around ``moment`` (zero when its wall time is unique)."""
    first, second = moment.replace(fold=0).utcoffset(), moment.replace(fold=1).utcoffset()
    if first is None or second is None:
        return dt.timedelta(0)
    return first - second


def api_text(moment: pendulum.DateTime) -> str:
    """``YYYY-MM-DD hh:mm:ss`` of an aware moment on its zone's wall clock, never going back across a fall-back.

    The API's naive local times cannot tell the two passes of a repeated hour apart: a moment in the second pass
    reads as the end of that hour, so the texts of later moments never sort before those of earlier ones and
    consecutive windows still tile.
    """
    repeat = _repeat(moment) if moment.fold else dt.timedelta(0)
    if repeat <= dt.timedelta(0):
        return moment.strftime(API_FORMAT)
    tz = moment.tzinfo
    after = moment.utcoffset()
    # the change happened less than ``repeat`` before this moment; find it to the second
    low, high = int(moment.timestamp()) - int(repeat.total_seconds()), int(moment.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high + int(repeat.total_seconds()), tz).strftime(API_FORMAT)


def _ceil_second(value: pendulum.DateTime) -> pendulum.DateTime:
    if value.microsecond:
        return value.replace(microsecond=0).add(seconds=1)
    return value


def to_api(value: dt.datetime, timezone: str) -> str:
    """The API's ``YYYY-MM-DD hh:mm:ss`` (no T, no zone) of an aware or naive datetime in the account zone."""
    return api_text(localize(value, timezone))


@dataclass(frozen=True)
class Window:
    """A half-open ``[start, end)`` window of aware datetimes on whole seconds, in the account's time zone."""

    start: pendulum.DateTime
    end: pendulum.DateTime
    timezone: str

    @classmethod
    def build(cls, date_from: Any, date_till: Any, timezone: str) -> Window:
        """Validate and localize a user window; fractional seconds round up at both ends so windows still tile."""
        start = _ceil_second(localize(parse_when(date_from, "date_from"), timezone))
        end = _ceil_second(localize(parse_when(date_till, "date_till"), timezone))
        check_order(start, end)
        return cls(start, end, timezone)

    @property
    def api_from(self) -> str:
        """``date_from`` as sent to the API."""
        return api_text(self.start)

    @property
    def api_till(self) -> str:
        """``date_till`` as sent: the end second itself; records at it are dropped by :meth:`contains`."""
        return api_text(self.end)

    def api_params(self) -> dict[str, str]:
        """``date_from``/``date_till`` parameters for this window."""
        return {"date_from": self.api_from, "date_till": self.api_till}

    def contains(self, api_time: Any) -> bool:
        """Whether a record's ``YYYY-MM-DD hh:mm:ss`` time lies in ``[start, end)`` (fixed format: string order).

        ``None`` lies outside; any other value is not an API time, and placing it by string order could drop or
        misplace the record, so it is refused as a broken answer.
        """
        if api_time is None:
            return False
        if not isinstance(api_time, str) or not API_TIME.fullmatch(api_time):
            shown = repr(api_time)
            raise UISTransportError(
                f"the API answered a record time {shown[:60]} that is not 'YYYY-MM-DD hh:mm:ss', so the record "
                "cannot be placed in the window"
            )
        return self.api_from <= api_time < self.api_till

    @property
    def seconds(self) -> int:
        """Length in whole seconds."""
        return int((self.end - self.start).total_seconds())

    def split_days(self, max_days: int) -> list[Window]:
        """Consecutive parts of at most ``max_days`` days each, covering the window exactly."""
        parts: list[Window] = []
        cursor = self.start
        while cursor < self.end:
            nxt = min(cursor.add(days=max_days), self.end)
            parts.append(Window(cursor, nxt, self.timezone))
            cursor = nxt
        return parts

    def __iter__(self) -> Iterator[pendulum.DateTime]:
        return iter((self.start, self.end))


EXPLICIT_EMPTY_HINT = (
    "date_from and date_till are the same moment, so the half-open window [date_from, date_till) holds nothing; "
    "give a date_till after date_from (for one day: date_from='2026-01-04', date_till='2026-01-05')"
)


def check_order(start: dt.datetime, end: dt.datetime, *, empty_hint: str = EXPLICIT_EMPTY_HINT) -> None:
    """Refuse a reversed or empty window with a message that says what to do (``empty_hint`` says why it is empty)."""
    low, high = _instant(start), _instant(end)
    if low > high:
        raise UISConfigurationError(
            f"date_from ({start.isoformat()}) is after date_till ({end.isoformat()}); swap them — the window "
            "is [date_from, date_till)"
        )
    if low == high:
        raise UISConfigurationError(f"the window [{start.isoformat()}, {end.isoformat()}) is empty: {empty_hint}")


def _instant(value: dt.datetime) -> dt.datetime:
    """An aware value in UTC (Python compares two moments of one zone by wall clock, wrong across a fall-back)."""
    return value.astimezone(dt.timezone.utc) if value.tzinfo is not None else value


def no_interval_message(purpose: str) -> str:
    """Why a run without a data interval cannot pick its window, and what to do; ``purpose`` names the window."""
    return (
        f"this run has no data interval (a manual run without a logical date?), so the window {purpose} is unknown. "
        "Trigger the run with a logical date, or pass date_from and date_till. " + ZERO_WINDOW_HINT
    )


def one_bound_message(given: str, value: Any, missing: str) -> str:
    """Why a window with one explicit bound and the other from the data interval is refused, and what to write."""
    interval_end = "data_interval_end" if missing == "date_till" else "data_interval_start"
    return (
        f"{given}={value!r} is set but {missing} is not, so {missing} would be the run's {interval_end}: a window "
        "that is neither the data interval nor one you wrote out, and output named by the interval would overlap "
        f"other runs' files. Give both date_from and date_till ({missing}='{{{{ {interval_end} }}}}' keeps the "
        "interval's bound), or neither to extract the data interval"
    )


def task_window_bounds(
    date_from: Any,
    date_till: Any,
    interval_start: Any,
    interval_end: Any,
    *,
    purpose: str,
    both_or_neither: bool = False,
) -> tuple[dt.datetime, dt.datetime]:
    """A task's window ends: ``date_from``/``date_till`` when given, else the run's data interval; parsed and
    checked for order as far as possible before the account's time zone is known (no API call).

    With ``both_or_neither`` one explicit bound alone is refused rather than combined with the interval's other one.
    """
    if both_or_neither and (date_from is None) != (date_till is None):
        given, value, missing = (
            ("date_from", date_from, "date_till") if date_till is None else ("date_till", date_till, "date_from")
        )
        parse_when(value, given)  # a bound that is no date says so first
        raise UISConfigurationError(one_bound_message(given, value, missing))
    start_value = date_from if date_from is not None else interval_start
    end_value = date_till if date_till is not None else interval_end
    if start_value is None or end_value is None:
        raise UISConfigurationError(no_interval_message(purpose))
    start = parse_when(start_value, "date_from")
    end = parse_when(end_value, "date_till")
    from_interval = date_from is None and date_till is None
    hint = f"the run's data interval has zero length. {ZERO_WINDOW_HINT}" if from_interval else EXPLICIT_EMPTY_HINT
    check_order_if_comparable(start, end, empty_hint=hint)
    return start, end


def check_order_if_comparable(
    date_from: dt.datetime, date_till: dt.datetime, *, empty_hint: str = EXPLICIT_EMPTY_HINT
) -> None:
    """Check the order before the time zone is known, when both ends are naive or both aware."""
    if (date_from.tzinfo is None) == (date_till.tzinfo is None):
        check_order(date_from, date_till, empty_hint=empty_hint)


def split_part(part: Window, total_items: int | None, reachable: int) -> list[Window]:
    """Equal-time pieces of a part too big for one query, sized from its row count so each fits with headroom.

    Unknown ``total_items`` gives halves. A one-second part cannot be split: that is an error the user must
    resolve with a narrower ``filter``.
    """
    if part.seconds < 2:
        raise UISPagingLimitError(
            f"the single second {part.api_from} holds {total_items if total_items is not None else 'too many'} "
            f"rows, more than the {reachable} one query can read, so its window cannot be split further; "
            "narrow the query with a filter",
        )
    pieces = 2 if total_items is None else max(2, math.ceil(total_items / (reachable * SPLIT_FILL)))
    pieces = min(pieces, part.seconds)
    bounds = [part.start.add(seconds=(index * part.seconds) // pieces) for index in range(pieces)] + [part.end]
    return [Window(bounds[i], bounds[i + 1], part.timezone) for i in range(pieces)]
