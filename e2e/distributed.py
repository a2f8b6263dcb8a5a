"""The provider on a production-shaped Airflow (issue 12): PostgreSQL, CeleryExecutor with Redis, two workers, S3.

On loopback only, everything from Debian's packages and PyPI, started here and stopped by pid: PostgreSQL (metadata
DB), Redis (Celery broker), a moto S3 server and the UIS emulator (both in this process, so the run reads their
ground truth), ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two ``airflow celery
worker`` nodes. Outputs go to S3 only, so nothing relies on a filesystem the workers share. Checks:

1. a backfill of ``CONTENDED_DAYS`` Moscow days with ``ACTIVE_RUNS`` active runs, against a minute budget that is
   shorter than the load: every run succeeds on its first try, every day's object holds exactly the emulator's calls
   of that day, none twice; the points used and the refusals met are reported;
2. a second backfill during which one worker and all its processes are SIGKILLed while its extracts spool: the
   scheduler finds the lost task instances (short heartbeat timeout), they are retried on the other worker, the
   objects are exact and no partial or stray object exists; the killed spools are gone at the end (removed by later
   extracts: their owner is dead);
3. the deferrable sensor through the triggerer; the secret scan of every log.

    .venv/bin/python e2e/distributed.py            # or: make e2e-distributed
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from deferral import PROCESSED_AFTER
from outputs import check_rows, parse_rows
from run import (
    REPO,
    TERMINAL,
    TZ,
    Context,
    moscow_midnight,
    print_report,
    step_deferral,
    step_install,
    step_leaks,
    step_stack,
    wait_backfills_complete,
)
from services import Postgres, Redis
from stack import AirflowStack, E2EFailure, wait_for

from uis_provider.testing import UISEmulator

log = logging.getLogger("e2e")
DAILY = "uis_uploaded_calls_daily"
EXTRACT = "extract_uploaded_calls"
BUCKET, PREFIX, S3_CONN_ID, REGION = "uis-e2e", "uis", "aws_default", "us-east-1"
HISTORY_START, HISTORY_SEED = date(2026, 1, 1), 12
CONTENDED_DAYS, KILL_DAYS = 60, 16
HISTORY_DAYS = CONTENDED_DAYS + KILL_DAYS + 2
CALLS_PER_DAY = 400
ACTIVE_RUNS = 16
WORKERS = ("worker-a@uis-e2e-a", "worker-b@uis-e2e-b")
WORKER_CONCURRENCY = 4
# a shortened minute: MINUTE_POINTS points per MINUTE_WINDOW seconds, fewer than the workers' slots ask for at once
# (8 slots, 2 points a day-task); at least 5, the weight of the deferral step's upload.calls
MINUTE_POINTS, MINUTE_WINDOW = 6, 4.5
HEARTBEAT_TIMEOUT = 30
RETRY_DELAY = 5
SPOOL_PREFIX = ".uis-spool-"


@dataclass
class Budget:
    """What the emulator saw of the budget over a stretch of the run."""

    calls: int = 0
    points: int = 0
    refusals: int = 0


def budget_since(api: UISEmulator, first: int) -> Budget:
    """Calls, points charged and ``limit_exceeded`` refusals among the emulator's requests from ``first`` on (the day
    budget is far from reached here, so every refusal is a per-minute one)."""
    seen = Budget()
    for entry in api.requests[first:]:
        if not entry["method"]:
            continue
        seen.calls += 1
        seen.points += int(entry.get("points") or 0)
        if entry.get("error") == "limit_exceeded":
            seen.refusals += 1
    return seen


@dataclass
class S3:
    """The moto S3 server (threaded, in this process) and a client to read what landed in it."""

    server: Any = None
    client: Any = None
    endpoint_url: str = ""

    def start(self) -> None:
        """Start moto's S3 on a free loopback port and create the bucket."""
        import boto3
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        )
        self.client.create_bucket(Bucket=BUCKET)
        log.info("moto S3 on %s, bucket %s", self.endpoint_url, BUCKET)

    def connection(self) -> str:
        """The ``aws`` connection (for ``AIRFLOW_CONN_AWS_DEFAULT``) that reaches this server."""
        extra = {"endpoint_url": self.endpoint_url, "region_name": REGION}
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read(self, kind: str, day: date) -> tuple[str, list[dict[str, Any]]]:
        """The object of a kind for a Moscow day, and its records."""
        key = object_key(kind, day)
        try:
            body = self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise E2EFailure(f"expected object s3://{BUCKET}/{key} does not exist") from None
        return f"s3://{BUCKET}/{key}", parse_rows(body)

    def stop(self) -> None:
        """Stop the server."""
        if self.server is not None:
            self.server.stop()


