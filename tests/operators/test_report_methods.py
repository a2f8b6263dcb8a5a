"""Every windowed method of the catalog through ``UISReportToStorageOperator``, against the emulator that refuses
what the reference refuses: multi-page windows land exactly once, every documented column is accepted, the rest is
refused before any call, and parquet days read back as one dataset."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest

from tests.conftest import conn_json
from uis_provider.exceptions import UISConfigurationError
from uis_provider.operators.report import UISReportToStorageOperator
from uis_provider.protocol.catalog import catalog, windowed_methods
from uis_provider.protocol.methods import report_method
from uis_provider.testing import UISEmulator

TZ = "Europe/Moscow"
#: Enough of every table for a two-day window to take several pages of PAGE_SIZE.
VOLUMES = {"chats_per_day": 30, "goals_per_day": 30, "offline_messages_per_day": 30}
PAGE_SIZE = 20


@pytest.fixture
def busy_emulator(make_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> UISEmulator:
    """The test emulator with more chats, goals and offline messages a day, as ``uis_default``."""
    api = make_emulator(**VOLUMES)
    monkeypatch.setenv("AIRFLOW_CONN_UIS_DEFAULT", conn_json(api.url))
    return api


def window(first_day: int, days: int) -> dict[str, Any]:
    start = pendulum.datetime(2026, 1, first_day, tz=TZ)
    return {
        "data_interval_start": start.in_timezone("UTC"),
        "data_interval_end": start.add(days=days).in_timezone("UTC"),
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def engine_order(method: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order the engine promises inside one part: by the sortable key, else by time then the unique column."""
    spec = report_method(method)
    assert spec is not None
    if spec.key_field is not None:
        return sorted(rows, key=lambda r: r[spec.key_field])
    return sorted(rows, key=lambda r: (r[spec.time_field], r[spec.unique_field]))


def sent_sorts(api: UISEmulator, method: str) -> list[Any]:
    return [entry["params"].get("sort") for entry in api.requests if entry["method"] == method]


@pytest.mark.parametrize("method", windowed_methods())
def test_a_multi_page_window_lands_exactly_once_with_the_default_columns(
    method: str, busy_emulator: UISEmulator, tmp_path: Path
) -> None:
    spec = report_method(method)
    assert spec is not None
    busy_emulator.reset_log()
    out = tmp_path / "out.jsonl"
    op = UISReportToStorageOperator(task_id="x", method=method, output_path=str(out), page_size=PAGE_SIZE)
    result = op.execute(window(4, 2))
    truth = busy_emulator.rows(method, "2026-01-04", "2026-01-06")
    assert len(truth) > 2 * PAGE_SIZE, "the window must take several pages"
    got = read_jsonl(out)
    unique = spec.key_field or spec.unique_field
    assert Counter(r[unique] for r in truth).most_common(1)[0][1] == 1, "the emulator's rows are unique"
    expected = [{c: r[c] for c in spec.columns} for r in engine_order(method, truth)]
    if spec.key_field is None and unique not in spec.columns:
        # the unique column is asked only to order ties: compare in the time order, ties aside
        assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, expected))
    else:
        assert got == expected
    assert result["records"] == len(truth)
    assert all(list(r) == list(spec.columns) for r in got)
    errors = [entry for entry in busy_emulator.requests if entry["error"]]
    assert errors == []
    calls = busy_emulator.count(method)
    minimum = math.ceil(len(truth) / PAGE_SIZE)
    sorts = sent_sorts(busy_emulator, method)
    if spec.key_field is not None:
        assert calls == minimum
        assert all(sort == [{"field": spec.key_field, "order": "asc"}] for sort in sorts)
    elif spec.can_sort(spec.time_field):
        assert minimum <= calls <= minimum + 2
        assert all(sort == [{"field": spec.time_field, "order": "asc"}] for sort in sorts)
    else:
        assert calls > minimum  # whole parts: the window was split, and each split costs a call
        assert all(sort is None for sort in sorts)


