"""Compare what the DAGs landed with the emulator's ground truth: every call of a day exactly once, as the API has it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from stack import E2EFailure

from uis_provider.testing import UISEmulator


def day_window(day: date) -> tuple[str, str]:
    """The half-open window of one local day as the emulator takes it."""
    start = datetime.combine(day, datetime.min.time())
    return start.strftime("%Y-%m-%d %H:%M:%S"), (start + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The records of one JSON-lines output file."""
    if not path.is_file():
        raise E2EFailure(f"expected output {path} does not exist")
    return parse_rows(path.read_bytes())


def parse_rows(body: bytes) -> list[dict[str, Any]]:
    """The records of one JSON-lines body."""
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


def check_day(path: Path, api: UISEmulator, day: date) -> list[str]:
    """Fail unless ``path`` holds exactly the emulator's records uploaded on ``day``, each once; their ext_ids."""
    return check_rows(str(path), read_rows(path), api, day)


def check_rows(path: str, rows: list[dict[str, Any]], api: UISEmulator, day: date) -> list[str]:
    """Fail unless ``rows`` (read from ``path``) are exactly the emulator's records of ``day``, each once; their
    ext_ids."""
    truth = api.records(*day_window(day))
    if not truth:
        raise E2EFailure(f"the emulator has no calls on {day}: the check would prove nothing")
    ids = [row["ext_id"] for row in rows]
    duplicates = sorted(ext_id for ext_id, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise E2EFailure(f"{path} holds {len(duplicates)} calls more than once, e.g. {duplicates[:3]}")
    expected = {record["ext_id"]: record for record in truth}
    missing = sorted(set(expected) - set(ids))
    extra = sorted(set(ids) - set(expected))
    if missing or extra:
        raise E2EFailure(
            f"{path}: {len(rows)} calls, the emulator has {len(truth)} on {day}; "
            f"missing {missing[:3]} ({len(missing)}), not of that day {extra[:3]} ({len(extra)})"
        )
    differing = [row["ext_id"] for row in rows if row != expected[row["ext_id"]]]
    if differing:
        raise E2EFailure(f"{path}: {len(differing)} records differ from the API's, e.g. {differing[:3]}")
    return ids