def object_key(kind: str, day: date) -> str:
    """The key the DAGs write a kind's day to."""
    return f"{PREFIX}/{kind}/date={day.isoformat()}/part-0.jsonl"


@dataclass
class Sampler:
    """The most runs seen active at once while waiting."""

    most_running: int = 0

    def note(self, runs: list[dict[str, Any]]) -> None:
        """Count the runs of ``runs`` that are running now."""
        self.most_running = max(self.most_running, sum(1 for r in runs if r["state"] == "running"))


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def day_of(run: dict[str, Any]) -> date:
    """The Moscow day a run's data interval covers."""
    return _dt(run["data_interval_start"]).astimezone(TZ).date()


def all_runs(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    """Every run of ``dag_id`` (pages through the REST API)."""
    runs: list[dict[str, Any]] = []
    while True:
        page = stack.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, offset=len(runs))["dag_runs"]
        runs.extend(page)
        if len(page) < 100:
            return runs


def task_instances(stack: AirflowStack, dag_id: str, task_id: str = EXTRACT) -> list[dict[str, Any]]:
    """Every task instance of ``task_id`` in ``dag_id`` (all runs); by default the daily DAG's extract (its lookback
    tasks take no API call and, with nothing to re-land, are skipped)."""
    tis: list[dict[str, Any]] = []
    while True:
        page = stack.get(f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", task_id=task_id, limit=100, offset=len(tis))
        tis.extend(page["task_instances"])
        if len(page["task_instances"]) < 100:
            return tis


def backfill(stack: AirflowStack, first: date, last: date) -> list[date]:
    """Create a backfill of the Moscow days ``first``..``last`` with ``ACTIVE_RUNS`` active runs; the days."""
    stack.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAILY,
        "--from-date",
        moscow_midnight(first).isoformat(),
        "--to-date",
        moscow_midnight(last).isoformat(),
        "--max-active-runs",
        str(ACTIVE_RUNS),
    )
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def wait_backfill(stack: AirflowStack, days: list[date], sampler: Sampler, timeout: float) -> list[dict[str, Any]]:
    """Wait until the runs of ``days`` are all finished; fail naming the ones that did not succeed."""
    wanted = set(days)

    def finished() -> list[dict[str, Any]] | None:
        runs = [r for r in all_runs(stack, DAILY) if r["run_type"] == "backfill" and day_of(r) in wanted]
        sampler.note(runs)
        return runs if len(runs) == len(wanted) and all(r["state"] in TERMINAL for r in runs) else None

    runs = wait_for(f"{len(days)} backfill runs of {DAILY}", finished, timeout=timeout, interval=2.0)
    failed = sorted(str(day_of(r)) for r in runs if r["state"] != "success")
    if failed:
        raise E2EFailure(f"{len(failed)} runs of {DAILY} failed, days {failed[:10]}")
    return runs


def check_outputs(ctx: Context, s3: S3, api: UISEmulator, days: list[date]) -> list[int]:
    """Every day's object is exactly the emulator's calls of that day, no call in two days; the counts."""
    seen: set[str] = set()
    counts = []
    for day in days:
        ids = check_rows(*s3.read("uploaded_calls", day), api, day)
        if seen & set(ids):
            raise E2EFailure(f"calls of {day} were also written for another day: {sorted(seen & set(ids))[:3]}")
        seen.update(ids)
        counts.append(len(ids))
    return counts


