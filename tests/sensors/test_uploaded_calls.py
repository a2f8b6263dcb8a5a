"""UISUploadedCallsSensor against the emulator over loopback: pokes, selection, errors, deferral, bad input.

The emulator's clock is moved to noon of a fixed future day, so the day's window holds only this test's uploads;
uploads stay ``new`` for 600 s and finish 1 200 s after upload, and tests move the clock to progress them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)

from tests.conftest import API_KEY, PASSWORD, make_upload_calls, start_upload_emulator, upload_calls
from uis_provider.exceptions import UISConfigurationError, UISError
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.windows import ZERO_WINDOW_HINT
from uis_provider.sensors.uploaded_calls import UISUploadedCallsSensor
from uis_provider.testing import UISEmulator
from uis_provider.triggers.uploaded_calls import UISUploadedCallsTrigger

TZ = "Europe/Moscow"
DAY = pendulum.datetime(2027, 2, 1, tz=TZ)
END = DAY.add(days=1)
FAST = RetryPolicy(max_retries=5, backoff_base=0.01, backoff_max=0.05, limit_margin=0.05)
API_FORMAT = "%Y-%m-%d %H:%M:%S"


def local(moment: pendulum.DateTime) -> str:
    """A moment as the account's wall-clock text, the form every emulator knob accepts."""
    return moment.in_timezone(TZ).strftime(API_FORMAT)


def start_emulator(monkeypatch: pytest.MonkeyPatch, **knobs: Any) -> UISEmulator:
    """The shared upload emulator at noon of ``DAY`` (see ``tests.conftest.start_upload_emulator``)."""
    return start_upload_emulator(monkeypatch, DAY, seed=9, **knobs)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[UISEmulator]:
    emulator = start_emulator(monkeypatch)
    try:
        yield emulator
    finally:
        emulator.stop()


def make_calls(api: UISEmulator, n: int, *, prefix: str, urls: list[str] | None = None) -> list[dict[str, Any]]:
    """``n`` valid ``upload.calls`` items (see ``tests.conftest.make_upload_calls``)."""
    return make_upload_calls(api, n, prefix=prefix, urls=urls, timezone=TZ)


def upload(api: UISEmulator, calls: list[dict[str, Any]], request_id: str | None = None) -> list[str]:
    return upload_calls(calls, request_id)


def sensor(**kwargs: Any) -> UISUploadedCallsSensor:
    options: dict[str, Any] = {"task_id": "wait", "poke_interval": 0.05, "api_retry_policy": FAST, **kwargs}
    return UISUploadedCallsSensor(**options)


def context(start: Any = DAY, end: Any = END) -> dict[str, Any]:
    return {"data_interval_start": start, "data_interval_end": end}


def truth(api: UISEmulator, start: Any = DAY, end: Any = END) -> tuple[dict[str, int], dict[str, int]]:
    """Counts per status and per error code of the emulator's ground truth for ``[start, end)``."""
    records = api.records(local(start), local(end))
    statuses = Counter(r["status"] for r in records)
    codes = Counter(r["error_code"] for r in records if r["error_code"])
    return dict(sorted(statuses.items())), dict(sorted(codes.items()))


def calls_of(api: UISEmulator, method: str) -> list[dict[str, Any]]:
    return [r for r in api.requests if r["method"] == method]


def test_not_done_while_new_or_in_process_then_done_with_the_summary(api: UISEmulator) -> None:
    upload(api, make_calls(api, 6, prefix="a", urls=["https://records.example/missing.mp3"]))
    task = sensor()
    seen = []
    for step in (0, 700, 600):
        api.clock.advance(step)
        before = api.count("get.uploaded_calls")
        result = task.poke(context())
        seen.append((sorted({r["status"] for r in api.records(local(DAY), local(END))}), result.is_done))
        if not result.is_done:
            assert api.count("get.uploaded_calls") - before == 1
    task.close()

    assert seen == [(["new"], False), (["in_process"], False), (["error", "processed"], True)]
    statuses, codes = truth(api)
    assert result.xcom_value == {
        "date_from": DAY.isoformat(),
        "date_till": END.isoformat(),
        "total": 6,
        "statuses": statuses,
        "error_codes": codes,
    }
    assert statuses == {"error": 1, "processed": 5}
    assert codes == {"http_status_download_error": 1}
    assert api.count("get.account") == 1
    probe = calls_of(api, "get.uploaded_calls")[0]["params"]
    assert probe["limit"] == 1
    assert probe["filter"] == {"field": "status", "operator": "in", "value": ["new", "in_process"]}
    assert probe["date_from"] == "2027-02-01 00:00:00"
    assert probe["date_till"] == "2027-02-02 00:00:00"


