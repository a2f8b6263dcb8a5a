"""The method catalog against the vendor reference it is built from, checked through the reference's own summaries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from uis_provider.protocol.catalog import catalog, method_spec, windowed_methods

REPO = Path(__file__).resolve().parents[2]
REFERENCE = (REPO / "scripts" / "catalog" / "METHODS.md").read_text(encoding="utf-8")


def test_the_catalog_and_the_data_dictionary_are_generated_from_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/catalog/build.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _summary_counts() -> dict[str, tuple[int, int, str]]:
    """Section 5 of the reference: per method its top-level columns (union), nested fields and default count."""
    section = REFERENCE.split("## 5. Column counts", 1)[1]
    counts = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("get."):
            _name, _en, _ru, union, nested, _d_en, d_ru = cells
            counts[cells[0]] = (int(union), int(nested), d_ru)
    return counts


def test_every_method_has_the_columns_the_reference_counts() -> None:
    counts = _summary_counts()
    assert set(counts) == set(catalog())
    for name, (union, nested, default) in counts.items():
        spec = catalog()[name]
        assert len(spec.columns) == union, name
        if name != "get.chat_messages_report":  # its resource fields are named only in the text: no own rows
            assert sum(len(column.children) for column in spec.columns) == nested, name
        if default != "n/a":
            assert len(spec.default_columns) == int(default), name
        else:
            assert spec.default_columns == spec.column_names, name


def _sortable_lists() -> dict[str, list[str]]:
    """Section 3's "Sortable columns per method" list, a second reading of the tables' S column."""
    section = REFERENCE.split("Sortable columns per method", 1)[1].split("## 4.", 1)[0]
    lists = {}
    for line in section.splitlines():
        match = re.match(r"- (get\.\w+): (.*)", line)
        if match:
            lists[match.group(1)] = re.findall(r"`(\w+)`", match.group(2))
    return lists


def test_the_sortable_columns_are_the_references_list() -> None:
    lists = _sortable_lists()
    legs = catalog()["get.financial_call_legs_report"]
    uploaded = catalog()["get.uploaded_calls"]
    lists["get.financial_call_legs_report"] = list(legs.column_names)  # "all 13 columns"
    lists["get.uploaded_calls"] = [
        n for n in uploaded.column_names if n not in ("upload_time", "callback", "tags", "records")
    ]
    assert set(lists) == {name for name in catalog() if name != "get.account"}
    for name, sortable in lists.items():
        assert sorted(catalog()[name].sortable) == sorted(sortable), name


@pytest.mark.parametrize(
    ("method", "column", "flags"),
    [
        ("get.calls_report", "id", (True, False, True)),
        ("get.calls_report", "start_time", (False, True, True)),
        ("get.calls_report", "finish_time", (False, False, True)),
        ("get.calls_report", "scenario_operations", (True, False, False)),
        ("get.call_legs_report", "called_phone_number", (True, True, True)),  # RU only: accepted
        ("get.chats_report", "visitor_device", (True, True, False)),  # EN blank, RU/NF yes: the reading that allows
        ("get.goals_report", "id", (True, False, False)),
        ("get.offline_messages_report", "date_time", (False, False, False)),
        ("get.uploaded_calls", "upload_time", (False, False, False)),
        ("get.uploaded_calls", "ext_id", (True, True, True)),
        ("get.customer_users", "name", (True, True, True)),
    ],
)
def test_flags_of_columns_the_reference_singles_out(method: str, column: str, flags: tuple[bool, bool, bool]) -> None:
    spec = catalog()[method].by_name[column]
    assert (spec.filterable, spec.sortable, spec.default) == flags


def test_windows_parameters_and_values() -> None:
    assert windowed_methods() == (
        "get.calls_report",
        "get.call_legs_report",
        "get.communications_report",
        "get.chats_report",
        "get.chat_messages_report",
        "get.offline_messages_report",
        "get.goals_report",
        "get.financial_call_legs_report",
        "get.uploaded_calls",
    )
    chat_messages = catalog()["get.chat_messages_report"]
    assert chat_messages.window is not None and chat_messages.window.max_days == 30
    assert {"chat_id", "chat_ids"} <= set(chat_messages.param_names)
    uploaded = catalog()["get.uploaded_calls"]
    assert uploaded.window is not None and uploaded.window.field == "upload_time" and uploaded.window.max_days is None
    assert uploaded.paging_key == "ext_id"
    assert "not_processed" in uploaded.by_name["status"].values
    assert "include_ongoing_calls" in catalog()["get.calls_report"].param_names
    assert "user_id" not in catalog()["get.customer_users"].param_names
    customer_users = catalog()["get.customer_users"]
    assert customer_users.column_names == ("id", "login", "description", "name", "customer_id")
    assert catalog()["get.calls_report"].paging_key is None
    reasons = catalog()["get.calls_report"].by_name["finish_reason"].values
    assert {"caller_busy", "subscriber_busy"} <= set(reasons)  # EN and RU spellings both accepted
    assert len(reasons) == 100
    assert method_spec("get.nothing") is None


def test_parquet_kinds_follow_the_vendor_types() -> None:
    calls = catalog()["get.calls_report"].kinds()
    assert calls["id"] == "int64" and calls["sale_cost"] == "float64" and calls["is_lost"] == "bool"
    assert calls["tags"] == "json" and calls["start_time"] == "string" and calls["cpn_country_id"] == "string"
    chats = catalog()["get.chats_report"].kinds()
    assert chats["duration"] == "string"  # seconds, but typed string on the page
    assert chats["visitor_phone_number"] == "string"  # typed number, but a phone number
