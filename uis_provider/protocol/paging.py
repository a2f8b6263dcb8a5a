"""Offset paging as the API allows it: ``limit`` <= 10 000, ``offset`` <= 100 000, pages by ``total_items``."""

from __future__ import annotations

import math
from typing import Any

from uis_provider.exceptions import UISConfigurationError, UISError
from uis_provider.protocol.jsonrpc import result_metadata

MAX_LIMIT = 10_000
MAX_OFFSET = 100_000
DEFAULT_PAGE_SIZE = MAX_LIMIT


def validate_page_size(page_size: object, *, parameter: str = "page_size") -> int:
    """Return ``page_size`` as an int in 1..10 000, or fail naming the parameter and the allowed range."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise UISConfigurationError(
            f"{parameter} must be a whole number from 1 to {MAX_LIMIT} (the API's largest page), got {page_size!r}"
        )
    if not 1 <= page_size <= MAX_LIMIT:
        raise UISConfigurationError(
            f"{parameter}={page_size} is out of range: the API returns 1 to {MAX_LIMIT} records per call; "
            f"use {MAX_LIMIT} for the fewest calls"
        )
    return page_size


def reachable_rows(page_size: int) -> int:
    """How many rows one query can page through: the last page must start at an offset <= 100 000."""
    return (MAX_OFFSET // page_size) * page_size + page_size


def is_pageable(total_items: int, page_size: int) -> bool:
    """True when every row of a query with ``total_items`` rows can be reached by offset paging."""
    return total_items <= reachable_rows(page_size)


def remaining_offsets(total_items: int, page_size: int) -> range:
    """Offsets of the pages after the first, so that pages cover ``total_items`` with no extra empty page."""
    pages = math.ceil(total_items / page_size) if total_items > 0 else 1
    return range(page_size, pages * page_size, page_size)


def check_page_length(count: int, offset: int, total_items: int, page_size: int, method: str) -> None:
    """Fail unless a page at ``offset`` holds exactly the records ``total_items`` and ``limit`` promise.

    A short page would otherwise lose records silently (a null ``data``, or a server capping ``limit``).
    """
    expected = max(0, min(page_size, total_items - offset))
    if count != expected:
        raise UISError(
            f"the page at offset {offset} holds {count} records, but total_items={total_items} and "
            f"limit={page_size} promise {expected}; the answer is inconsistent, nothing was written from it",
            method=method,
        )


def page_count(total_items: int, page_size: int) -> int:
    """The fewest calls that return ``total_items`` rows (an empty query still takes one call)."""
    return max(1, math.ceil(total_items / page_size))


def total_items(result: dict[str, Any], method: str) -> int:
    """The answer's ``metadata.total_items`` as an int; an answer without a usable one is broken."""
    total = result_metadata(result).get("total_items")
    if isinstance(total, bool) or not isinstance(total, (int, str)):
        raise UISError("the answer has no metadata.total_items to page by", method=method)
    try:
        count = int(total)
    except ValueError:
        raise UISError(f"metadata.total_items is not a number: {total!r}", method=method) from None
    if count < 0:
        raise UISError(f"metadata.total_items is negative: {total!r}", method=method)
    return count
