"""Benchmark many day-tasks sharing one account's minute budget: wall time against the budget's floor.

For K = 4, 16 and 64 it starts the UIS emulator in its own process with K days of 3 000 uploaded calls each and a
minute budget of B = 12 points per 4-second window (a shortened minute), then K day-tasks (``bench/day_task.py``,
the operator's extraction path, page size 500), each in its own process. Once every task has done its imports it
starts them all together, as a backfill's first wave starts. It reports the wall time from the first task's start to
the last one's end against the floor (the minimum points / B, in budget windows), the calls the minute budget
refused against that minimum, and the tasks that failed; it checks that the outputs hold every call exactly once.
Figures go to ``BUDGET.md`` and ``budget.json`` beside this file.

    python bench/budget.py               # 4, 16 and 64 tasks, about 5 minutes on 2 cores
    python bench/budget.py --tasks 16    # one wave size, results in a temporary folder
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
from run import CONN_ID, Emulator, extractor_env  # the same emulator and task environment

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
START = "2026-01-01"
CALLS_PER_DAY = 3000
PAGE_SIZE = 500
#: The shortened minute: B points per window of this many seconds.
BUDGET_POINTS = 12
BUDGET_WINDOW = 4.0
WAVES = (4, 16, 64)
#: The issue's targets (at 16 tasks; reported for every wave).
TARGET_FAILED = 0
TARGET_REFUSED_SHARE = 0.25
TARGET_WALL_RATIO = 1.5
EXT_ID = re.compile(r'"ext_id":"([^"]*)"')


def run_wave(tasks: int, workdir: Path, logs: Path | None = None) -> dict[str, Any]:
    """K day-tasks in separate processes against one emulator, started together; their outcomes and checks."""
    emulator = Emulator(
        [
            *("--calls", str(CALLS_PER_DAY * tasks), "--days", str(tasks), "--start", START),
            *("--minute-limit", str(BUDGET_POINTS), "--minute-window", str(BUDGET_WINDOW)),
        ]
    )
    processes: list[subprocess.Popen[str]] = []
    try:
        env = extractor_env(emulator.url, workdir / "airflow")
        days = [pendulum.parse(START).add(days=index).to_date_string() for index in range(tasks)]
        for day in days:
            command = [PYTHON, "bench/day_task.py", "--conn-id", CONN_ID, "--day", day]
            command += ["--page-size", str(PAGE_SIZE), "--out", str(workdir / f"{day}.jsonl")]
            log = (workdir / f"{day}.log").open("w")
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
            log.close()
        for process in processes:  # every task has done its imports and built its query
            line = process.stdout.readline() if process.stdout else ""
            if line.strip() != "ready":
                raise RuntimeError(f"a day-task did not get ready: {line!r}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = []
        for process in processes:
            out, _ = process.communicate(timeout=1800)
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        emulator.stop()
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            for log_file in workdir.glob("*.log"):
                shutil.copy(log_file, logs / f"{tasks}-{log_file.name}")
    return figures(tasks, outcomes, workdir)


def figures(tasks: int, outcomes: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """The wave's figures: wall vs floor, refusals vs minimum, failures, and the output checks."""
    minimum = sum(max(1, math.ceil(outcome["records"] / PAGE_SIZE)) for outcome in outcomes if outcome["ok"])
    failed = [outcome for outcome in outcomes if not outcome["ok"]]
    wall = max(outcome["end"] for outcome in outcomes) - min(outcome["start"] for outcome in outcomes)
    floor_windows = minimum / BUDGET_POINTS
    floor = floor_windows * BUDGET_WINDOW
    refused = sum(outcome["refusals"] for outcome in outcomes)
    calls = sum(outcome["calls"] for outcome in outcomes)
    ext_ids: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome["ok"]:
            ext_ids.update(EXT_ID.findall((workdir / f"{outcome['day']}.jsonl").read_text(encoding="utf-8")))
    records = sum(outcome["records"] for outcome in outcomes)
    return {
        "tasks": tasks,
        "failed": len(failed),
        "errors": [outcome["error"] for outcome in failed],
        "records": records,
        "min_points": minimum,
        "calls": calls,
        "points_used": calls - refused,
        "refused": refused,
        "refused_share": refused / minimum if minimum else None,
        "retries": sum(outcome["retries"] for outcome in outcomes),
        "floor_windows": floor_windows,
        "floor_s": floor,
        "wall_s": wall,
        "wall_ratio": wall / floor if floor else None,
        "wall_windows": wall / BUDGET_WINDOW,
        "budget_waited_s": sum(outcome["budget_waited"] for outcome in outcomes),
        "checks": {
            "every call landed once": not failed and records == CALLS_PER_DAY * tasks == sum(ext_ids.values()),
            "no ext_id twice": all(count == 1 for count in ext_ids.values()),
        },
        "targets": {
            "0 failed tasks": len(failed) <= TARGET_FAILED,
            "refused <= 25 % of the minimum": minimum > 0 and refused <= TARGET_REFUSED_SHARE * minimum,
            "wall <= 1.5x the floor": floor > 0 and wall <= TARGET_WALL_RATIO * floor,
        },
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as a readable table, the targets and how to read them."""
    lines = [
        "# Sharing one budget: concurrent day-tasks against one minute budget",
        "",
        f"Run {report['date']} on {report['machine']['cores']} cores (shared), {report['duration_s'] / 60:.1f} min. "
        f"Emulator budget: **{BUDGET_POINTS} points per {BUDGET_WINDOW:g}-second window** (a shortened minute); each "
        f"task extracts one Moscow day of about {CALLS_PER_DAY} uploaded calls with page size {PAGE_SIZE} in its own "
        "process, all started together once their imports were done.",
        "",
        "| tasks | failed | min points | calls | refused | refused / min | floor (windows) | wall (windows) "
        "| wall / floor | waited on budget (all tasks) | outputs exact | targets met |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for wave in report["waves"]:
        exact = all(wave["checks"].values())
        met = all(wave["targets"].values())
        lines.append(
            f"| {wave['tasks']} | {wave['failed']} | {wave['min_points']} | {wave['calls']} | {wave['refused']} "
            f"| {wave['refused_share']:.0%} | {wave['floor_s']:.1f} s ({wave['floor_windows']:.1f}) "
            f"| {wave['wall_s']:.1f} s ({wave['wall_windows']:.1f}) | {wave['wall_ratio']:.2f} "
            f"| {wave['budget_waited_s']:.0f} s | {'yes' if exact else 'NO'} | {'yes' if met else 'no'} |"
        )
    lines += ["", "## Targets (the issue's, at 16 tasks)", ""]
    for wave in report["waves"]:
        marks = ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in wave["targets"].items())
        lines.append(f"- {wave['tasks']} tasks: {marks}")
    lines += [
        "",
        "## How to read it",
        "",
        "- **min points**: the fewest calls the days need (every page full but the last), one point each.",
        f"- **floor**: min points / {BUDGET_POINTS}, in {BUDGET_WINDOW:g}-second budget windows: no client sharing "
        "this budget can finish sooner.",
        "- **wall**: from the first task's start to the last task's end.",
        "- **refused**: calls the minute budget refused (`limit_exceeded`, `limit_type` minute), summed over the "
        "tasks; they cost no points but a round trip. **calls** counts them too.",
        "- **outputs exact**: the day files together hold every generated call, none twice.",
        "- Failed tasks' errors, if any, are in `budget.json`.",
    ]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    """Cores and Python of the machine the figures come from."""
    return {"cores": os.cpu_count(), "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    """Run the waves and write BUDGET.md and budget.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, action="append", help="wave size(s); default 4, 16 and 64")
    parser.add_argument("--out-dir", type=Path, help="where to write the results (default: bench/, or a temp dir)")
    parser.add_argument("--logs", type=Path, help="keep each task's log (its stderr) in this folder")
    args = parser.parse_args(argv)
    waves = tuple(args.tasks) if args.tasks else WAVES
    out_dir = args.out_dir or (Path(tempfile.mkdtemp(prefix="uis-bench-budget-")) if args.tasks else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = []
    for tasks in waves:
        with tempfile.TemporaryDirectory(prefix="uis-bench-budget-work-") as work:
            wave = run_wave(tasks, Path(work), args.logs)
        results.append(wave)
        print(
            f"{tasks} tasks: {wave['failed']} failed, refused {wave['refused']}/{wave['min_points']} "
            f"({wave['refused_share']:.0%}), wall {wave['wall_s']:.1f} s / floor {wave['floor_s']:.1f} s "
            f"= {wave['wall_ratio']:.2f}, outputs exact: {all(wave['checks'].values())}",
            flush=True,
        )
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "duration_s": time.monotonic() - started,
        "machine": machine(),
        "settings": {
            "budget_points": BUDGET_POINTS,
            "budget_window_s": BUDGET_WINDOW,
            "calls_per_day": CALLS_PER_DAY,
            "page_size": PAGE_SIZE,
        },
        "waves": results,
    }
    (out_dir / "budget.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "BUDGET.md").write_text(markdown(report), encoding="utf-8")
    print(f"wrote {out_dir / 'BUDGET.md'} and budget.json in {report['duration_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
