"""From checked rows to requests: repeated and oversized calls refused, batches within the limits, stable request ids."""

from __future__ import annotations

import json

from tests.protocol.test_upload_rules import good_call
from uis_provider.protocol.upload_params import validate_request_prefix
from uis_provider.protocol.upload_plan import (
    MAX_CALL_BYTES,
    MAX_REQUEST_BYTES,
    PARAMS_RESERVE_BYTES,
    InvalidRow,
    ValidCall,
    call_size,
    params_size,
    plan_batches,
    request_ids,
    request_prefix,
    summarize_invalid,
    validate_rows,
)
from uis_provider.protocol.upload_rows import list_rows


def test_a_repeated_ext_id_is_invalid_naming_the_first_line() -> None:
    rows = list_rows([good_call(1), good_call(2), good_call(1, comment="again")])
    valid, invalid = validate_rows(rows)
    assert [v.line for v in valid] == [1, 2]
    assert invalid == [
        InvalidRow(3, "pbx-000001", "ext_id 'pbx-000001' repeats line 1; every call needs its own ext_id")
    ]


def test_a_call_alone_over_the_request_limit_is_invalid() -> None:
    fits = good_call(1, comment="")
    fits["comment"] = "x" * (MAX_CALL_BYTES - call_size(fits))
    too_big = dict(fits, ext_id="pbx-000002", comment=fits["comment"] + "x")
    valid, invalid = validate_rows(list_rows([fits, too_big]))
    assert [v.size for v in valid] == [MAX_CALL_BYTES]
    assert [i.line for i in invalid] == [2]
    assert f"one request holds at most {MAX_CALL_BYTES}" in invalid[0].reason
    assert plan_batches(valid)[0].size == MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES


def sized(line: int, size: int) -> ValidCall:
    return ValidCall(line, {"ext_id": f"c{line}"}, size)


def test_params_size_matches_the_json_the_api_measures() -> None:
    calls = [good_call(n, comment="Звонок " * n) for n in range(1, 6)]
    measured = len(json.dumps({"calls": calls}, ensure_ascii=False).encode("utf-8"))
    assert params_size(call_size(c) for c in calls) == measured
    assert params_size([]) == len(json.dumps({"calls": []}))
    compact = len(json.dumps({"calls": calls}, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    assert compact < measured


def test_batches_hold_at_most_batch_size_calls_in_input_order() -> None:
    calls = [sized(n, 300) for n in range(1, 121)]
    batches = plan_batches(calls)
    assert [len(b.calls) for b in batches] == [50, 50, 20]
    assert [b.number for b in batches] == [1, 2, 3]
    assert [line for b in batches for line in b.lines] == list(range(1, 121))
    assert [len(b.calls) for b in plan_batches(calls, batch_size=7)][:3] == [7, 7, 7]
    assert len(plan_batches(calls, batch_size=7)) == 18
    assert plan_batches([]) == []


def test_batches_split_exactly_at_the_byte_budget() -> None:
    budget = MAX_REQUEST_BYTES - PARAMS_RESERVE_BYTES
    first = 100_000
    # Four calls whose {"calls": [...]} JSON is exactly the budget stay together; one byte more splits.
    last = budget - params_size([first] * 3 + [0])
    exact = [sized(1, first), sized(2, first), sized(3, first), sized(4, last)]
    assert [b.size for b in plan_batches(exact)] == [budget]
    over = [*exact[:3], sized(4, last + 1)]
    assert [len(b.calls) for b in plan_batches(over)] == [3, 1]
    assert all(b.size <= budget for b in plan_batches(over))


def test_batch_points_an_api_field_at_its_input_line() -> None:
    batch = plan_batches([sized(n, 10) for n in (4, 9, 12)])[0]
    assert batch.line_of("calls[1].finish_time") == 9
    assert batch.line_of("calls[7].ext_id") is None
    assert batch.line_of("calls") is None
    assert batch.line_of(None) is None
    assert batch.describe() == "3 calls, lines 4-12"


def test_request_ids_are_stable_per_task_and_interval_and_distinct_otherwise() -> None:
    prefix = request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00")
    assert prefix == request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00")
    others = {
        request_prefix("dag", "upload", "2026-01-15T00:00:00+03:00/2026-01-16T00:00:00+03:00"),
        request_prefix("dag2", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00"),
        request_prefix("dag", "upload2", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00"),
        request_prefix("dag", "upload", "2026-01-14T00:00:00+03:00/2026-01-15T00:00:00+03:00", 3),
    }
    assert prefix not in others and len(others) == 4
    assert request_ids(prefix, 3) == [f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0003"]
    assert validate_request_prefix(prefix) == prefix


def test_summary_lists_the_first_rows_and_counts_the_rest() -> None:
    rows = [InvalidRow(n, f"e{n}" if n % 2 else None, "bad") for n in range(1, 26)]
    text = summarize_invalid(rows)
    assert text.splitlines()[0] == "  line 1 (ext_id 'e1'): bad"
    assert text.splitlines()[1] == "  line 2: bad"
    assert text.splitlines()[-1] == "  ... and 5 more"
    assert summarize_invalid(rows[:1], unit="item") == "  item 1 (ext_id 'e1'): bad"
