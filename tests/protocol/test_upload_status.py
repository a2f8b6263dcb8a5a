"""The upload-status flows driven in memory: the selection filter, the probe, the summary pass and their typed results.

No transport and no emulator: a small in-memory ``get.uploaded_calls`` answers the flow's sends, so each test says
exactly which calls a poke makes and what it decides from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.protocol import flows
from uis_provider.exceptions import UISConfigurationError, UISError
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.session import Reply, Send, UISSession
from uis_provider.protocol.upload_status import (
    SCAN_ATTEMPTS,
    SELECTION_FIELDS,
    NothingPending,
    UploadsDone,
    UploadSelection,
    UploadsFailed,
    UploadsPending,
    ext_ids_condition,
    poke_flow,
    request_id_condition,
    selection_filter,
)
from uis_provider.protocol.windows import Window

TZ = "Europe/Moscow"
WINDOW = Window.build("2027-01-10T00:00:00", "2027-01-11T00:00:00", TZ)
LIMITS = {"minute_limit": 100, "minute_remaining": 99, "minute_reset": 60, "day_limit": 10_000, "day_remaining": 9_999}

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def session() -> UISSession:
    """A session with an API key (no login call) and no retries."""
    return flows.session(flows.Clock(), policy=RetryPolicy(max_retries=0))


def drive(flow: Any, answer: Answer) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``flow`` to its end, answering every send with ``answer(params)``; return its value and the params sent."""
    sent: list[dict[str, Any]] = []

    def reply(effect: Send) -> Reply:
        params = flows.request_of(effect)["params"]
        sent.append(params)
        page = answer(params)
        return flows.result(effect.body, page["data"], LIMITS, total_items=page["total_items"])

    value, _effects = flows.drive(flow, flows.Clock(), reply)
    return value, sent


def upload(status: str, at: str = "2027-01-10 12:00:00", code: str | None = None, ext_id: str = "x") -> dict[str, Any]:
    return {"status": status, "upload_time": at, "error_code": code, "ext_id": ext_id}


def uploads_api(records: list[dict[str, Any]]) -> Answer:
    """``get.uploaded_calls`` over ``records``: the status condition of the filter, sorting by status, offset paging."""

    def answer(params: dict[str, Any]) -> dict[str, Any]:
        wanted = _statuses(params.get("filter"))
        rows = [r for r in records if wanted is None or r["status"] in wanted]
        if params.get("sort", [{}])[0].get("field") == "status":
            rows.sort(key=lambda r: r["status"])
        offset, limit = params["offset"], params["limit"]
        return {"data": rows[offset : offset + limit], "total_items": len(rows)}

    return answer


def _statuses(node: dict[str, Any] | None) -> set[str] | None:
    if not node:
        return None
    if node.get("field") == "status":
        return set(node["value"])
    found = [_statuses(child) for child in node.get("filters", [])]
    return next((f for f in found if f is not None), None)


def selection(**kwargs: Any) -> UploadSelection:
    return UploadSelection(window=WINDOW, **kwargs)


# --- the selection filter ---------------------------------------------------------------------------------------


def test_the_selection_is_the_users_filter_and_the_request_ids_and_the_ext_ids() -> None:
    user = {"field": "status", "operator": "=", "value": "new"}
    node = selection_filter(user, ext_request_id=["r1", 7, "r1"], ext_ids=["a", "b", "a"])
    assert node == {
        "filters": [
            user,
            {"field": "ext_request_id", "operator": "in", "value": ["r1", "7"]},
            {"field": "ext_id", "operator": "in", "value": ["a", "b"]},
        ],
        "condition": "and",
    }


def test_one_request_id_is_an_equality_and_nothing_given_selects_everything() -> None:
    assert selection_filter(ext_request_id=12) == {"field": "ext_request_id", "operator": "=", "value": "12"}
    assert selection_filter() is None
    assert selection_filter(ext_request_id="") is None
    assert request_id_condition([]) is None
    assert ext_ids_condition(None) is None


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"ext_request_id": True}, "the id of one upload.calls request"),
        ({"ext_request_id": ["a", ""]}, r"a list of them \(strings\)"),
        ({"ext_request_id": [None]}, r"a list of them \(strings\)"),
        ({"ext_ids": "a"}, "ext_ids must be a list"),
        ({"ext_ids": []}, "non-empty list of non-empty strings"),
        ({"ext_ids": ["a", 1]}, "non-empty list of non-empty strings"),
    ],
)
def test_a_bad_request_id_or_ext_id_list_is_refused_naming_the_parameter(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle):
        selection_filter(**kwargs)


def test_selection_fields_are_what_to_kwargs_gives_and_from_kwargs_takes_back() -> None:
    watched = selection(filter={"field": "ext_id", "operator": "=", "value": "x"}, fail_on_error=True, user_id=5)
    kwargs = watched.to_kwargs()
    assert tuple(kwargs) == SELECTION_FIELDS
    assert UploadSelection.from_kwargs(**json.loads(json.dumps(kwargs))) == watched