@pytest.mark.parametrize("method", windowed_methods())
def test_every_documented_column_lands(method: str, busy_emulator: UISEmulator, tmp_path: Path) -> None:
    columns = list(catalog()[method].column_names)
    out = tmp_path / "all.jsonl"
    op = UISReportToStorageOperator(
        task_id="x", method=method, output_path=str(out), fields=columns, date_from="2026-01-04", date_till="2026-01-05"
    )
    op.execute({})
    got = read_jsonl(out)
    truth = busy_emulator.rows(method, "2026-01-04", "2026-01-05")
    assert len(got) == len(truth) > 0
    assert all(list(r) == columns for r in got)
    spec = report_method(method)
    assert spec is not None
    unique = spec.key_field or spec.unique_field
    assert {r[unique]: r for r in got} == {r[unique]: {c: r[c] for c in columns} for r in truth}


def _refused(method: str) -> list[dict[str, Any]]:
    """For a method: an undocumented column in fields, a filter on a non-filterable column, a sort on a
    non-sortable one (where the method has such columns)."""
    spec = catalog()[method]
    cases: list[dict[str, Any]] = [{"fields": [spec.column_names[0], "no_such_column"]}]
    not_filterable = [c.name for c in spec.columns if not c.filterable]
    not_sortable = [c.name for c in spec.columns if not c.sortable]
    if not_filterable:
        cases.append({"filter": {"field": not_filterable[0], "operator": "=", "value": "x"}})
    if not_sortable:
        cases.append({"sort": [{"field": not_sortable[0], "order": "asc"}]})
    return cases


@pytest.mark.parametrize(
    ("method", "kwargs"), [(method, kwargs) for method in windowed_methods() for kwargs in _refused(method)]
)
def test_what_the_reference_does_not_allow_is_refused_before_any_call(
    method: str, kwargs: dict[str, Any], busy_emulator: UISEmulator, tmp_path: Path
) -> None:
    busy_emulator.reset_log()
    out = tmp_path / "x.jsonl"
    parameter = next(iter(kwargs))
    op = UISReportToStorageOperator(task_id="x", method=method, output_path=str(out), **kwargs)
    with pytest.raises(UISConfigurationError) as caught:
        op.execute(window(4, 1))
    message = str(caught.value)
    assert parameter in message
    assert ("columns: " in message) or ("its columns" in message)
    assert busy_emulator.count() == 0
    assert not out.exists()


def test_parquet_days_written_apart_read_back_as_one_dataset(busy_emulator: UISEmulator, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.dataset as ds

    columns = list(catalog()["get.calls_report"].column_names)
    days = {
        day: busy_emulator.rows("get.calls_report", f"2026-01-{day:02d}", f"2026-01-{day + 1:02d}") for day in (4, 5, 6)
    }
    null_somewhere = [
        c
        for c in columns
        if any(all(r[c] is None for r in rows) for rows in days.values())
        and any(r[c] is not None for rows in days.values() for r in rows)
    ]
    assert null_somewhere, "the test needs a column that is null all day in one file and set in another"
    for day in (4, 5, 6):
        path = tmp_path / "calls" / f"date=2026-01-{day:02d}" / "part-0.parquet"
        op = UISReportToStorageOperator(
            task_id="x", method="get.calls_report", output_path=str(path), fields=columns, file_format="parquet"
        )
        op.execute(window(day, 1))
    schemas = {str(pa.parquet.read_schema(path)) for path in sorted((tmp_path / "calls").glob("date=*/part-0.parquet"))}
    assert len(schemas) == 1, "one schema for every day"
    # the manifests lie beside the data: read the parquet files by name, as the docs' recipes do
    files = sorted(str(path) for path in (tmp_path / "calls").glob("date=*/*.parquet"))
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(tmp_path / "calls"))
    table = dataset.to_table()
    truth = busy_emulator.rows("get.calls_report", "2026-01-04", "2026-01-07")
    assert table.num_rows == len(truth)
    assert sorted(table.column("id").to_pylist()) == sorted(r["id"] for r in truth)
    # a column that is null in some day has the same type as where it is set
    assert str(table.schema.field("sale_cost").type) == "double"
    duckdb = pytest.importorskip("duckdb")
    glob = str(tmp_path / "calls" / "*" / "*.parquet")
    [(count, days, costs)] = duckdb.sql(
        f"select count(*), count(distinct date), sum(sale_cost) from read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    assert (count, days) == (len(truth), 3)
    assert costs == pytest.approx(sum(r["sale_cost"] or 0 for r in truth))
