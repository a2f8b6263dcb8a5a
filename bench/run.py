"""Benchmark the provider's extraction path against a hand-written extractor and the API's physical limit.

For each window size (10 000, 100 000, 500 000 uploaded calls) and API latency (0 and 200 ms) it starts the UIS
emulator in its own process, then runs ``ours`` (``bench/ours.py``) and ``naive`` (``bench/naive.py``) alternately,
each in a fresh subprocess whose peak RSS is read from its own rusage. The points of every run are read from the
emulator's daily budget before and after it, and the first outputs are checked to hold the same records. In the
100 000-call case at 0 ms, the client's CPU per record is then measured per output format on replayed pages
(``bench/replay.py``: the emulator's answers stored once and served as bytes, so no emulator work runs beside the
client), each format's file compared with the record-by-record path's. Medians go to ``RESULTS.md``,
``results.json`` and ``results.png`` beside this file.

    python bench/run.py            # the full matrix, about 5 minutes on 2 cores
    python bench/run.py --quick    # small windows, one run each, results in a temporary folder: a smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import naive  # noqa: E402

PYTHON = sys.executable
API_KEY = "bench-api-key-0f9d2c"
CONN_ID = "uis_bench"
TIMEZONE = "Europe/Moscow"
START, DAYS = "2026-01-01", 30
DATE_FROM, DATE_TILL = "2026-01-01", "2026-01-31"
PAGE_SIZE = naive.PAGE_SIZE
REACHABLE_ROWS = naive.REACHABLE_ROWS
#: The emulator's default per-minute budget; ``get.uploaded_calls`` costs one point.
MINUTE_LIMIT = 3000
#: Concurrency assumed by "limit": at 200 ms one connection makes 5 calls/s and 3000 points/min allow 50 calls/s.
LIMIT_CONCURRENCY = 10
LATENCIES = (0.0, 0.2)
#: Runs of each extractor per (size, latency), chosen so the whole matrix takes about 5 minutes on 2 cores.
RUNS = {
    (10_000, 0.0): 3,
    (100_000, 0.0): 3,
    (500_000, 0.0): 3,
    (10_000, 0.2): 3,
    (100_000, 0.2): 3,
    (500_000, 0.2): 3,
}
QUICK_RUNS = {(2_000, 0.0): 1, (20_000, 0.0): 1, (130_000, 0.0): 1, (2_000, 0.2): 1, (20_000, 0.2): 1}
#: Variants of ours: what the prefetch, the typed records and msgspec each bring, run in the cases named below only.
VARIANTS = {
    "ours, sequential": ["--prefetch-pages", "0"],
    "ours, record by record": ["--records", "dicts"],
    "ours, without msgspec": ["--decoder", "json", "--encoder", "json"],
}
VARIANT_CASES = {
    False: {(100_000, 0.0): tuple(VARIANTS), (100_000, 0.2): ("ours, sequential",)},
    True: {(20_000, 0.0): tuple(VARIANTS), (20_000, 0.2): ("ours, sequential",)},
}
#: Output formats whose client CPU per record is measured on replayed pages: name -> (file_format, compression).
FORMATS = {
    "jsonl": ("jsonl", "none"),
    "jsonl, gzip": ("jsonl", "gzip"),
    "csv": ("csv", "none"),
    "csv, gzip": ("csv", "gzip"),
    "parquet": ("parquet", "none"),
}
#: The case whose window is replayed for the CPU figures, and the runs of each format there.
CPU_CASE = {False: (100_000, 0.0), True: (20_000, 0.0)}
CPU_RUNS = {False: 3, True: 1}
#: The issue's targets: records/s of ours over naive's at 0 ms (by window size), wall over the measured floor at
#: 200 ms (windows of more than one page), and the client's CPU per record writing JSON lines.
TARGET_SPEEDUP_ONE_PAGE = 1.5
TARGET_SPEEDUP = 3.0
TARGET_WALL_OVER_FLOOR = 1.3
TARGET_JSONL_CPU_US = 4.0
#: Cases up to this size compare every record of ours and naive field by field, larger ones by ext_id and bytes.
FULL_CHECK_ROWS = 100_000
EXT_ID = re.compile(rb'"ext_id":"([^"]*)"')
TOTAL_ITEMS = re.compile(rb'"total_items":\s*(\d+)')


@dataclass
class Run:
    """One extractor run: wall seconds of the extraction, records, calls it made, points charged, peak RSS, and the
    process's CPU seconds over the same span (every thread)."""

    seconds: float
    records: int
    calls: int
    points: int
    peak_rss_mb: float
    cpu_seconds: float
    #: The emulator process's CPU seconds over the same run: the API side's work for it, on its one core.
    emulator_cpu_seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        """Records landed per second of wall time."""
        return self.records / self.seconds

    @property
    def cpu_us_per_record(self) -> float:
        """The extractor's CPU microseconds per record landed."""
        return self.cpu_seconds / max(1, self.records) * 1e6


