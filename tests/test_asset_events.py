"""The asset event of a landed window: its extra, its partition key, and which outlets get what."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Asset, AssetAlias

from uis_provider.asset_events import emit, event_extra, partition_key, validate_partition_assets
from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.windows import Window
from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

MANIFEST = {
    "uri": "s3://lake/uis/uploaded_calls/date=2026-01-04/part-0.jsonl",
    "rows": 3,
    "bytes": 1200,
    "sha256": "cd" * 32,
    "window_start": "2026-01-04T00:00:00+03:00",
    "window_end": "2026-01-05T00:00:00+03:00",
    "method": "get.uploaded_calls",
    "pending": 1,
    "final": False,
    "statuses": {"new": 1, "processed": 2},
    "columns": [],
}
MANIFEST_URI = MANIFEST["uri"] + ".manifest.json"


def test_extra_repeats_the_manifest_and_names_it() -> None:
    assert event_extra(MANIFEST, MANIFEST_URI) == {
        "window_start": "2026-01-04T00:00:00+03:00",
        "window_end": "2026-01-05T00:00:00+03:00",
        "rows": 3,
        "uri": MANIFEST["uri"],
        "bytes": 1200,
        "sha256": "cd" * 32,
        "method": "get.uploaded_calls",
        "final": False,
        "pending": 1,
        "manifest_uri": MANIFEST_URI,
    }
    report = event_extra({**MANIFEST, "method": "get.calls_report", "pending": None, "final": True}, MANIFEST_URI)
    assert "pending" not in report
    assert report["final"] is True


@pytest.mark.parametrize(
    ("start", "end", "key"),
    [
        ("2026-01-04", "2026-01-05", "2026-01-04T00:00:00"),
        ("2026-03-29T02:00:00+03:00", "2026-03-29T03:00:00+03:00", "2026-03-29T02:00:00"),
        ("2026-01-03T21:00:00+00:00", "2026-01-04T21:00:00+00:00", "2026-01-04T00:00:00"),
    ],
)
def test_partition_key_is_the_window_start_on_the_account_wall_clock(start: str, end: str, key: str) -> None:
    assert partition_key(Window.build(start, end, "Europe/Moscow")) == key


def test_partition_assets_needs_airflow_3_3() -> None:
    assert validate_partition_assets(False) is False
    with pytest.raises(UISConfigurationError, match="partition_assets must be True or False"):
        validate_partition_assets("yes")
    if AIRFLOW_V_3_3_PLUS:
        assert validate_partition_assets(True) is True
    else:
        with pytest.raises(UISConfigurationError, match=r"needs Airflow 3\.3 or later"):
            validate_partition_assets(True)


class Accessor:
    """What ``outlet_events[...]`` gives a task: ``extra``, ``add`` for aliases, ``add_partitions`` (3.3)."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.added: list[tuple[Any, dict[str, Any]]] = []
        self.partitions: list[str] = []

    def add(self, asset: Any, extra: dict[str, Any]) -> None:
        self.added.append((asset, extra))

    def add_partitions(self, key: str) -> None:
        self.partitions.append(key)


class Events:
    """``outlet_events``: one accessor per outlet, found by equality (Airflow 3.0's assets are not hashable)."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Accessor]] = []

    def __getitem__(self, key: Any) -> Accessor:
        for known, accessor in self.items:
            if known == key:
                return accessor
        self.items.append((key, Accessor()))
        return self.items[-1][1]

    def __contains__(self, key: Any) -> bool:
        return any(known == key for known, _ in self.items)


def test_assets_get_the_extra_and_aliases_get_the_object_itself() -> None:
    table, alias, other = Asset("s3://lake/uis/uploaded_calls"), AssetAlias("uis_objects"), "plain lineage"
    events = Events()
    extra = event_extra(MANIFEST, MANIFEST_URI)
    described = emit(events, [table, alias, other], extra, "2026-01-04T00:00:00")
    assert events[table].extra == extra
    assert events[table].partitions == ["2026-01-04T00:00:00"]
    [(asset, alias_extra)] = events[alias].added
    assert asset.uri == MANIFEST["uri"]
    assert alias_extra == extra
    assert events[alias].partitions == []
    assert other not in events
    assert len(described) == 2


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset references are an Airflow 3 feature")
def test_asset_references_are_outlets_too() -> None:
    ref = Asset.ref(name="uploaded_calls")
    events = Events()
    emit(events, [ref], {"uri": "file:///x", "rows": 0})
    assert events[ref].extra == {"uri": "file:///x", "rows": 0}
