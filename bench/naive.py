"""The extractor a user would write by hand: a ``requests`` loop over limit/offset, every record kept in a list,
the JSON-lines file written at the end.

It asks the same questions as the provider (page size 10 000, the same ``fields`` and ``sort``, the same window)
and writes the same records, so the benchmark compares the client code only. A window holding more rows than
offsets reach (110 000) is paged day by day, the simplest split a user would reach for after reading the docs.

    python bench/naive.py --url URL --api-key KEY --date-from 2026-01-01 --date-till 2026-01-31 --out calls.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import requests

from uis_provider.protocol.methods import UPLOADED_CALLS

PAGE_SIZE = 10_000
REACHABLE_ROWS = 110_000
FIELDS = list(UPLOADED_CALLS.columns)  # the same columns the operator asks for (its default)
SORT = [{"field": "ext_id", "order": "asc"}]
API_TIME = "%Y-%m-%d %H:%M:%S"


class Extractor:
    """One keep-alive HTTP session and a count of the calls made."""

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self.http = requests.Session()
        self.calls = 0

    def page(self, date_from: datetime, date_till: datetime, offset: int) -> dict[str, Any]:
        """One page of ``get.uploaded_calls``; ``date_till`` is sent one second early (the API reads it inclusive)."""
        params = {
            "access_token": self.api_key,
            "date_from": date_from.strftime(API_TIME),
            "date_till": (date_till - timedelta(seconds=1)).strftime(API_TIME),
            "limit": PAGE_SIZE,
            "offset": offset,
            "fields": FIELDS,
            "sort": SORT,
        }
        self.calls += 1
        answer = self.http.post(
            self.url, json={"jsonrpc": "2.0", "id": self.calls, "method": "get.uploaded_calls", "params": params}
        ).json()
        if "error" in answer:
            raise SystemExit(f"UIS error: {answer['error']['message']}")
        return answer["result"]

    def window(self, date_from: datetime, date_till: datetime, first: dict[str, Any] | None = None) -> list[dict]:
        """Every record of a window that offsets can reach, page after page."""
        result = first or self.page(date_from, date_till, 0)
        records = list(result["data"])
        total = result["metadata"]["total_items"]
        offset = PAGE_SIZE
        while offset < total:
            records.extend(self.page(date_from, date_till, offset)["data"])
            offset += PAGE_SIZE
        return records

    def extract(self, date_from: datetime, date_till: datetime) -> list[dict]:
        """The whole window; day by day when its first page says it holds more than offsets reach."""
        first = self.page(date_from, date_till, 0)
        if first["metadata"]["total_items"] <= REACHABLE_ROWS:
            return self.window(date_from, date_till, first)
        records: list[dict] = []
        day = date_from
        while day < date_till:
            records.extend(self.window(day, min(day + timedelta(days=1), date_till)))
            day += timedelta(days=1)
        return records


def main(argv: list[str] | None = None) -> int:
    """Extract the window to JSON lines and print ``{"seconds", "cpu_seconds", "records", "calls"}`` as one JSON line
    (``cpu_seconds``: the process's CPU time over the same span)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--date-from", required=True, type=datetime.fromisoformat)
    parser.add_argument("--date-till", required=True, type=datetime.fromisoformat)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cpu_started = time.process_time()
    extractor = Extractor(args.url, args.api_key)
    records = extractor.extract(args.date_from, args.date_till)
    with open(args.out, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    print(
        json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "records": len(records), "calls": extractor.calls})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