def check_no_stray_objects(stack: AirflowStack, s3: S3) -> int:
    """The output prefix holds one object and its manifest per run of the DAG and nothing else: no partial or temp
    object.

    Runs besides the backfills count too: on unpause the scheduler runs the latest interval (``catchup=False``).
    """
    objects = {object_key("uploaded_calls", day_of(run)) for run in all_runs(stack, DAILY)}
    expected = objects | {f"{key}.manifest.json" for key in objects}
    keys = set(s3.keys(f"{PREFIX}/uploaded_calls/"))
    stray = sorted(keys - expected)
    if stray:
        raise E2EFailure(f"objects no run should have written: {stray[:5]} ({len(stray)})")
    return len(keys)


def step_contended_backfill(
    ctx: Context, stack: AirflowStack, api: UISEmulator, s3: S3, minute: tuple[int, float]
) -> None:
    """Step 2: many days at once on two workers against a minute budget (points, seconds) they must share.

    With the committed budget (``MINUTE_POINTS`` per ``MINUTE_WINDOW``) at least one per-minute refusal must be met,
    or the step proved nothing about sharing; a looser budget given on the command line only reports them.
    """
    points, window = minute
    contended = minute == (MINUTE_POINTS, MINUTE_WINDOW)
    stack.airflow("dags", "unpause", DAILY)
    first = len(api.requests)
    started = time.monotonic()
    days = backfill(stack, HISTORY_START, HISTORY_START + timedelta(days=CONTENDED_DAYS - 1))
    sampler = Sampler()
    wait_backfill(stack, days, sampler, timeout=900)
    elapsed = time.monotonic() - started
    counts = check_outputs(ctx, s3, api, days)
    check_no_stray_objects(stack, s3)
    wait_backfills_complete(stack, DAILY)  # Airflow allows one running backfill per DAG: the next step starts one
    tis = [ti for ti in task_instances(stack, DAILY) if ti["dag_run_id"].startswith("backfill__")]
    retried = sorted(ti["dag_run_id"] for ti in tis if ti["try_number"] != 1)
    if retried:
        raise E2EFailure(f"{len(retried)} runs needed more than one try, e.g. {retried[:5]}")
    if sampler.most_running < ACTIVE_RUNS:
        raise E2EFailure(f"at most {sampler.most_running} runs were active at once, expected {ACTIVE_RUNS}")
    budget = budget_since(api, first)
    if contended and budget.refusals == 0:
        raise E2EFailure(
            f"no call met a per-minute refusal ({budget.calls} calls): the budget of {points} points per "
            f"{window:g} s forced no contention; lower it"
        )
    floor = budget.points / points * window
    ctx.note(
        f"contended backfill: {len(days)} days ({sum(counts)} calls = the emulator's, none twice), up to "
        f"{sampler.most_running} runs active, every run succeeded on its first try in {elapsed:.0f} s; "
        f"{budget.points} points ({budget.calls} calls), {budget.refusals} per-minute refusals, budget "
        f"{points} points / {window:g} s (floor {floor:.0f} s)"
    )