@dataclass
class Case:
    """All runs of one window size and latency, the measured floor and the output checks."""

    size: int
    latency: float
    runs: dict[str, list[Run]] = field(default_factory=dict)
    floor_seconds: list[float] = field(default_factory=list)
    ordered_floor_seconds: list[float] = field(default_factory=list)
    #: Each extractor's untimed first run on the fresh emulator, before its selections are cached.
    first: dict[str, Run] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    ours_parts: list[list[str]] = field(default_factory=list)
    #: Runs on replayed pages, by output format (and naive's, and ours record by record for the reference files).
    cpu: dict[str, list[Run]] = field(default_factory=dict)
    #: The machine's 1-minute load average when the case started and ended.
    load: list[float] = field(default_factory=list)
    #: CPU microseconds per record of the steps no client of this design can skip (``codec_floor``).
    codec: dict[str, float] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """The fewest pages that hold the window: ``ceil(N / 10 000)``."""
        return max(1, math.ceil(self.size / PAGE_SIZE))

    @property
    def minimum_calls(self) -> int:
        """The true minimum: the pages, every one full but the last (continued by ext_id past the offset cap)."""
        return self.pages

    @property
    def limit_seconds(self) -> float:
        """The issue's physical floor: rounds of ``LIMIT_CONCURRENCY`` concurrent calls of the fewest pages."""
        return math.ceil(self.pages / LIMIT_CONCURRENCY) * self.latency

    @property
    def ordered_limit_seconds(self) -> float:
        """The limit once paging's order is kept: a query's first page says how many follow, and a continuation
        past 110 000 rows needs the last row before it; the rest go in rounds of ``LIMIT_CONCURRENCY``."""
        rounds, left = 0, self.pages
        per_query = REACHABLE_ROWS // PAGE_SIZE
        while left > 0:
            pages = min(left, per_query)
            rounds += 1 + math.ceil((pages - 1) / LIMIT_CONCURRENCY)
            left -= pages
        return rounds * self.latency

    def median(self, name: str, metric: Callable[[Run], float]) -> float:
        """The median of ``metric`` over the runs of extractor ``name``."""
        return statistics.median(metric(run) for run in self.runs[name])


class LoopbackServer:
    """A server in a process of its own whose first line of output names its loopback URL; stopped by its pid."""

    def __init__(self, command: list[str], what: str) -> None:
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        found = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"{what} did not start: {line!r}")
        self.url = found.group(1)

    def stop(self) -> None:
        """Stop the server by its pid and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Emulator(LoopbackServer):
    """``python -m uis_provider.testing.emulator`` in its own process on a free loopback port; stopped by pid.

    ``options`` are the emulator's own (``--calls``, ``--days``, ``--latency``, ...); the key, the time zone and
    ``--warm`` are the benchmarks' for every run.
    """

    def __init__(self, options: list[str]) -> None:
        command = [PYTHON, "-m", "uis_provider.testing.emulator", "--port", "0", "--api-key", API_KEY]
        super().__init__([*command, "--timezone", TIMEZONE, "--warm", *options], "the emulator")
        self.http = requests.Session()

    def day_remaining(self) -> int:
        """The daily points left, read with one ``get.account`` call (which costs one point itself)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {"access_token": API_KEY}}
        answer = self.http.post(self.url, json=body, timeout=60).json()
        return int(answer["result"]["metadata"]["limits"]["day_remaining"])


class Replayer(LoopbackServer):
    """``bench/replay.py`` in its own process in front of an emulator: its answers stored once, served as bytes."""

    def __init__(self, upstream: str) -> None:
        super().__init__([PYTHON, str(HERE / "replay.py"), "--upstream", upstream], "the replay server")