def test_timezone_from_the_connection_skips_get_account(api: UISEmulator) -> None:
    upload(api, make_calls(api, 2, prefix="tz"))
    task = sensor(uis_conn_id="uis_tz")
    assert not task.poke(context())
    task.close()
    assert api.count("get.account") == 0
    assert api.count("get.uploaded_calls") == 1


def test_fail_on_error_fails_naming_how_many_and_the_codes(api: UISEmulator) -> None:
    urls = ["https://records.example/missing-1.mp3", "https://records.example/missing-2.mp3"]
    upload(api, make_calls(api, 5, prefix="e", urls=[*urls, "https://records.example/slow.mp3"]))
    api.clock.advance(1300)
    with pytest.raises(AirflowFailException) as failure:
        sensor(fail_on_error=True).poke(context())
    message = str(failure.value)
    assert "3 of 5 selected uploads ended with status 'error'" in message
    assert "http_status_download_error x2" in message
    assert "timeout_download_error x1" in message

    result = sensor().poke(context())
    assert result.is_done
    assert result.xcom_value["statuses"] == {"error": 3, "processed": 2}


def test_fail_on_error_fails_at_once_even_while_others_are_pending(api: UISEmulator) -> None:
    api.add_calls(2, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="new")
    api.add_calls(1, local(DAY.add(hours=3)), local(DAY.add(hours=4)), status="error")
    assert not sensor().poke(context())
    with pytest.raises(AirflowFailException, match=r"1 of 3 selected uploads ended with status 'error'"):
        sensor(fail_on_error=True).poke(context())


def test_cancelled_uploads_are_reported_not_waited_for(api: UISEmulator) -> None:
    api.add_calls(3, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="cancelled")
    api.add_calls(2, local(DAY.add(hours=2)), local(DAY.add(hours=3)), status="processed")
    result = sensor().poke(context())
    assert result.is_done
    assert result.xcom_value["statuses"] == {"cancelled": 3, "processed": 2}
    assert result.xcom_value["total"] == 5


def test_empty_selection_is_done_at_the_first_poke(api: UISEmulator) -> None:
    result = sensor(uis_conn_id="uis_tz").poke(context())
    assert result.is_done
    assert result.xcom_value["total"] == 0
    assert result.xcom_value["statuses"] == {}
    assert api.count("get.uploaded_calls") == 2


def test_ext_request_id_and_ext_ids_narrow_the_selection(api: UISEmulator) -> None:
    first = upload(api, make_calls(api, 3, prefix="first"), request_id="batch-first")
    api.clock.advance(1300)
    second = upload(api, make_calls(api, 2, prefix="second"), request_id="batch-second")

    done = sensor(ext_request_id="batch-first").poke(context())
    assert done.is_done
    assert done.xcom_value["statuses"] == {"processed": 3}
    assert not sensor(ext_request_id="batch-second").poke(context())
    assert not sensor(ext_ids=[first[0], second[0]]).poke(context())
    by_ids = sensor(ext_ids=first[:2]).poke(context())
    assert by_ids.is_done
    assert by_ids.xcom_value["total"] == 2
    mixed = sensor(ext_request_id="batch-first", filter={"field": "ext_id", "operator": "!=", "value": first[0]})
    assert mixed.poke(context()).xcom_value["total"] == 2

    probe = calls_of(api, "get.uploaded_calls")[0]["params"]
    assert probe["filter"] == {
        "filters": [
            {"field": "ext_request_id", "operator": "=", "value": "batch-first"},
            {"field": "status", "operator": "in", "value": ["new", "in_process"]},
        ],
        "condition": "and",
    }


