"""The "Use what landed" page computes what it says: DuckDB reads the landed days (JSON lines and Parquet) as the
emulator's records, the manifests as the landed days, and the warehouse recipe loads a window once however often."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.docs.test_examples import REPO, parse_page
from uis_provider.testing import UISEmulator

PAGE = REPO / "docs" / "downstream.md"


def test_duckdb_queries_and_the_idempotent_load_give_the_emulators_truth(
    uis_conn: str, emulator: UISEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("duckdb")
    monkeypatch.chdir(tmp_path)
    document = parse_page(PAGE)
    for example in document.examples():
        example.evaluate()
    page = document.namespace

    truth: Counter[tuple[date, str]] = Counter()
    for day in page["DAYS"]:
        following = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        truth.update((date.fromisoformat(day), r["status"]) for r in emulator.records(day, following))
    expected = sorted((day, status, calls) for (day, status), calls in truth.items())
    assert page["by_day_jsonl"] == expected
    assert page["by_day_parquet"] == expected
    assert len(expected) > len(page["DAYS"])

    per_day = Counter(day.isoformat() for day, _status in truth.elements())
    moscow = ZoneInfo("Europe/Moscow")
    landed = page["landed_days"]
    assert [(start.astimezone(moscow).date().isoformat(), rows, final) for start, rows, _, final, _ in landed] == [
        (day, per_day[day], True) for day in page["DAYS"]
    ]

    day_rows = per_day["2026-01-05"]
    assert page["first_load"] == page["second_load"] == page["warehouse_rows"] == day_rows > 0
