"""Lookback: which earlier daily windows to land again, read from their manifests alone (no API call)."""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pytest

from uis_provider.exceptions import UISConfigurationError
from uis_provider.lookback import lookback_starts, unsettled_windows

TZ = "Europe/Moscow"


def land(root: Path, day: str, final: bool | None) -> None:
    path = root / f"date={day}" / "part-0.jsonl.manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"final": final, "pending": 2 if final is False else 0}))


def test_starts_are_the_previous_local_midnights_newest_first() -> None:
    starts = lookback_starts("2026-03-02T00:00:00+03:00", 3, TZ)
    assert [s.isoformat() for s in starts] == [
        "2026-03-01T00:00:00+03:00",
        "2026-02-28T00:00:00+03:00",
        "2026-02-27T00:00:00+03:00",
    ]
    assert lookback_starts(pendulum.datetime(2026, 3, 1, 21, tz="UTC"), 1, TZ)[0].isoformat() == (
        "2026-03-01T00:00:00+03:00"
    )
    berlin = lookback_starts("2026-03-30", 2, "Europe/Berlin")  # across the spring-forward night
    assert [s.isoformat() for s in berlin] == ["2026-03-29T00:00:00+01:00", "2026-03-28T00:00:00+01:00"]


def test_only_windows_whose_manifest_says_not_final_come_back(tmp_path: Path) -> None:
    land(tmp_path, "2026-01-09", final=True)
    land(tmp_path, "2026-01-08", final=False)
    land(tmp_path, "2026-01-07", final=None)  # unknown: the status column was not written
    # 2026-01-06 has not landed at all
    land(tmp_path, "2026-01-05", final=False)
    pattern = f"file://{tmp_path}/date={{start:%Y-%m-%d}}/part-0.jsonl"
    found = unsettled_windows(pattern, current_start="2026-01-10", days=5, timezone=TZ)
    assert found == [
        {
            "date_from": "2026-01-08T00:00:00+03:00",
            "date_till": "2026-01-09T00:00:00+03:00",
            "output_path": f"file://{tmp_path}/date=2026-01-08/part-0.jsonl",
        },
        {
            "date_from": "2026-01-05T00:00:00+03:00",
            "date_till": "2026-01-06T00:00:00+03:00",
            "output_path": f"file://{tmp_path}/date=2026-01-05/part-0.jsonl",
        },
    ]
    assert unsettled_windows(pattern, current_start="2026-01-10", days=1, timezone=TZ) == []


@pytest.mark.parametrize(
    ("pattern", "days", "needle"),
    [
        ("/data/uploaded_calls/part-0.jsonl", 3, "does not name the window"),
        ("/data/date={start:%Y-%m-%d}/{day}.jsonl", 3, "must name the window with {start} and/or {end} only"),
        ("/data/date={start:%Y-%m-%d}/part-0.jsonl", 0, "days must be a positive whole number"),
    ],
)
def test_bad_arguments_are_refused_by_name(pattern: str, days: int, needle: str) -> None:
    with pytest.raises(UISConfigurationError, match=needle.replace("{", r"\{").replace("}", r"\}")):
        unsettled_windows(pattern, current_start="2026-01-10", days=days, timezone=TZ)