def test_ext_request_id_list_watches_every_request_and_empty_list_waits_for_nothing(api: UISEmulator) -> None:
    upload(api, make_calls(api, 3, prefix="one"), request_id="batch-one")
    upload(api, make_calls(api, 2, prefix="two"), request_id="batch-two")
    upload(api, make_calls(api, 4, prefix="other"), request_id="batch-other")
    api.clock.advance(1300)
    done = sensor(uis_conn_id="uis_tz", ext_request_id=["batch-one", "batch-two"]).poke(context())
    assert done.is_done
    assert done.xcom_value["statuses"] == {"processed": 5}
    probe = calls_of(api, "get.uploaded_calls")[0]["params"]["filter"]["filters"][0]
    assert probe == {"field": "ext_request_id", "operator": "in", "value": ["batch-one", "batch-two"]}

    api.reset_log()
    nothing = sensor(uis_conn_id="uis_tz", ext_request_id=[]).poke(context())
    assert nothing.is_done
    assert nothing.xcom_value["total"] == 0
    assert api.count() == 0
    with pytest.raises(UISConfigurationError, match="ext_request_id"):
        sensor(uis_conn_id="uis_tz", ext_request_id=["ok", None]).poke(context())


@pytest.mark.parametrize("till_inclusive", [True, False])
def test_uploads_at_the_window_end_second_belong_to_the_next_window(
    monkeypatch: pytest.MonkeyPatch, till_inclusive: bool
) -> None:
    api = start_emulator(monkeypatch, till_inclusive=till_inclusive)
    try:
        api.add_calls(2, local(END), local(END.add(seconds=1)), status="new")
        api.add_calls(3, local(DAY), local(DAY.add(hours=1)), status="processed")
        result = sensor().poke(context())
        assert result.is_done
        assert result.xcom_value["total"] == 3

        api.add_calls(1, local(END.subtract(seconds=1)), local(END), status="new")
        assert not sensor().poke(context())
        assert not sensor().poke(context(END, END.add(days=1)))
    finally:
        api.stop()


def test_a_transient_fault_inside_a_poke_is_retried(api: UISEmulator) -> None:
    upload(api, make_calls(api, 2, prefix="f"))
    api.faults.script(["http_502", "drop", "internal_error"])
    task = sensor(uis_conn_id="uis_tz")
    assert not task.poke(context())
    task.close()
    assert api.faults.injected == 3


def test_a_short_page_in_the_summary_fails_instead_of_miscounting(api: UISEmulator) -> None:
    upload(api, make_calls(api, 6, prefix="s"))
    api.clock.advance(1300)
    api.faults.script(["short_page", "short_page"])  # the probe finds nothing pending; the summary page is short
    task = sensor(uis_conn_id="uis_tz")
    with pytest.raises(UISError, match=r"holds 5 records, but total_items=6 and limit=\d+ promise 6"):
        task.poke(context())
    task.close()
    assert [r["fault"] for r in calls_of(api, "get.uploaded_calls")] == ["short_page", "short_page"]


def test_poke_mode_execute_returns_the_summary_and_logs_out(api: UISEmulator) -> None:
    upload(api, make_calls(api, 2, prefix="p"))

    def finish() -> None:
        deadline = time.monotonic() + 60
        while api.count("get.uploaded_calls") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        api.clock.advance(1300)

    finisher = threading.Thread(target=finish, daemon=True)
    finisher.start()
    summary = sensor(uis_conn_id="uis_login").execute(context())
    finisher.join()
    assert summary["statuses"] == {"processed": 2}
    assert api.count("login.user") == 1
    assert api.count("logout.user") == 1
    assert api.open_sessions == 0


