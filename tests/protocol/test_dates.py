"""The one date parser: every accepted form means the same day, every other form is refused before any call."""

from __future__ import annotations

import datetime as dt

import jinja2
import pendulum
import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.dates import parse_local_time, parse_when

#: Every day of four years, leap day and day <= 12 included: each form below must read back as that day.
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=n) for n in range(366 + 365 * 3)]


def _same_day(value: object, day: dt.date) -> bool:
    parsed = parse_when(value, "date_from")
    return (parsed.year, parsed.month, parsed.day) == (day.year, day.month, day.day)


@pytest.mark.parametrize(
    "form",
    [
        "%Y-%m-%d",
        "%Y-%m-%d 00:00:00",
        "%Y-%m-%dT00:00:00",
        "%Y-%m-%dT00:00:00Z",
        "%Y-%m-%dT00:00:00+03:00",
        "%Y-%m-%d 23:59:59-05:00",
        "%Y-%m-%dT12:30:00.250000+0300",
        "%Y-%m-%dT12:30+03",
        "%d.%m.%Y",
        "%d.%m.%Y 10:00",
        "%d.%m.%Y 10:00:00",
        " %Y-%m-%d ",
    ],
)
def test_every_accepted_form_reads_the_day_written(form: str) -> None:
    wrong = [day for day in DAYS if not _same_day(day.strftime(form), day)]
    assert wrong == []


def test_day_month_is_never_read_as_month_day() -> None:
    """The issue's case: 04.01.2026 is 4 January, and so is every dotted day <= 12 (no month-first reading)."""
    assert parse_when("04.01.2026", "date_from") == dt.datetime(2026, 1, 4)
    assert parse_when("05.01.2026", "date_till") == dt.datetime(2026, 1, 5)
    assert parse_when("13.01.2026", "date_from") == dt.datetime(2026, 1, 13)
    for day in DAYS:
        assert parse_when(day.strftime("%d.%m.%Y"), "date_from").date() == day


def test_offsets_are_kept_and_naive_stays_naive() -> None:
    aware = parse_when("2026-01-04T00:00:00+03:00", "date_from")
    assert aware.utcoffset() == dt.timedelta(hours=3)
    assert aware.astimezone(dt.timezone.utc) == dt.datetime(2026, 1, 3, 21, tzinfo=dt.timezone.utc)
    assert parse_when("2026-01-04T05:00:00Z", "date_from").utcoffset() == dt.timedelta(0)
    assert parse_when("2026-01-04T05:00:00-0930", "date_from").utcoffset() == -dt.timedelta(hours=9, minutes=30)
    assert parse_when("2026-01-04 10:00:00", "date_from").tzinfo is None
    assert parse_when("04.01.2026 10:00", "date_from") == dt.datetime(2026, 1, 4, 10)


def test_objects_pass_through() -> None:
    moment = pendulum.datetime(2026, 1, 4, tz="Europe/Moscow")
    assert parse_when(moment, "date_from") is moment
    assert parse_when(dt.date(2026, 1, 4), "date_from") == dt.datetime(2026, 1, 4)
    assert parse_when(pendulum.date(2026, 1, 4), "date_from") == dt.datetime(2026, 1, 4)
    naive = dt.datetime(2026, 1, 4, 10, 30)
    assert parse_when(naive, "date_from") == naive


def test_rendered_templates_read_as_the_interval_they_came_from() -> None:
    """What Airflow's usual templates render to: each is the same day (or moment) as the value rendered."""
    start = pendulum.datetime(2026, 1, 4, tz="Europe/Moscow")
    env = jinja2.Environment(autoescape=False)
    for template in (
        "{{ start }}",
        "{{ start.isoformat() }}",
        "{{ start.strftime('%d.%m.%Y') }}",
        "{{ start.strftime('%Y-%m-%d') }}",
        "{{ start.in_timezone('UTC') }}",
    ):
        text = env.from_string(template).render(start=start)
        parsed = parse_when(text, "date_from")
        if parsed.tzinfo is None:
            assert parsed == dt.datetime(2026, 1, 4), text
        else:
            assert parsed == start, text


@pytest.mark.parametrize(
    "form",
    ["%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d", "%d.%m.%y", "%d-%m-%Y", "%Y.%m.%d", "%d %b %Y", "%b %d, %Y"],
)
def test_every_ambiguous_form_is_refused_quoting_the_input(form: str) -> None:
    for day in DAYS[::7]:
        text = day.strftime(form)
        with pytest.raises(UISConfigurationError) as caught:
            parse_when(text, "date_from")
        message = str(caught.value)
        assert f"date_from={text!r}" in message
        assert "2026-01-04" in message  # shows an accepted form


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01/04/2026", "can be read as more than one day (day/month in Europe, month/day in the US)"),
        ("2026/01/04", "dates with slashes are not read at all"),
        ("4.1.2026", "read only as DD.MM.YYYY"),
        ("04.01.26", "a two-digit year could be any century"),
        ("20260104", "a run of digits (ISO 8601's compact form, what {{ ds_nodash }} renders) is not read"),
        ("20260104T100000", "a run of digits"),
        ("2026-01-04T10", "close to ISO 8601 but not one of its forms"),
        ("2026-1-4", "close to ISO 8601 but not one of its forms"),
        ("2026-01-04  10:00:00", "close to ISO 8601 but not one of its forms"),
        ("yesterday", "it is not a date in a form this provider reads"),
        ("31.02.2026", "is not a real date or time"),
        ("2026-02-30", "is not a real date or time"),
        ("2026-01-04 24:00:00", "is not a real date or time"),
        ("2026-01-04T10:00:00+25:00", "is not a real date or time"),
        ("", "is an empty string"),
        ("   ", "is an empty string"),
        (20260104, "got int 20260104"),
        (1767484800.0, "got float"),
        (True, "got bool"),
        (["2026-01-04"], "got list"),
    ],
)
def test_refusals_say_what_was_given_and_what_works(value: object, expected: str) -> None:
    with pytest.raises(UISConfigurationError, match="date_till") as caught:
        parse_when(value, "date_till")
    assert expected in str(caught.value)


def test_a_compact_date_is_not_said_to_be_ambiguous() -> None:
    """20260104 can only be one day: the message gives the real reason it is refused, not ambiguity."""
    with pytest.raises(UISConfigurationError) as caught:
        parse_when("20260104", "date_from")
    assert "more than one day" not in str(caught.value)
    assert "{{ ds }}" in str(caught.value)


def test_local_times_of_upload_rows() -> None:
    assert parse_local_time("2026-01-14 10:03:11", "start_time") == "2026-01-14 10:03:11"
    assert parse_local_time("2026-01-14T10:03:11", "start_time") == "2026-01-14 10:03:11"
    assert parse_local_time("04.01.2026 10:03:11", "start_time") == "2026-01-04 10:03:11"
    assert parse_local_time(dt.datetime(2026, 1, 4, 9), "start_time") == "2026-01-04 09:00:00"
    for value, reason in [
        ("2026-01-14T10:00:00Z", "carries a time zone"),
        ("2026-01-14 10:00:00+03:00", "carries a time zone"),
        ("2026-01-14", "has no time of day"),
        ("04.01.2026", "has no time of day"),
        ("2026-01-14 10:00:00.5", "fraction of a second"),
        ("01/14/2026 10:00:00", "can be read as more than one day"),
        ("2026/01/14 10:03:11", "slashes are not read"),
    ]:
        with pytest.raises(UISConfigurationError, match=reason):
            parse_local_time(value, "start_time")