def _session(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def processes_in_session(sid: int) -> list[int]:
    """Every live pid of session ``sid``: a worker, its pool, the supervisors and the task runners, which Airflow
    puts in process groups of their own (so killing the worker's group alone would leave them running)."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if _session(pid) == sid]


def signal_session(sid: int, signum: int) -> list[int]:
    """Send ``signum`` to every process of session ``sid``; the pids signalled."""
    pids = processes_in_session(sid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    return pids


def freeze_session(sid: int) -> list[int]:
    """SIGSTOP every process of session ``sid`` until none is left running, so that what they hold open can be read
    and cannot change before the kill; a process forked while the first stops went out is stopped by the next round."""
    stopped: set[int] = set()
    while True:
        fresh = set(processes_in_session(sid)) - stopped
        if not fresh:
            return sorted(stopped)
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= fresh


def kill_session(sid: int) -> list[int]:
    """SIGKILL every process of session ``sid`` at once, as when its machine dies; the pids killed."""
    return signal_session(sid, signal.SIGKILL)


def open_spools(pids: list[int], spool_dir: Path) -> dict[int, set[str]]:
    """Which of ``pids`` hold which spool files of ``spool_dir`` open."""
    held: dict[int, set[str]] = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(FileNotFoundError, PermissionError):
                    target = os.readlink(fd)
                    if Path(target).parent == spool_dir and Path(target).name.startswith(SPOOL_PREFIX):
                        held.setdefault(pid, set()).add(Path(target).name)
    return held


def spools(spool_dir: Path) -> set[str]:
    """The spool files in ``spool_dir`` now."""
    return {p.name for p in spool_dir.iterdir() if p.name.startswith(SPOOL_PREFIX)}


def step_kill_worker(ctx: Context, stack: AirflowStack, api: UISEmulator, s3: S3, spool_dir: Path) -> None:
    """Step 3: SIGKILL one worker and its processes while its extracts spool; retried on the other worker, exact."""
    first_day = HISTORY_START + timedelta(days=CONTENDED_DAYS)
    days = backfill(stack, first_day, first_day + timedelta(days=KILL_DAYS - 1))
    victim = stack.process(f"worker-{WORKERS[0].partition('@')[0]}")
    survivor = stack.process(f"worker-{WORKERS[1].partition('@')[0]}")

    def frozen_spooling() -> dict[int, set[str]] | None:
        """Freeze the victim once it holds a spool; what it holds then is what the kill leaves behind (a spool seen
        open a moment before the kill could be finished and removed by then, and the kill would prove nothing)."""
        if not open_spools(processes_in_session(victim.pid), spool_dir):
            return None
        held = open_spools(freeze_session(victim.pid), spool_dir)
        if not held:
            signal_session(victim.pid, signal.SIGCONT)
        return held or None

    held = wait_for(f"{victim.name} to spool an extract", frozen_spooling, timeout=300, interval=0.1)
    running = [ti for ti in task_instances(stack, DAILY) if ti["state"] == "running"]
    group = kill_session(victim.pid)
    victim.popen.wait(timeout=30)
    killed_at = time.monotonic()
    left = spools(spool_dir)
    killed_spools = set().union(*held.values())
    log.info("SIGKILLed %s (session %d: %d processes) holding spools %s", victim.name, victim.pid, len(group), held)
    stack.processes.remove(victim)
    wait_for("the killed processes to be gone", lambda: None if processes_in_session(victim.pid) else True, 30)
    if not killed_spools <= left:
        raise E2EFailure(f"spools {sorted(killed_spools - left)} vanished at the kill: the check proves nothing")
    lost = sorted(ti["dag_run_id"] for ti in running if ti.get("pid") in group)

    runs = wait_backfill(stack, days, Sampler(), timeout=600)
    recovered_after = time.monotonic() - killed_at
    counts = check_outputs(ctx, s3, api, days)
    objects = check_no_stray_objects(stack, s3)
    tis = {
        ti["dag_run_id"]: ti
        for ti in task_instances(stack, DAILY)
        if ti["dag_run_id"] in {r["dag_run_id"] for r in runs}
    }
    retried = sorted(run_id for run_id, ti in tis.items() if ti["try_number"] > 1)
    if not lost:
        raise E2EFailure(f"no running task instance had its pid among the killed {group}: {running}")
    if set(lost) - set(retried):
        raise E2EFailure(f"task instances lost with the worker were not retried: {sorted(set(lost) - set(retried))}")
    stale = killed_spools & spools(spool_dir)
    if stale:
        raise E2EFailure(f"spools of killed tasks are still in {spool_dir}: {sorted(stale)}")
    ctx.note(
        f"SIGKILL of {victim.name} and every process it started ({len(group)}) while {len(killed_spools)} of its "
        f"extracts spooled: {len(lost)} lost task instances found and retried on {survivor.name} (all {len(days)} runs "
        f"succeeded {recovered_after:.0f} s after the kill; {len(retried)} runs took a 2nd try); {sum(counts)} "
        f"calls exact; bucket holds exactly {objects} objects; the killed spools were removed by later extracts"
    )


def wait_workers(stack: AirflowStack) -> None:
    """Wait until both Celery workers report ready in their logs."""
    for node in WORKERS:
        worker = stack.process(f"worker-{node.partition('@')[0]}")

        def ready(worker: Any = worker, node: str = node) -> bool | None:
            worker.check_alive()
            return True if f"{node} ready." in worker.log_path.read_text(errors="replace") else None

        wait_for(f"Celery worker {node} to be ready", ready, timeout=180)
    log.info("Celery workers ready: %s", ", ".join(WORKERS))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workdir_for(args: argparse.Namespace) -> Iterator[Path]:
    """The run's work directory; removed after a successful run unless ``--keep``."""
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=False)
        yield args.workdir.resolve()
        return
    (REPO / ".e2e").mkdir(exist_ok=True)
    yield Path(tempfile.mkdtemp(prefix="distributed-", dir=REPO / ".e2e"))


