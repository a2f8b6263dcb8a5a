"""What a day of N records costs in API calls, per windowed method, against the fewest possible.

Methods with a sortable unique key (``get.uploaded_calls``, ``get.financial_call_legs_report``) are paged by offsets;
the others by time (:mod:`uis_provider.protocol.time_pages`): sorted by time where the time field can be sorted,
one page per part where it cannot (and wherever the user sets a sort). For each method and day size this lands one
day from the emulator (its own thread, loopback HTTP) with the extract engine at ``page_size`` 10 000, counts the
calls of the method in the emulator's log and checks the output holds every record of the day once. Results go
to ``PAGING.md`` and ``paging.json`` beside this file.

    python bench/paging.py            # about 10 minutes on 2 cores
    python bench/paging.py --quick    # small days, results in a temporary folder: a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
API_KEY = "bench-api-key-0f9d2c"
TIMEZONE = "Europe/Moscow"
DAY_FROM, DAY_TILL = "2026-01-04", "2026-01-05"
PAGE_SIZE = 10_000
SIZES = (8_000, 25_000, 100_000)
QUICK_SIZES = (800, 2_500)
QUICK_PAGE_SIZE = 1_000


def emulator_knobs(method: str, size: int) -> dict[str, Any]:
    """Emulator volumes that put about ``size`` records of ``method`` in the day."""
    none = {"calls": 0, "report_calls": 0, "chats_per_day": 0, "goals_per_day": 0, "offline_messages_per_day": 0}
    per_method = {
        "get.uploaded_calls": {"calls": size},
        "get.calls_report": {"report_calls": size},
        "get.call_legs_report": {"report_calls": size * 10 // 23},
        "get.financial_call_legs_report": {"report_calls": size * 10 // 23},
        "get.communications_report": {
            "report_calls": size // 2,
            "chats_per_day": size // 4,
            "goals_per_day": size // 4,
        },
        "get.chats_report": {"chats_per_day": size},
        "get.chat_messages_report": {"chats_per_day": size // 10},
        "get.offline_messages_report": {"offline_messages_per_day": size},
        "get.goals_report": {"goals_per_day": size},
    }
    return {**none, **per_method[method]}


@dataclass
class Case:
    """One method on one day: records, calls made, the fewest possible, and how it was paged."""

    method: str
    paged_by: str
    records: int
    calls: int
    minimum: int
    seconds: float
    exact: bool

    @property
    def ratio(self) -> float:
        return self.calls / self.minimum


def paged_by(method: str, sort: list[dict[str, str]] | None) -> str:
    from uis_provider.protocol.methods import report_method

    spec = report_method(method)
    assert spec is not None
    if spec.key_field is not None:
        return f"offset, sorted by {spec.key_field}"
    if not sort and spec.can_sort(spec.time_field):
        return f"time ({spec.time_field}), sorted"
    return "time, one page per part" + (" (user sort)" if sort else "")


def run_case(method: str, size: int, page_size: int, workdir: Path, sort: list[dict[str, str]] | None = None) -> Case:
    """Land one day of ``method`` and count its calls."""
    from airflow.providers.common.compat.sdk import Connection

    from uis_provider.extract import ReportQuery, extract_window
    from uis_provider.hooks.uis import UISHook
    from uis_provider.protocol.windows import Window
    from uis_provider.testing import UISEmulator

    knobs = emulator_knobs(method, size)
    with UISEmulator(
        seed=7, start=DAY_FROM, days=1, api_keys={API_KEY: "valid"}, minute_limit=10**6, day_limit=10**7, **knobs
    ) as api:
        os.environ["AIRFLOW_CONN_UIS_BENCH"] = Connection(
            conn_id="uis_bench",
            conn_type="uis",
            host=api.url,
            password=API_KEY,
            extra=json.dumps({"timezone": TIMEZONE}),
        ).as_json()
        truth = api.rows(method, DAY_FROM, DAY_TILL)
        api.reset_log()
        out = workdir / f"{method}-{size}.jsonl"
        started = time.perf_counter()
        with UISHook("uis_bench") as hook:
            query = ReportQuery.build(method, page_size=page_size, sort=sort)
            result = extract_window(hook, Window.build(DAY_FROM, DAY_TILL, TIMEZONE), query, str(out))
        seconds = time.perf_counter() - started
        calls = api.count(method)
    spec = query.method
    unique = spec.key_field or spec.unique_field
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    exact = result.records == len(truth) and (
        unique not in spec.columns or sorted(r[unique] for r in written) == sorted(r[unique] for r in truth)
    )
    out.unlink()
    return Case(
        method=method,
        paged_by=paged_by(method, sort),
        records=len(truth),
        calls=calls,
        minimum=max(1, math.ceil(len(truth) / page_size)),
        seconds=round(seconds, 2),
        exact=exact,
    )


def markdown(cases: list[Case], page_size: int, took: float) -> str:
    lines = [
        "# Paging cost per method",
        "",
        f"Generated by `bench/paging.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in "
        f"{took / 60:.1f} minutes, page_size {page_size:,}. Each row lands one day of the method from the emulator "
        "(loopback HTTP) with the extract engine; calls are the method's calls in the emulator's log (the "
        "`get.account` of the hook is not counted: the connection has a time zone). *minimum* is "
        f"`ceil(records / {page_size:,})`, what a client that could page without a sortable key would need.",
        "",
        "| method | paged by | records | calls | minimum | calls / minimum | exact | seconds |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for case in cases:
        lines.append(
            f"| `{case.method}` | {case.paged_by} | {case.records:,} | {case.calls} | {case.minimum} | "
            f"{case.ratio:.2f} | {'yes' if case.exact else '**no**'} | {case.seconds:.1f} |"
        )
    lines += [
        "",
        "- **offset, sorted by the key**: the fewest calls; pages are fetched ahead.",
        "- **time, sorted**: each call a whole page sorted by time from `offset` 0; the records of a page's last "
        "second are read again by the next call, so a call yields a little less than a page.",
        "- **time, one page per part**: a part that holds more than a page costs one call whose answer is dropped, "
        "then is split by time into pieces sized from its `total_items`; uneven traffic (business hours) makes some "
        "pieces split again.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small days, results in a temporary folder")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    page_size = QUICK_PAGE_SIZE if args.quick else PAGE_SIZE
    out_dir = Path(tempfile.mkdtemp(prefix="uis-paging-")) if args.quick else HERE
    home = Path(tempfile.mkdtemp(prefix="uis-paging-home-"))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from uis_provider.protocol.catalog import windowed_methods

    started = time.perf_counter()
    cases: list[Case] = []
    for method in windowed_methods():
        for size in sizes:
            case = run_case(method, size, page_size, home)
            cases.append(case)
            print(
                f"{method:34} {case.paged_by:30} {case.records:>8,} records {case.calls:>4} calls "
                f"(minimum {case.minimum}) exact={case.exact}",
                flush=True,
            )
    for size in sizes:
        case = run_case("get.calls_report", size, page_size, home, sort=[{"field": "finish_reason", "order": "asc"}])
        cases.append(case)
        print(
            f"get.calls_report (sorted by finish_reason) {case.records:>8,} records {case.calls:>4} calls", flush=True
        )
    took = time.perf_counter() - started
    (out_dir / "PAGING.md").write_text(markdown(cases, page_size, took), encoding="utf-8")
    (out_dir / "paging.json").write_text(
        json.dumps({"page_size": page_size, "cases": [asdict(case) for case in cases]}, indent=1) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {out_dir / 'PAGING.md'}")
    return 0 if all(case.exact for case in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
