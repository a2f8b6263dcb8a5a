from __future__ import annotations

import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.filters import (
    combine_filters,
    filter_depth,
    stable_sort,
    validate_fields,
    validate_filter,
    validate_sort,
)
from uis_provider.protocol.methods import CALLS_REPORT, UPLOADED_CALLS, report_method

SIMPLE = {"field": "status", "operator": "=", "value": "processed"}


def test_two_levels_allowed_three_refused() -> None:
    two = {"filters": [{"filters": [SIMPLE], "condition": "or"}, SIMPLE], "condition": "and"}
    assert filter_depth(two) == 2
    assert validate_filter(two, method=UPLOADED_CALLS) is two
    three = {"filters": [two], "condition": "and"}
    with pytest.raises(UISConfigurationError, match="at most 2"):
        validate_filter(three, method=UPLOADED_CALLS)


@pytest.mark.parametrize(
    ("flt", "needle"),
    [
        ({"field": "status", "operator": "==", "value": "x"}, "operator='=='"),
        ({"operator": "=", "value": "x"}, "needs a 'field'"),
        ({"field": "upload_time", "operator": ">", "value": "x"}, "cannot be filtered"),
        (
            {"field": "nope", "operator": "=", "value": "x"},
            "not a column of get.uploaded_calls; filterable columns: call_session_id",
        ),
        ({"filters": [], "condition": "and"}, "non-empty list"),
        ({"filters": [SIMPLE], "condition": "xor"}, "condition='xor'"),
        ("status=1", "must be a dict"),
    ],
)
def test_bad_filters(flt: object, needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle):
        validate_filter(flt, method=UPLOADED_CALLS)


def test_combine_does_not_deepen_and_groups() -> None:
    user = {"filters": [SIMPLE], "condition": "and"}
    extra = {"field": "status", "operator": "in", "value": ["new"]}
    combined = combine_filters(user, extra)
    assert combined == {"filters": [SIMPLE, extra], "condition": "and"}
    assert filter_depth(combined) == 1
    assert combine_filters(None, extra) is extra


def test_fields_and_sort() -> None:
    assert validate_fields(["ext_id", "status"], UPLOADED_CALLS) == ["ext_id", "status"]
    with pytest.raises(UISConfigurationError, match="'bogus'"):
        validate_fields(["bogus"], UPLOADED_CALLS)
    with pytest.raises(UISConfigurationError, match="list of column names"):
        validate_fields("ext_id", UPLOADED_CALLS)
    sort = validate_sort([{"field": "start_time"}], UPLOADED_CALLS)
    assert stable_sort(sort, UPLOADED_CALLS) == [
        {"field": "start_time", "order": "asc"},
        {"field": "ext_id", "order": "asc"},
    ]
    with pytest.raises(UISConfigurationError, match="cannot be sorted"):
        validate_sort([{"field": "upload_time"}], UPLOADED_CALLS)


@pytest.mark.parametrize(
    ("flt", "needle"),
    [
        ({"field": "status", "operator": "in", "value": "processed"}, "takes a non-empty list of values"),
        ({"field": "status", "operator": "in", "value": []}, "takes a non-empty list of values"),
        ({"field": "status", "operator": "=", "value": ["new"]}, "use 'in' for a list of values"),
        ({"field": "status", "operator": "like", "value": 5}, "takes a text pattern"),
        ({"field": "status", "operator": ">", "value": "new"}, "compares numbers and date-times"),
        ({"field": "comment", "operator": "is_null", "value": "x"}, "takes no value"),
        ({"field": "wait_duration", "operator": "<", "value": None}, "needs a value to compare with"),
    ],
)
def test_values_an_operator_cannot_take_are_refused_before_any_call(flt: dict, needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle):
        validate_filter(flt, method=UPLOADED_CALLS)


def test_values_an_operator_takes_pass() -> None:
    for flt in (
        {"field": "status", "operator": "in", "value": ["processed", "error"]},
        {"field": "wait_duration", "operator": ">=", "value": 10},
        {"field": "start_time", "operator": "<", "value": "2026-01-04 12:00:00"},
        {"field": "comment", "operator": "is_null"},
        {"field": "comment", "operator": "=", "value": None},
        {"field": "comment", "operator": "ilike", "value": "%заказ%"},
    ):
        assert validate_filter(flt, method=UPLOADED_CALLS) is flt


def test_the_reference_flags_decide_filter_and_sort_of_the_calls_report() -> None:
    # id: filterable, not sortable; start_time: sortable, not filterable; finish_time: neither
    assert validate_filter({"field": "id", "operator": ">", "value": 5}, method=CALLS_REPORT)
    with pytest.raises(UISConfigurationError, match=r"sort\[0\].field='id' cannot be sorted on in get.calls_report; "):
        validate_sort([{"field": "id"}], CALLS_REPORT)
    assert validate_sort([{"field": "start_time", "order": "desc"}], CALLS_REPORT) == [
        {"field": "start_time", "order": "desc"}
    ]
    with pytest.raises(UISConfigurationError, match=r"cannot be filtered on in get\.calls_report"):
        validate_filter({"field": "start_time", "operator": ">", "value": "2026-01-04 00:00:00"}, method=CALLS_REPORT)
    for bad in (
        lambda: validate_filter({"field": "finish_time", "operator": "is_null"}, method=CALLS_REPORT),
        lambda: validate_sort([{"field": "finish_time"}], CALLS_REPORT),
    ):
        with pytest.raises(UISConfigurationError, match="finish_time"):
            bad()


def test_refusals_list_the_allowed_columns() -> None:
    with pytest.raises(UISConfigurationError) as sort_error:
        validate_sort([{"field": "id"}], CALLS_REPORT)
    assert "sortable columns: auto_call_campaign_name, campaign_id, channel_code" in str(sort_error.value)
    with pytest.raises(UISConfigurationError) as fields_error:
        validate_fields(["id", "utm_sourse"], CALLS_REPORT)
    assert "'utm_sourse', not a column of get.calls_report; its columns: id, start_time" in str(fields_error.value)


def test_every_documented_column_is_accepted_in_fields() -> None:
    for name in ("get.calls_report", "get.chats_report", "get.goals_report", "get.uploaded_calls"):
        method = report_method(name)
        assert method is not None
        assert validate_fields(list(method.known_columns), method) == list(method.known_columns)


def test_no_sort_is_appended_where_the_method_has_no_sortable_unique_key() -> None:
    assert stable_sort([], CALLS_REPORT) == []
    assert stable_sort([], UPLOADED_CALLS) == [{"field": "ext_id", "order": "asc"}]


def test_filter_depth_is_the_methods() -> None:
    three = {"filters": [{"filters": [{"filters": [SIMPLE], "condition": "or"}], "condition": "and"}]}
    flt = {"filters": [{"filters": [{"filters": [{"field": "direction", "operator": "=", "value": "in"}]}]}]}
    assert filter_depth(three) == 3
    assert validate_filter(flt, method=CALLS_REPORT) is flt
    with pytest.raises(UISConfigurationError, match=r"at most 2 for get\.uploaded_calls"):
        validate_filter(three, method=UPLOADED_CALLS)