#: Starts the extractor and reports its exit code and peak RSS (KB). Linux carries a parent's peak RSS into a child
#: across fork and exec, so the extractor is started by this small process, not by the orchestrator, whose own
#: memory grows while it checks outputs: the peak ``wait4`` reads is then the extractor's own.
LAUNCHER = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], report)
"""


def run_process(command: list[str], env: dict[str, str], workdir: Path) -> tuple[dict[str, Any], float]:
    """Run one extractor in a fresh process: its printed JSON result and its own peak RSS in MB (``wait4``)."""
    usage_file = workdir / "usage.json"
    with tempfile.TemporaryFile(dir=workdir) as errors:
        launched = subprocess.run(
            [PYTHON, "-c", LAUNCHER, str(usage_file), *command],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            check=False,
        )
        exit_code, peak_kb = json.loads(usage_file.read_text())
        if launched.returncode != 0 or exit_code != 0:
            errors.seek(0)
            raise RuntimeError(f"{command[1]} failed: {errors.read().decode(errors='replace')[-3000:]}")
    return json.loads(launched.stdout.decode().strip().splitlines()[-1]), peak_kb / 1024


def measured_floor(url: str, pages: int, concurrency: int) -> float:
    """Seconds a bare client needs for ``pages`` pages over ``concurrency`` connections, bodies discarded."""
    local = threading.local()
    # the same rows under a query of its own: the emulator caches sorted selections per query, and warming the
    # extractors' own queries here would favour one of them
    window = {"date_from": "2025-12-31 23:59:59", "date_till": f"{DATE_TILL} 00:00:00"}

    def fetch(offset: int) -> int:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        params = {"access_token": API_KEY, **window, "limit": PAGE_SIZE, "offset": offset}
        params.update({"fields": naive.FIELDS, "sort": naive.SORT})
        body = {"jsonrpc": "2.0", "id": offset, "method": "get.uploaded_calls", "params": params}
        return len(local.http.post(url, json=body, timeout=300).content)

    fetch(0)
    offsets = [(index * PAGE_SIZE) % REACHABLE_ROWS for index in range(pages)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(fetch, offsets))
    return time.perf_counter() - started


def measured_ordered_floor(url: str, concurrency: int) -> float:
    """Seconds a bare client needs for the window's pages in paging's order, bodies discarded but for two figures.

    Each query's first page comes alone (its ``total_items`` says how many follow); when a query holds more than
    the offsets reach, its last reachable page goes out next and, once answered, its last ext_id starts the next
    query (``ext_id > last``), as ours does; the other pages go over ``concurrency`` connections meanwhile. It runs
    once untimed first, so its own queries' selections are cached in the emulator as for the timed runs of the
    extractors (the first, cold runs are measured apart); its window is its own for the same reason as the floor's.
    """
    local = threading.local()
    window = {"date_from": "2025-12-31 23:59:58", "date_till": f"{DATE_TILL} 00:00:00"}

    def fetch(offset: int, after: str | None) -> bytes:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        params: dict[str, Any] = {"access_token": API_KEY, **window, "limit": PAGE_SIZE, "offset": offset}
        params.update({"fields": naive.FIELDS, "sort": naive.SORT})
        if after is not None:
            params["filter"] = {"field": "ext_id", "operator": ">", "value": after}
        body = {"jsonrpc": "2.0", "id": offset, "method": "get.uploaded_calls", "params": params}
        return local.http.post(url, json=body, timeout=300).content

    def window_pages(pool: ThreadPoolExecutor) -> None:
        after: str | None = None
        pending = []
        while True:
            first = fetch(0, after)
            total = int(TOTAL_ITEMS.findall(first)[-1])
            reachable = min(total, REACHABLE_ROWS)
            offsets = list(range(PAGE_SIZE, reachable, PAGE_SIZE))
            if total <= REACHABLE_ROWS:
                pending += [pool.submit(fetch, offset, after) for offset in offsets]
                break
            last = pool.submit(fetch, offsets[-1], after)
            pending += [pool.submit(fetch, offset, after) for offset in offsets[:-1]]
            after = EXT_ID.findall(last.result())[-1].decode()
        for page in pending:
            page.result()

    with ThreadPoolExecutor(concurrency) as pool:
        window_pages(pool)
        started = time.perf_counter()
        window_pages(pool)
        return time.perf_counter() - started


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (``/proc/PID/stat``), for the emulator's share."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def canonical_lines(path: Path) -> list[str]:
    """Every record of a JSON-lines file as sorted-key JSON, sorted: equal lists mean the same records."""
    with path.open(encoding="utf-8") as lines:
        return sorted(json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False) for line in lines)


def check_outputs(case: Case, outputs: dict[str, Path]) -> dict[str, bool]:
    """The first outputs of a case: complete, no duplicates, ours = naive record for record, variants = ours."""
    ours = outputs["ours"].read_bytes()
    theirs = outputs["naive"].read_bytes()
    ours_ids = EXT_ID.findall(ours)
    checks = {
        "ours holds every call once": len(ours_ids) == len(set(ours_ids)) == case.size,
        "naive holds the same ext_ids": Counter(EXT_ID.findall(theirs)) == Counter(ours_ids),
        "same bytes in total": len(ours) == len(theirs),
    }
    if case.size <= FULL_CHECK_ROWS:
        checks["same records field by field"] = canonical_lines(outputs["ours"]) == canonical_lines(outputs["naive"])
    for name, path in outputs.items():
        if name.startswith("ours, "):
            checks[f"{name} byte-identical to ours"] = path.read_bytes() == ours
    return checks


def extractor_env(url: str, home: Path) -> dict[str, str]:
    """The environment of an extractor process: a private Airflow home and the ``uis_bench`` connection."""
    connection = {"conn_type": "uis", "host": url, "password": API_KEY, "extra": {"timezone": TIMEZONE}}
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection),
        }
    )
    return env


def run_case(size: int, latency: float, runs: int, variants: tuple[str, ...], workdir: Path, cpu_runs: int = 0) -> Case:
    """Every run of one case against one emulator process: ours and naive alternately, then the floor; with
    ``cpu_runs``, the client CPU per record of each output format on replayed pages."""
    case = Case(size, latency, load=[os.getloadavg()[0]])
    emulator = Emulator(["--calls", str(size), "--latency", str(latency), "--start", START, "--days", str(DAYS)])
    try:
        env = extractor_env(emulator.url, workdir / "airflow")
        window = ["--date-from", DATE_FROM, "--date-till", DATE_TILL]
        outputs = {"ours": workdir / "ours.jsonl", "naive": workdir / "naive.jsonl"}
        commands = {
            "ours": [PYTHON, "bench/ours.py", "--conn-id", CONN_ID, *window, "--out", str(outputs["ours"])],
            "naive": [PYTHON, "bench/naive.py", "--url", emulator.url, "--api-key", API_KEY, *window],
        }
        commands["naive"] += ["--out", str(outputs["naive"])]
        for index, name in enumerate(variants):
            outputs[name] = workdir / f"variant-{index}.jsonl"
            commands[name] = [*commands["ours"][:-1], str(outputs[name]), *VARIANTS[name]]
        for _ in range(1 if size > REACHABLE_ROWS else 2):
            case.floor_seconds.append(measured_floor(emulator.url, case.pages, LIMIT_CONCURRENCY))
            case.ordered_floor_seconds.append(measured_ordered_floor(emulator.url, LIMIT_CONCURRENCY))

        def timed(name: str) -> Run:
            before, emulator_cpu = emulator.day_remaining(), process_cpu_seconds(emulator.process.pid)
            result, peak = run_process(commands[name], env, workdir)
            emulator_cpu = process_cpu_seconds(emulator.process.pid) - emulator_cpu
            if name == "ours":
                case.ours_parts = result["parts"]
            return _run(result, peak, before - emulator.day_remaining() - 1, emulator_cpu)

        for name in ("ours", "naive"):
            case.first[name] = timed(name)
        for repetition in range(runs):
            order = list(commands) if repetition % 2 == 0 else list(reversed(commands))
            for name in order:
                case.runs.setdefault(name, []).append(timed(name))
            if repetition == 0:
                case.checks = check_outputs(case, outputs)
        print(f"  {size:>7} calls, {latency * 1000:.0f} ms: " + summary(case), flush=True)
        if cpu_runs:
            case.codec = codec_floor(emulator.url, workdir)
            measure_cpu(case, emulator.url, workdir, cpu_runs)
            print("    client CPU per record, replayed: " + cpu_summary(case), flush=True)
    finally:
        emulator.http.close()
        emulator.stop()
    case.load.append(os.getloadavg()[0])
    return case


def measure_cpu(case: Case, upstream: str, workdir: Path, runs: int) -> None:
    """Ours in every output format (and naive's JSON lines) on replayed pages: CPU per record, and each format's file
    compared with the one the record-by-record path writes."""
    replayer = Replayer(upstream)
    try:
        env = extractor_env(replayer.url, workdir / "airflow")
        window = ["--date-from", DATE_FROM, "--date-till", DATE_TILL]
        outputs = {name: workdir / f"cpu-{index}" for index, name in enumerate(FORMATS)}

        def ours(name: str, out: Path, *extra: str) -> list[str]:
            file_format, compression = FORMATS[name]
            command = [PYTHON, "bench/ours.py", "--conn-id", CONN_ID, *window, "--out", str(out)]
            return [*command, "--format", file_format, "--compression", compression, *extra]

        commands = {name: ours(name, out) for name, out in outputs.items()}
        commands["naive, jsonl"] = [PYTHON, "bench/naive.py", "--url", replayer.url, "--api-key", API_KEY, *window]
        commands["naive, jsonl"] += ["--out", str(workdir / "cpu-naive")]
        run_process(commands["jsonl"], env, workdir)  # every answer stored: the runs below are all replayed
        typed: dict[str, bytes] = {}
        for repetition in range(runs):
            names = list(commands) if repetition % 2 == 0 else list(reversed(commands))
            for name in names:
                result, peak = run_process(commands[name], env, workdir)
                case.cpu.setdefault(name, []).append(_run(result, peak))
            if repetition == 0:
                typed = {name: out.read_bytes() for name, out in outputs.items()}
        for name in FORMATS:
            reference = workdir / "cpu-reference"
            result, peak = run_process(ours(name, reference, "--records", "dicts"), env, workdir)
            case.cpu.setdefault(f"{name}, record by record", []).append(_run(result, peak))
            case.checks[f"{name} byte-identical to the record-by-record path"] = reference.read_bytes() == typed[name]
    finally:
        replayer.stop()


def codec_floor(url: str, workdir: Path, repeats: int = 5) -> dict[str, float]:
    """CPU microseconds per record of each step the client cannot skip, on one page of the window, in this process
    (the best of ``repeats``): the JSON-RPC envelope, the typed decode, freeing the records, the JSON-lines encode
    and writing them to a file. Their sum is what this design costs a record on this machine's core."""
    import gc

    from uis_provider.protocol.jsonrpc import parse_response
    from uis_provider.protocol.methods import UPLOADED_CALLS
    from uis_provider.storage.rows import row_type_for

    params = {"access_token": API_KEY, "date_from": f"{DATE_FROM} 00:00:00", "date_till": f"{DATE_TILL} 00:00:00"}
    params.update({"limit": PAGE_SIZE, "offset": 0, "fields": naive.FIELDS, "sort": naive.SORT})
    request = {"jsonrpc": "2.0", "id": "floor", "method": "get.uploaded_calls", "params": params}
    body = requests.post(url, json=request, timeout=300).content
    row_type = row_type_for(UPLOADED_CALLS, UPLOADED_CALLS.columns, UPLOADED_CALLS.columns)
    assert row_type is not None
    steps = {"envelope": [], "decode": [], "free": [], "encode": [], "write": []}
    target = workdir / "codec-floor.jsonl"
    records = 0
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.process_time()
            result = parse_response("get.uploaded_calls", "floor", 200, body, defer_data=True)
            steps["envelope"].append(time.process_time() - started)
            started = time.process_time()
            rows = row_type.decode(result["data"])
            steps["decode"].append(time.process_time() - started)
            assert rows is not None
            records = len(rows)
            started = time.process_time()
            data = row_type.encode_lines(rows.items)
            steps["encode"].append(time.process_time() - started)
            started = time.process_time()
            del rows, result
            steps["free"].append(time.process_time() - started)
            started = time.process_time()
            with target.open("wb") as out:
                out.write(data)
            steps["write"].append(time.process_time() - started)
            target.unlink()
    finally:
        gc.enable()
    return {name: min(times) / max(1, records) * 1e6 for name, times in steps.items()}


def _run(result: dict[str, Any], peak: float, points: int = 0, emulator_cpu: float = 0.0) -> Run:
    return Run(result["seconds"], result["records"], result["calls"], points, peak, result["cpu_seconds"], emulator_cpu)


def cpu_summary(case: Case) -> str:
    """One line for the console: median CPU microseconds per record of each format."""
    return ", ".join(
        f"{name} {statistics.median(run.cpu_us_per_record for run in runs):.1f} us" for name, runs in case.cpu.items()
    )


def summary(case: Case) -> str:
    """One line for the console: median wall seconds of each extractor."""
    return ", ".join(f"{name} {case.median(name, lambda run: run.seconds):.2f} s" for name in case.runs)


def machine() -> dict[str, Any]:
    """Cores, CPU, Python and the versions that matter to the figures."""
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "unknown")
    versions = {}
    for package in ("apache-airflow", "apache-airflow-core", "requests", "msgspec", "airflow-provider-uis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is zero (no limit at 0 ms latency)."""
    return numerator / denominator if denominator else None


def case_figures(case: Case) -> dict[str, Any]:
    """The medians and ratios of one case, as written to ``results.json``."""
    figures: dict[str, Any] = {"calls_in_window": case.size, "latency_ms": round(case.latency * 1000)}
    for name in case.runs:
        figures[name] = {
            "wall_s": case.median(name, lambda run: run.seconds),
            "records_per_s": case.median(name, lambda run: run.records_per_second),
            "records": case.median(name, lambda run: run.records),
            "api_calls": case.median(name, lambda run: run.calls),
            "points": case.median(name, lambda run: run.points),
            "peak_rss_mb": case.median(name, lambda run: run.peak_rss_mb),
            "cpu_us_per_record": case.median(name, lambda run: run.cpu_us_per_record),
            "emulator_cpu_s": case.median(name, lambda run: run.emulator_cpu_seconds),
            "runs": [asdict(run) for run in case.runs[name]],
        }
    ours, theirs = figures["ours"], figures["naive"]
    floor = statistics.median(case.floor_seconds)
    ordered_floor = statistics.median(case.ordered_floor_seconds)
    figures.update(
        {
            "limit_s": case.limit_seconds,
            "ordered_limit_s": case.ordered_limit_seconds,
            "floor_s": floor,
            "ordered_floor_s": ordered_floor,
            "first_runs": {name: asdict(run) for name, run in case.first.items()},
            "minimum_calls": case.minimum_calls,
            "ours_parts": len(case.ours_parts),
            "ratios": {
                "wall_ours_over_naive": ours["wall_s"] / theirs["wall_s"],
                "records_per_s_ours_over_naive": ours["records_per_s"] / theirs["records_per_s"],
                "wall_ours_over_limit": ratio(ours["wall_s"], case.limit_seconds),
                "wall_ours_over_ordered_limit": ratio(ours["wall_s"], case.ordered_limit_seconds),
                "wall_ours_over_floor": ours["wall_s"] / floor,
                "wall_ours_over_ordered_floor": ours["wall_s"] / ordered_floor,
                "peak_rss_ours_over_naive": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            },
            "checks": case.checks,
            "load_1min": case.load,
        }
    )
    if case.cpu:
        figures["cpu_replayed"] = {
            name: {
                "cpu_us_per_record": statistics.median(run.cpu_us_per_record for run in runs),
                "wall_s": statistics.median(run.seconds for run in runs),
                "records_per_s": statistics.median(run.records_per_second for run in runs),
                "records": statistics.median(run.records for run in runs),
                "runs": [asdict(run) for run in runs],
            }
            for name, runs in case.cpu.items()
        }
        figures["codec_floor_us_per_record"] = case.codec
    return figures


def targets(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for ours, each with the measured value and whether it is met."""
    found: list[dict[str, Any]] = []
    by_key = {(c["calls_in_window"], c["latency_ms"]): c for c in cases}
    for c in cases:
        calls = c["ours"]["api_calls"]
        found.append(
            {
                "target": f"API calls = the true minimum ({c['calls_in_window']:,} calls, {c['latency_ms']} ms)",
                "value": f"{calls:g} calls, minimum {c['minimum_calls']}",
                "met": calls == c["minimum_calls"],
            }
        )
    for latency in sorted({c["latency_ms"] for c in cases}):
        sizes = sorted(c["calls_in_window"] for c in cases if c["latency_ms"] == latency)
        small, large = by_key[(sizes[0], latency)], by_key[(sizes[-1], latency)]
        growth = large["ours"]["peak_rss_mb"] / small["ours"]["peak_rss_mb"]
        found.append(
            {
                "target": f"peak RSS at {sizes[-1]:,} within 1.3x of {sizes[0]:,} ({latency} ms)",
                "value": f"{growth:.2f}x",
                "met": growth <= 1.3,
            }
        )
    for c in cases:
        r = c["ratios"]
        size = c["calls_in_window"]
        if c["latency_ms"] == 0:
            value = r["records_per_s_ours_over_naive"]
            goal = TARGET_SPEEDUP_ONE_PAGE if size <= PAGE_SIZE else TARGET_SPEEDUP
            found.append(
                {
                    "target": f"records/s >= {goal:g}x naive at 0 ms ({size:,})",
                    "value": f"{value:.2f}x",
                    "met": value >= goal,
                }
            )
        elif size > PAGE_SIZE:
            value = r["wall_ours_over_floor"]
            found.append(
                {
                    "target": f"wall <= {TARGET_WALL_OVER_FLOOR:g}x the measured floor at {c['latency_ms']} ms "
                    f"({size:,})",
                    "value": f"{value:.2f}x (vs the measured ordered floor: {r['wall_ours_over_ordered_floor']:.2f}x; "
                    f"vs the limit: {r['wall_ours_over_limit']:.2f}x, vs the ordered limit: "
                    f"{r['wall_ours_over_ordered_limit']:.2f}x)",
                    "met": value <= TARGET_WALL_OVER_FLOOR,
                }
            )
    for c in cases:
        if "cpu_replayed" in c:
            value = c["cpu_replayed"]["jsonl"]["cpu_us_per_record"]
            found.append(
                {
                    "target": f"client CPU <= {TARGET_JSONL_CPU_US:g} us per record writing JSON lines "
                    f"({c['calls_in_window']:,}, replayed pages)",
                    "value": f"{value:.1f} us",
                    "met": value <= TARGET_JSONL_CPU_US,
                }
            )
    return found


def markdown(report: dict[str, Any]) -> str:
    """``RESULTS.md``: the machine, the table of medians, the variants, the targets and how to read them."""
    m = report["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `bench/run.py` on {report['date']} in {report['duration_s'] / 60:.1f} minutes: "
        f"{m['cores']} cores ({m['cpu']}), Python {m['python']}, Airflow {m['versions']['apache-airflow']}, "
        f"msgspec {m['versions']['msgspec']}. Every figure is the median of the runs given; ours and naive ran "
        "alternately against one emulator process per case, after one first run of each that is not counted "
        "(the emulator caches each query's sorted selection, so a first run pays for building it; those runs are "
        "in a table of their own below). Wall time runs from the extractor's first step to "
        "its file written (for ours including the provider code Airflow's object storage loads on first use, as it "
        "does in every task; the plugins a task runner loads before `execute()` and the supervisor module a task "
        "process is forked with are loaded first), not the interpreter's start or top-level imports; CPU is the "
        "extractor process's over the same span, every thread; peak RSS is the whole process's. The emulator builds "
        "every record before the runs, so no run pays for generating data. " + _load_note(report),
        "",
        "| calls | latency | extractor | runs | wall s | records/s | CPU us/rec | emulator CPU s | API calls | points "
        "| peak RSS MB | ours/naive wall | ours/naive rec/s | limit s | ordered limit s | floor s | ordered floor s "
        "| ours/limit | ours/ordered limit | ours/floor | ours/ordered floor |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report["cases"]:
        r = c["ratios"]
        limit_ratio = f"{r['wall_ours_over_limit']:.2f}" if r["wall_ours_over_limit"] is not None else "n/a"
        ordered = r["wall_ours_over_ordered_limit"]
        ordered_ratio = f"{ordered:.2f}" if ordered is not None else "n/a"
        for name in ("ours", "naive"):
            e = c[name]
            extra = (
                f"{r['wall_ours_over_naive']:.2f} | {r['records_per_s_ours_over_naive']:.2f} | {c['limit_s']:.2f} "
                f"| {c['ordered_limit_s']:.2f} | {c['floor_s']:.2f} | {c['ordered_floor_s']:.2f} | {limit_ratio} "
                f"| {ordered_ratio} | {r['wall_ours_over_floor']:.2f} | {r['wall_ours_over_ordered_floor']:.2f}"
                if name == "ours"
                else " | | | | | | | | | "
            )
            lines.append(
                f"| {c['calls_in_window']:,} | {c['latency_ms']} ms | {name} | {len(e['runs'])} | {e['wall_s']:.2f} "
                f"| {e['records_per_s']:,.0f} | {e['cpu_us_per_record']:.1f} | {e['emulator_cpu_s']:.2f} "
                f"| {e['api_calls']:g} | {e['points']:g} | {e['peak_rss_mb']:.0f} | {extra} |"
            )
    lines += _first_runs_table(report["cases"])
    variants = [c for c in report["cases"] if any(name.startswith("ours, ") for name in c)]
    if variants:
        lines += [
            "",
            "What each optimisation brings (same cases, same interleaving; outputs byte-identical to ours):",
            "",
            "| calls | latency | extractor | wall s | records/s | CPU us/rec | peak RSS MB |",
            "|---:|---:|---|---:|---:|---:|---:|",
        ]
        for c in variants:
            for name in [n for n in c if n == "ours" or n.startswith("ours, ")]:
                e = c[name]
                lines.append(
                    f"| {c['calls_in_window']:,} | {c['latency_ms']} ms | {name} | {e['wall_s']:.2f} "
                    f"| {e['records_per_s']:,.0f} | {e['cpu_us_per_record']:.1f} | {e['peak_rss_mb']:.0f} |"
                )
    for c in report["cases"]:
        if "cpu_replayed" in c:
            lines += _cpu_table(c)
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |" for t in report["targets"]]
    failed = [
        f"{c['calls_in_window']:,}/{c['latency_ms']} ms: {k}"
        for c in report["cases"]
        for k, ok in c["checks"].items()
        if not ok
    ]
    lines += [
        "",
        "## Output checks",
        "",
        "First run of each case: ours holds every call of the window once; naive holds the same ext_ids and the "
        "same number of bytes (key order differs: the API shuffles keys, ours writes them in column order); up to "
        f"{FULL_CHECK_ROWS:,} calls every record is compared field by field; the variants' files are byte-identical "
        "to ours; on replayed pages, the file of every format is byte-identical to the record-by-record path's. "
        + ("All checks passed." if not failed else "**Failed:** " + "; ".join(failed)),
        "",
        "## How to read it",
        "",
        f"- **limit** is the issue's physical floor: the fewest pages (`ceil(N / 10 000)`) times the latency, in "
        f"rounds of {LIMIT_CONCURRENCY} concurrent calls. {LIMIT_CONCURRENCY} is the concurrency the rate limit "
        f"permits at 200 ms: one connection makes 5 calls/s, and the emulator's default budget of {MINUTE_LIMIT} "
        "points/min allows 50 calls/s. At 0 ms the limit is zero, so there is no ratio.",
        "- **ordered limit** is the same floor with paging's order kept, which the limit leaves out: a query's "
        "first page must come back before the others are asked for (its `total_items` says how many there are), "
        f"and past {REACHABLE_ROWS:,} rows the continuation asks for the rows after the last one reached, so it "
        "waits for that page. No client that makes only the minimum calls can beat it: 1 round for one page, 2 up "
        f"to {REACHABLE_ROWS:,} rows, 2 per {REACHABLE_ROWS:,} rows beyond.",
        "- **floor** is measured: a bare client (threads, `requests`, bodies discarded) fetching the same number of "
        f"pages of the same query over {LIMIT_CONCURRENCY} connections. It includes what the limit leaves out: the "
        "emulator encodes and sends each 7 MB page on one core (one Python process, ~30 ms a page), so the pages of "
        "a window cannot come faster than that, whatever the client does. It ignores paging's order (it knows "
        "how many pages there are), so it can be below the ordered limit.",
        "- **ordered floor** is measured too, by a bare client that keeps paging's order as ours must: each "
        "query's first page alone, then its other pages over the same connections, and past "
        f"{REACHABLE_ROWS:,} rows the next query (`ext_id > last`) as soon as the last reachable page is answered. "
        "It pays what the floor leaves out: a round trip per query before its other pages, and the emulator "
        "selecting each continuation's rows. Its queries are its own and warmed by one untimed pass, as the "
        "extractors' are by their first runs.",
        "- **emulator CPU s** is the emulator process's CPU time over a run (`/proc/PID/stat`): the API side's "
        "work for that run, which runs on one core whatever the client does.",
        f"- **minimum calls** is `ceil(N / 10 000)`: every page full but the last. Offsets reach {REACHABLE_ROWS:,} "
        "rows of one query (the API caps offset at 100 000); past that ours asks for the rows after the last ext_id "
        "reached (`ext_id > last`, the same sort) from offset 0, so nothing is probed, thrown away or split by "
        "time. naive splits by day after a first page it throws away, and each day's last page is partly empty.",
        "- **CPU us/rec** is the extractor process's CPU time (every thread, user and system) over the extraction, "
        "per record landed. On replayed pages it is the client's own work alone; in the whole runs the emulator "
        "runs beside it on the same 2 cores.",
        "- **points** are read from the emulator's daily budget before and after each run. "
        + (
            "They equal the calls in every run: no call was refused or repeated."
            if all(
                run["points"] == run["calls"]
                for c in report["cases"]
                for n in c
                if isinstance(c[n], dict) and "runs" in c[n]
                for run in c[n]["runs"]
            )
            else "**In some runs they differ from the calls** (a refused or retried call): see results.json."
        ),
    ]
    return "\n".join(lines) + "\n"


def _first_runs_table(cases: list[dict[str, Any]]) -> list[str]:
    """Each extractor's first run on a fresh emulator: what building the selections of its queries costs."""
    lines = [
        "",
        "First runs, not counted above: each extractor once on the fresh emulator, before the emulator has cached "
        "the sorted selection of any of its queries. Past the offset cap every continuation of ours is a new query "
        "(`ext_id > last`), whose selection the emulator makes by reading the `ext_id` of every call of the window "
        "and sorting them in Python on its one core (no record is built), while ours waits for it; naive's queries "
        "are one day each.",
        "",
        "| calls | latency | extractor | wall s | emulator CPU s | counted runs: wall s | counted runs: emulator CPU s |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for c in cases:
        for name, first in c.get("first_runs", {}).items():
            lines.append(
                f"| {c['calls_in_window']:,} | {c['latency_ms']} ms | {name} | {first['seconds']:.2f} "
                f"| {first['emulator_cpu_seconds']:.2f} | {c[name]['wall_s']:.2f} | {c[name]['emulator_cpu_s']:.2f} |"
            )
    return lines


def _cpu_table(case: dict[str, Any]) -> list[str]:
    """The client CPU per record by output format, on replayed pages."""
    cpu = case["cpu_replayed"]
    lines = [
        "",
        f"Client CPU per record by output format, {case['calls_in_window']:,} calls replayed (`bench/replay.py`: "
        "the emulator's answers stored once and served as bytes, so only the client works; each format's file "
        "checked byte-identical to the record-by-record path's):",
        "",
        "| output | runs | CPU us/record | wall s | records/s | record by record: CPU us/record | same bytes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name in FORMATS:
        e, reference = cpu[name], cpu[f"{name}, record by record"]
        same = case["checks"].get(f"{name} byte-identical to the record-by-record path")
        lines.append(
            f"| {name} | {len(e['runs'])} | {e['cpu_us_per_record']:.1f} | {e['wall_s']:.2f} "
            f"| {e['records_per_s']:,.0f} | {reference['cpu_us_per_record']:.1f} | {'yes' if same else '**no**'} |"
        )
    naive_run = cpu["naive, jsonl"]
    lines.append(
        f"| naive, jsonl | {len(naive_run['runs'])} | {naive_run['cpu_us_per_record']:.1f} "
        f"| {naive_run['wall_s']:.2f} | {naive_run['records_per_s']:,.0f} | | |"
    )
    codec = case.get("codec_floor_us_per_record") or {}
    if codec:
        parts = ", ".join(f"{name} {value:.2f}" for name, value in codec.items())
        lines += [
            "",
            f"What no client of this design can skip, on one page in one process (best of 5, CPU us per record): "
            f"{parts}; {sum(codec.values()):.1f} in all. The rest of the JSON-lines figure is reading the answers "
            "over HTTP, the page feed and the window check.",
        ]
    return lines


def _load_note(report: dict[str, Any]) -> str:
    """What else ran: the 1-minute load average at the start and end of the cases, and the note given."""
    loads = [load for case in report["cases"] for load in case.get("load_1min", [])]
    text = (
        f"The machine's 1-minute load average ranged {min(loads):.1f}-{max(loads):.1f} over the cases "
        "(2 would be ours and the emulator alone)."
        if loads
        else ""
    )
    if report.get("note"):
        text += " " + report["note"]
    return text


def plot(report: dict[str, Any], path: Path) -> None:
    """``results.png``: peak RSS and wall time against window size, ours and naive at each latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, wall) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"ours": "-o", "naive": "--s"}
    for latency in sorted({c["latency_ms"] for c in report["cases"]}):
        cases = sorted((c for c in report["cases"] if c["latency_ms"] == latency), key=lambda c: c["calls_in_window"])
        sizes = [c["calls_in_window"] for c in cases]
        for name, style in styles.items():
            label = f"{name}, {latency} ms"
            memory.plot(sizes, [c[name]["peak_rss_mb"] for c in cases], style, label=label)
            wall.plot(sizes, [c[name]["wall_s"] for c in cases], style, label=label)
        wall.plot(sizes, [c["floor_s"] for c in cases], ":^", label=f"measured floor, {latency} ms")
        if latency:
            wall.plot(sizes, [c["limit_s"] for c in cases], ":x", label=f"limit, {latency} ms")
            wall.plot(sizes, [c["ordered_limit_s"] for c in cases], ":+", label=f"ordered limit, {latency} ms")
    memory.set(xscale="log", xlabel="uploaded calls in the window", ylabel="peak RSS, MB", title="Peak memory")
    wall.set(xscale="log", yscale="log", xlabel="uploaded calls in the window", ylabel="wall time, s", title="Time")
    for axes in (memory, wall):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    memory.set_ylim(bottom=0)
    m = report["machine"]
    figure.suptitle(f"airflow-provider-uis vs a hand-written extractor ({m['cores']} cores, Python {m['python']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and write RESULTS.md, results.json and results.png."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small windows, one run each (a smoke test)")
    parser.add_argument("--out-dir", type=Path, help="where to write the results (default: bench/, or a temp dir)")
    parser.add_argument("--note", default="", help="what else ran on the machine, written into RESULTS.md")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:
        print("bench needs matplotlib for the plot: pip install 'airflow-provider-uis[bench]'", file=sys.stderr)
        return 2
    if list(_columns()) != naive.FIELDS:
        raise SystemExit("bench/naive.py must ask for the columns the operator asks for")
    plan = QUICK_RUNS if args.quick else RUNS
    out_dir = args.out_dir or (Path(tempfile.mkdtemp(prefix="uis-bench-")) if args.quick else HERE)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cases = []
    with tempfile.TemporaryDirectory(prefix="uis-bench-work-") as work:
        for (size, latency), runs in plan.items():
            variants = VARIANT_CASES[args.quick].get((size, latency), ())
            cpu_runs = CPU_RUNS[args.quick] if CPU_CASE[args.quick] == (size, latency) else 0
            cases.append(case_figures(run_case(size, latency, runs, variants, Path(work), cpu_runs)))
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "duration_s": time.monotonic() - started,
        "note": args.note,
        "machine": machine(),
        "settings": {
            "page_size": PAGE_SIZE,
            "window": [DATE_FROM, DATE_TILL],
            "timezone": TIMEZONE,
            "limit_concurrency": LIMIT_CONCURRENCY,
            "emulator_minute_limit": MINUTE_LIMIT,
        },
        "cases": cases,
    }
    report["targets"] = targets(cases)
    (out_dir / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "RESULTS.md").write_text(markdown(report), encoding="utf-8")
    plot(report, out_dir / "results.png")
    print(f"wrote {out_dir / 'RESULTS.md'}, results.json and results.png in {report['duration_s'] / 60:.1f} min")
    return 0


def _columns() -> tuple[str, ...]:
    from uis_provider.protocol.methods import UPLOADED_CALLS

    return UPLOADED_CALLS.columns


if __name__ == "__main__":
    sys.exit(main())
