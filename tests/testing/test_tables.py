"""Tests of the emulator's tables as a whole: seeded like the uploads, sized by the volume knobs."""

from __future__ import annotations

import pytest

from tests.testing.conftest import make
from uis_provider.protocol.catalog import catalog


def test_every_method_is_seeded() -> None:
    one, two, other = make(seed=5), make(seed=5), make(seed=6)
    for method in catalog():
        assert one.rows(method) == two.rows(method), method
    generated = [name for name in catalog() if name not in ("get.customer_users", "get.reports_list", "get.account")]
    assert all(one.rows(method) != other.rows(method) for method in generated)


def test_the_default_emulator_has_a_few_of_everything_each_day() -> None:
    api = make()
    for method, spec in catalog().items():
        if spec.window is None:
            continue
        for day, next_day in (("2026-01-01", "2026-01-02"), ("2026-01-04", "2026-01-05")):
            assert len(api.rows(method, day, next_day)) >= 3, (method, day)


@pytest.mark.parametrize("knob", ["chats_per_day", "goals_per_day", "offline_messages_per_day"])
def test_a_negative_volume_is_refused(knob: str) -> None:
    with pytest.raises(ValueError, match="per day must be >= 0"):
        make(**{knob: -1})


def test_rows_names_a_documented_method() -> None:
    with pytest.raises(ValueError, match="not a documented read method"):
        make().rows("get.calls")
