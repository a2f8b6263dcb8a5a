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
from uis_provider.protocol.methods import UPLOADED_CALLS

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
        ({"field": "nope", "operator": "=", "value": "x"}, "not a field of get.uploaded_calls"),
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
