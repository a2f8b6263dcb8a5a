"""Fixtures of the hook tests: an emulator holding more uploaded calls than offsets reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import EMULATOR_DEFAULTS
from uis_provider.testing import UISEmulator

#: More rows than offsets reach (110 000), so a query sorted by ext_id is continued by keyset.
BIG_CALLS = 116_000


@pytest.fixture(scope="module")
def big() -> Iterator[UISEmulator]:
    """116 000 calls uploaded on 1-2 March 2026, generated once per test module."""
    api = UISEmulator(**{**EMULATOR_DEFAULTS, "calls": BIG_CALLS, "start": "2026-03-01", "days": 2, "report_calls": 0})
    api.start()
    try:
        yield api
    finally:
        api.stop()
