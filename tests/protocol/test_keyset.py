"""Which queries a keyset can continue past the offset cap, and the filter it continues them with."""

from __future__ import annotations

from typing import Any

import pytest

from uis_provider.exceptions import UISError
from uis_provider.protocol.filters import filter_depth
from uis_provider.protocol.keyset import Keyset, keyset_for
from uis_provider.protocol.methods import CALLS_REPORT, UPLOADED_CALLS, report_method

COLUMNS = list(UPLOADED_CALLS.columns)
STATUS = {"field": "status", "operator": "=", "value": "processed"}


def test_the_unique_key_alone_is_continued_in_its_direction() -> None:
    assert keyset_for(UPLOADED_CALLS, [{"field": "ext_id", "order": "asc"}], None, COLUMNS) == Keyset("ext_id")
    assert keyset_for(UPLOADED_CALLS, [{"field": "ext_id", "order": "desc"}], None, COLUMNS) == Keyset("ext_id", True)
    legs = report_method("get.financial_call_legs_report")
    assert legs is not None
    assert keyset_for(legs, [{"field": "leg_id", "order": "asc"}], None, list(legs.columns)) == Keyset("leg_id")
    # id of the calls report is unique but not sortable: nothing to continue by
    assert keyset_for(CALLS_REPORT, [{"field": "id", "order": "asc"}], None, list(CALLS_REPORT.columns)) is None


@pytest.mark.parametrize(
    ("sort", "user_filter", "fields"),
    [
        ([{"field": "start_time", "order": "asc"}, {"field": "ext_id", "order": "asc"}], None, COLUMNS),
        ([{"field": "ext_id", "order": "asc"}, {"field": "start_time", "order": "asc"}], None, COLUMNS),
        ([{"field": "ext_id", "order": "asc"}], None, ["upload_time", "status"]),
        (
            [{"field": "ext_id", "order": "asc"}],
            {"filters": [STATUS, {"filters": [STATUS, STATUS], "condition": "and"}], "condition": "or"},
            COLUMNS,
        ),
    ],
    ids=["another-field-first", "key-then-another", "key-not-returned", "no-room-in-the-filter"],
)
def test_queries_a_keyset_cannot_continue(sort: list[dict[str, str]], user_filter: Any, fields: list[str]) -> None:
    assert keyset_for(UPLOADED_CALLS, sort, user_filter, fields) is None


def test_the_bound_joins_the_users_filter_without_a_needless_level() -> None:
    ascending, descending = Keyset("ext_id"), Keyset("ext_id", descending=True)
    bound = {"field": "ext_id", "operator": ">", "value": "k9"}
    assert ascending.after(None, "k9") == bound
    assert descending.after(None, "k9") == {**bound, "operator": "<"}
    assert ascending.after(STATUS, "k9") == {"filters": [STATUS, bound], "condition": "and"}
    group = {"filters": [STATUS, STATUS], "condition": "and"}
    assert ascending.after(group, "k9") == {"filters": [STATUS, STATUS, bound], "condition": "and"}
    either = {"filters": [STATUS, STATUS], "condition": "or"}
    combined = ascending.after(either, "k9")
    assert combined == {"filters": [either, bound], "condition": "and"} and filter_depth(combined) == 2


@pytest.mark.parametrize("records", [[], [{"status": "new"}], [{"ext_id": None}], [{"ext_id": ["x"]}]])
def test_a_page_without_a_usable_last_key_is_a_broken_answer(records: list[dict[str, Any]]) -> None:
    with pytest.raises(UISError, match="'ext_id'"):
        Keyset("ext_id").last_value(records, "get.uploaded_calls")
