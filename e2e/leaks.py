"""Scan every log Airflow wrote for secrets: the password, the API key and each session token the API issued."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LeakScan:
    """How much was scanned and where which secret turned up (``found`` is empty when nothing leaked)."""

    files: int
    bytes: int
    secrets: int
    found: dict[str, list[Path]]


def log_files(*roots: Path) -> list[Path]:
    """Every regular file under ``roots``."""
    return sorted(path for root in roots if root.exists() for path in root.rglob("*") if path.is_file())


def scan(files: Iterable[Path], secrets: Mapping[str, str]) -> LeakScan:
    """Look for each secret value (named by its key) in every file, as raw bytes; never echo the values."""
    needles = {name: value.encode() for name, value in secrets.items() if value}
    found: dict[str, list[Path]] = {}
    count = total = 0
    for path in files:
        data = path.read_bytes()
        count += 1
        total += len(data)
        for name, needle in needles.items():
            if needle in data:
                found.setdefault(name, []).append(path)
    return LeakScan(files=count, bytes=total, secrets=len(needles), found=found)