# --- one poke -----------------------------------------------------------------------------------------------------


def test_a_pending_upload_in_the_window_costs_one_call() -> None:
    outcome, sent = drive(poke_flow(session(), selection()), uploads_api([upload("new"), upload("processed")]))
    assert isinstance(outcome, UploadsPending)
    assert outcome.count == 1
    assert "have a status in ['new', 'in_process']" in outcome.message
    assert len(sent) == 1 and sent[0]["limit"] == 1


def test_nothing_pending_is_done_with_counts_per_status_and_code() -> None:
    records = [upload("processed"), upload("error", code="bad_url"), upload("cancelled")]
    outcome, sent = drive(poke_flow(session(), selection()), uploads_api(records))
    assert outcome == UploadsDone(
        {
            "date_from": WINDOW.start.isoformat(),
            "date_till": WINDOW.end.isoformat(),
            "total": 3,
            "statuses": {"cancelled": 1, "error": 1, "processed": 1},
            "error_codes": {"bad_url": 1},
        }
    )
    assert [params["limit"] for params in sent] == [1, selection().page_size]


def test_an_error_fails_the_wait_with_fail_on_error_even_while_others_are_pending() -> None:
    records = [upload("new"), upload("error", code="bad_url")]
    outcome, _ = drive(poke_flow(session(), selection(fail_on_error=True)), uploads_api(records))
    assert isinstance(outcome, UploadsFailed)
    assert outcome.summary["statuses"] == {"error": 1, "new": 1}
    assert outcome.message.startswith("1 of 2 selected uploads ended with status 'error' (bad_url x1)")


def test_without_a_summary_nothing_pending_ends_after_the_probe() -> None:
    outcome, sent = drive(poke_flow(session(), selection(summarize=False)), uploads_api([upload("processed")]))
    assert outcome == NothingPending()
    assert len(sent) == 1


def test_a_pending_first_row_on_the_end_second_is_settled_by_the_summary_pass() -> None:
    records = [upload("new", at=WINDOW.api_till), upload("processed")]
    outcome, sent = drive(poke_flow(session(), selection()), uploads_api(records))
    assert isinstance(outcome, UploadsDone)
    assert outcome.summary["statuses"] == {"processed": 1}
    assert len(sent) == 2


def test_uploads_arriving_through_every_summary_pass_leave_the_wait_pending() -> None:
    calls = 0

    def arriving(params: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if params["sort"][0]["field"] == "status":  # the probe: nothing pending
            return {"data": [], "total_items": 0}
        # every pass sees 2 rows on its first page and 3 on its second: uploads keep coming
        total = 2 if params["offset"] == 0 else 3
        return {"data": [upload("processed")] * min(1, total - params["offset"]), "total_items": total}

    outcome, _ = drive(poke_flow(session(), selection(page_size=1)), arriving)
    assert isinstance(outcome, UploadsPending)
    assert "total_items changed from 2 to 3" in outcome.message and outcome.message.endswith("will look again")
    assert calls == 1 + 2 * SCAN_ATTEMPTS


def test_an_answer_without_total_items_is_an_error_not_zero() -> None:
    def broken(params: dict[str, Any]) -> dict[str, Any]:
        return {"data": [], "total_items": None}

    with pytest.raises(UISError, match=r"no metadata\.total_items"):
        drive(poke_flow(session(), selection()), broken)


def test_a_window_too_big_for_offset_paging_is_cut_by_its_row_count_as_extracts_are() -> None:
    records = [upload("processed", at=f"2027-01-10 {hour:02d}:00:00", ext_id=f"x{hour}") for hour in range(24)]
    asked: list[tuple[str, str]] = []

    def crowded(params: dict[str, Any]) -> dict[str, Any]:
        if params["sort"][0]["field"] == "status":  # the probe: nothing pending
            return {"data": [], "total_items": 0}
        asked.append((params["date_from"], params["date_till"]))
        if (params["date_from"], params["date_till"]) == (WINDOW.api_from, WINDOW.api_till):
            return {"data": [], "total_items": 300_000}
        inside = [r for r in records if params["date_from"] <= r["upload_time"] < params["date_till"]]
        return {"data": inside, "total_items": len(inside)}

    outcome, _ = drive(poke_flow(session(), selection()), crowded)
    assert isinstance(outcome, UploadsDone)
    assert outcome.summary["statuses"] == {"processed": 24}
    # 300 000 rows, 110 000 reachable at 10 000 a page, filled to 90 %: four pieces of six hours, not halves
    assert [till for _, till in asked[1:]] == [
        "2027-01-10 06:00:00",
        "2027-01-10 12:00:00",
        "2027-01-10 18:00:00",
        WINDOW.api_till,
    ]


def test_a_negative_total_items_is_refused_as_extracts_refuse_it() -> None:
    with pytest.raises(UISError, match="negative"):
        drive(poke_flow(session(), selection()), lambda params: {"data": [], "total_items": -1})