def test_deferrable_pokes_once_then_defers_to_a_secret_free_trigger(api: UISEmulator) -> None:
    upload(api, make_calls(api, 2, prefix="d"))
    task = sensor(uis_conn_id="uis_login", deferrable=True, timeout=600, poke_interval=30, fail_on_error=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context())

    assert api.count("get.uploaded_calls") == 1
    assert api.count("logout.user") == 1
    assert api.open_sessions == 0
    assert deferred.value.method_name == "execute_complete"
    assert 0 < deferred.value.timeout.total_seconds() <= 600
    trigger = deferred.value.trigger
    assert isinstance(trigger, UISUploadedCallsTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "uis_provider.triggers.uploaded_calls.UISUploadedCallsTrigger"
    assert kwargs["uis_conn_id"] == "uis_login"
    assert kwargs["date_from"] == DAY.isoformat()
    assert kwargs["date_till"] == END.isoformat()
    assert kwargs["fail_on_error"] is True
    assert kwargs["poll_interval"] == 30
    assert kwargs["retry_policy"]["backoff_base"] == FAST.backoff_base
    dumped = json.dumps(kwargs) + repr(trigger)
    tokens = {r["params"].get("access_token") for r in api.requests} - {None}
    for secret in (PASSWORD, API_KEY, *tokens):
        assert secret not in dumped


def test_deferrable_does_not_defer_when_already_done(api: UISEmulator) -> None:
    api.add_calls(2, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="processed")
    summary = sensor(deferrable=True).execute(context())
    assert summary["statuses"] == {"processed": 2}


def test_execute_complete_turns_events_into_results() -> None:
    task = sensor()
    summary = {"date_from": "a", "date_till": "b", "total": 1, "statuses": {"processed": 1}, "error_codes": {}}
    assert task.execute_complete(context(), {"status": "success", "summary": summary}) == summary
    with pytest.raises(AirflowFailException, match="2 of 3"):
        task.execute_complete(context(), {"status": "failure", "message": "2 of 3 ...", "summary": summary})
    with pytest.raises(AirflowException, match="Component required"):
        task.execute_complete(context(), {"status": "error", "message": "Component required by method x"})
    with pytest.raises(AirflowException, match="without an event"):
        task.execute_complete(context(), None)


DEEP = {"filters": [{"filters": [{"field": "ext_id", "operator": "=", "value": "x"}], "condition": "or"}]}


@pytest.mark.parametrize(
    ("kwargs", "ctx", "needle"),
    [
        ({"filter": {"field": "upload_time", "operator": ">", "value": "x"}}, context(), "date_from/date_till"),
        ({"filter": {"field": "status", "operator": "between", "value": 1}}, context(), "not an operator"),
        ({"filter": {"filters": [DEEP], "condition": "and"}}, context(), "at most 2"),
        ({"filter": {"filters": [DEEP, DEEP], "condition": "or"}}, context(), "at most 2"),
        ({"filter": DEEP | {"condition": "or"}, "ext_ids": ["a"]}, context(), "allows 2"),
        ({"ext_ids": "ext-1"}, context(), "ext_ids must be a list"),
        ({"ext_ids": []}, context(), "non-empty list"),
        ({"ext_request_id": {"id": 1}}, context(), "ext_request_id"),
        ({"user_id": "abc"}, context(), "user_id"),
        ({}, {}, "no data interval"),
        ({}, context(DAY, DAY), ZERO_WINDOW_HINT[:40]),
        ({"date_from": "2027-02-02", "date_till": "2027-02-01"}, {}, "swap them"),
        (
            {"date_from": "yesterday", "date_till": "2027-02-01"},
            {},
            "date_from='yesterday' is refused: it is not a date",
        ),
    ],
)
def test_bad_input_fails_before_any_call(
    api: UISEmulator, kwargs: dict[str, Any], ctx: dict[str, Any], needle: str
) -> None:
    with pytest.raises(UISConfigurationError) as error:
        sensor(**kwargs).poke(ctx)
    assert needle in str(error.value)
    assert api.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pending_statuses": []}, "empty"),
        ({"pending_statuses": "new"}, "must be a list"),
        ({"pending_statuses": ["new", "processed"]}, "final status"),
        ({"pending_statuses": ["waiting"]}, "not an upload status"),
        ({"page_size": 0}, "page_size"),
        ({"budget_timeout": -1}, "budget_timeout must be a number of seconds > 0"),
    ],
)
def test_bad_static_options_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle):
        sensor(**kwargs)


def test_custom_pending_statuses_are_what_the_probe_counts(api: UISEmulator) -> None:
    api.add_calls(2, local(DAY.add(hours=1)), local(DAY.add(hours=2)), status="not_processed")
    assert sensor().poke(context()).is_done
    assert not sensor(pending_statuses=["new", "in_process", "not_processed"]).poke(context())