def main(argv: list[str] | None = None) -> int:
    """Run every step; stop every process whatever happens; print the report; 0 only if all checks passed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--airflow-version", default="3.3.2", help="apache-airflow to install next to the wheel")
    parser.add_argument("--workdir", type=Path, help="work directory (default: a new one under .e2e/)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a successful run")
    parser.add_argument("--venv", type=Path, help="reuse a venv a former run installed (skips the build)")
    parser.add_argument("--minute-points", type=int, default=MINUTE_POINTS, help="the emulator's minute budget")
    parser.add_argument("--minute-window", type=float, default=MINUTE_WINDOW, help="its 'minute', in seconds")
    args = parser.parse_args(argv)
    started = time.monotonic()
    failure: str | None = None
    with workdir_for(args) as workdir:
        ctx = Context(workdir=workdir)
        logs, spool_dir = workdir / "logs", workdir / "tmp"
        logs.mkdir(parents=True)
        spool_dir.mkdir()
        log.info("e2e-distributed work directory: %s", workdir)
        api = UISEmulator(
            calls=CALLS_PER_DAY * HISTORY_DAYS,
            seed=HISTORY_SEED,
            start=HISTORY_START.isoformat(),
            days=HISTORY_DAYS,
            api_keys={ctx.api_key: "valid"},
            users={ctx.login: ctx.password},
            minute_limit=args.minute_points,
            minute_window=args.minute_window,
            new_seconds=PROCESSED_AFTER / 2,
            process_seconds=PROCESSED_AFTER,
        )
        postgres, redis, s3 = Postgres(logs), Redis(logs), S3()
        stack: AirflowStack | None = None
        try:
            venv = (
                args.venv.resolve()
                if args.venv
                else step_install(ctx, args.airflow_version, extras=("s3", "e2e-distributed"))
            )
            api.start()
            postgres.start()
            redis.start()
            s3.start()
            # login/password: every task opens a session, so the secret scan also looks for session tokens
            uis = {"conn_type": "uis", "host": api.url, "login": ctx.login, "password": ctx.password}
            stack = AirflowStack(
                home=workdir / "airflow-home",
                venv=venv,
                logs=logs,
                celery_workers=WORKERS,
                worker_concurrency=WORKER_CONCURRENCY,
                extra_env={
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CORE__PARALLELISM": str(ACTIVE_RUNS),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
                    "AIRFLOW__CELERY__BROKER_URL": redis.url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{postgres.url}",
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                    "AIRFLOW_CONN_UIS_DEFAULT": json.dumps(uis),
                    f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": s3.connection(),
                    "UIS_OUTPUT_ROOT": f"s3://{S3_CONN_ID}@{BUCKET}/{PREFIX}",
                    "UIS_RETRY_DELAY": str(RETRY_DELAY),
                    "TMPDIR": str(spool_dir),
                },
            )
            step_stack(ctx, stack)
            wait_workers(stack)
            step_contended_backfill(ctx, stack, api, s3, (args.minute_points, args.minute_window))
            step_kill_worker(ctx, stack, api, s3, spool_dir)
            time.sleep(args.minute_window)  # a fresh window for the deferral step's upload.calls (5 points)
            step_deferral(ctx, stack, api, outputs=s3.read)
            step_leaks(ctx, stack, api)
        except E2EFailure as exc:
            failure = str(exc)
        except (KeyboardInterrupt, SystemExit) as exc:
            failure = f"interrupted ({type(exc).__name__} {exc})"
        except Exception as exc:
            log.exception("the e2e-distributed run crashed")
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            if stack is not None:
                stack.stop_all()
            redis.stop()
            postgres.stop()
            s3.stop()
            api.stop()
            log.info("every process stopped")
        print_report(ctx, failure, time.monotonic() - started)
        if failure is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if failure is None else 1


if __name__ == "__main__":
    sys.exit(main())