def test_empty_request_list_makes_no_call_even_without_a_timezone_extra(api: UISEmulator) -> None:
    """Issue 15 item 7: ``uis_default`` has no ``timezone`` extra; the empty selection must not ask get.account."""
    api.reset_log()
    nothing = sensor(uis_conn_id="uis_default", ext_request_id=[]).poke(context())
    assert nothing.is_done
    assert nothing.xcom_value == {
        "date_from": DAY.isoformat(),
        "date_till": END.isoformat(),
        "total": 0,
        "statuses": {},
        "error_codes": {},
    }
    assert api.count() == 0
    with pytest.raises(UISConfigurationError, match="date_from='01/02/2027'"):
        sensor(uis_conn_id="uis_default", ext_request_id=[], date_from="01/02/2027").poke(context())
    assert api.count() == 0


def test_dotted_dates_select_that_day_in_sensor_and_trigger(api: UISEmulator) -> None:
    """Issue 15 item 1: the same parser in the sensor and its trigger; 01.02.2027 is 1 February."""
    watcher = sensor(uis_conn_id="uis_tz", date_from="01.02.2027", date_till="02.02.2027")
    selection = watcher.build_selection({})
    assert (selection.window.start, selection.window.end) == (DAY, END)
    trigger = UISUploadedCallsTrigger(
        uis_conn_id="uis_tz", date_from="01.02.2027", date_till="02.02.2027 00:00", timezone=TZ
    )
    assert trigger.selection().window.api_params() == {
        "date_from": "2027-02-01 00:00:00",
        "date_till": "2027-02-02 00:00:00",
    }
    with pytest.raises(UISConfigurationError, match="date_from='2/1/2027'"):
        UISUploadedCallsTrigger(
            uis_conn_id="uis_tz", date_from="2/1/2027", date_till="2027-02-02", timezone=TZ
        ).selection()
    watcher.close()


def test_a_poke_past_hour_six_waits_for_the_minute_budget_under_its_own_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook (and its session) is made at the first poke; each poke bounds its own waits, so a poke 7 hours later
    still waits out a refusal instead of failing at the first poke's 6-hour deadline."""
    api = start_emulator(monkeypatch, minute_limit=1, minute_window=1.0)
    try:
        task = sensor(uis_conn_id="uis_tz")
        offset = [0.0]
        task.hook.session.clock = lambda: time.time() + offset[0]
        assert task.poke(context()).is_done
        offset[0] = 7 * 3600.0
        assert task.poke(context()).is_done  # the budget's one point went to the first poke: this one waits
        deadline = task.hook.session.budget_deadline
        task.close()
        refused = [r for r in api.requests if r["method"] == "get.uploaded_calls" and r["error"] == "limit_exceeded"]
    finally:
        api.stop()
    assert refused, "a call of the second poke was refused and waited for the reset"
    assert deadline.at == pytest.approx(time.time() + 7 * 3600.0 + 6 * 3600.0, abs=60)
    assert deadline.name == "budget_timeout=21600 s"


@pytest.mark.parametrize(
    ("options", "error", "expected"),
    [
        ({"soft_fail": True}, AirflowFailException("2 of 3 failed"), AirflowSkipException),
        ({"never_fail": True}, UISError("broken answer"), AirflowSkipException),
        ({}, UISError("broken answer"), UISError),
        ({"soft_fail": True}, UISError("broken answer"), UISError),
    ],
)
def test_the_look_before_deferring_skips_or_fails_as_any_poke_would(
    options: dict[str, Any], error: BaseException, expected: type[BaseException]
) -> None:
    task = sensor(deferrable=True)
    for name, value in options.items():  # set, not passed: Airflow 2 has no never_fail parameter
        setattr(task, name, value)

    def poke(context: Any) -> Any:
        raise error

    task.poke = poke  # type: ignore[method-assign]
    with pytest.raises(expected):
        task.execute(context())


def test_with_silent_fail_a_failed_look_before_deferring_is_made_again() -> None:
    task = sensor(deferrable=True)
    task.silent_fail = True
    looks: list[int] = []

    def poke(context: Any) -> Any:
        looks.append(1)
        if len(looks) == 1:
            raise UISError("broken answer")
        return PokeReturnValue(is_done=True, xcom_value={"total": 0})

    task.poke = poke  # type: ignore[method-assign]
    assert task.execute(context()) == {"total": 0}
    assert len(looks) == 2
