"""The provider in the Airflow a user runs (issue 5): wheel, real components, the UI form, backfill, deferral, leaks.

On loopback only: builds the wheel and installs it with apache-airflow into a fresh venv; starts the UIS emulator
(in this process, so the run can read its ground truth and move its clock) and ``airflow api-server``,
``scheduler``, ``dag-processor`` and ``triggerer`` on a fresh ``AIRFLOW_HOME``; checks provider discovery; adds
connections through the UI form in headless Chromium and tests them; backfills days of history and checks every
file against the emulator; reruns a day and checks it is byte-identical; checks the asset-scheduled consumer ran once
per landed window and loaded it; lets the deferrable sensor defer to the
triggerer; scans every log for secrets; stops every process by pid. Exit status 0 only when every check passed.

    .venv/bin/python e2e/run.py            # or: make e2e
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from consumer import CONSUMER, check_consumer
from deferral import PROCESSED_AFTER, run_deferred
from leaks import log_files, scan
from outputs import check_day, check_rows, read_rows
from stack import AirflowStack, E2EFailure, run_command, wait_for

from uis_provider.get_provider_info import get_provider_info
from uis_provider.testing import UISEmulator

REPO = Path(__file__).resolve().parent.parent
DIST_NAME = "airflow-provider-uis"
TZ = ZoneInfo("Europe/Moscow")
DAILY = "uis_uploaded_calls_daily"
SENSED = "uis_upload_then_extract"
HISTORY_CALLS, HISTORY_SEED, HISTORY_START, HISTORY_DAYS = 3000, 11, "2026-01-01", 31
BACKFILL_FIRST, BACKFILL_LAST = date(2026, 1, 5), date(2026, 1, 7)
RERUN_DAY = date(2026, 1, 6)
USER_ID = 4242
SCREENSHOTS = (REPO / "docs" / "img" / "connection-form.png", REPO / "docs" / "img" / "connection-form-extra.png")
TERMINAL = ("success", "failed")

log = logging.getLogger("e2e")


@dataclass
class Context:
    """What the steps share: the work dir, this run's credentials (fresh random secrets), the report lines."""

    workdir: Path
    login: str = "analyst@example.com"
    password: str = field(default_factory=lambda: f"pw-{secrets.token_urlsafe(18)}")
    wrong_password: str = field(default_factory=lambda: f"wrong-{secrets.token_urlsafe(12)}")
    api_key: str = field(default_factory=lambda: f"key-{secrets.token_hex(16)}")
    report: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        """Log a finished check and keep it for the final report."""
        log.info("OK  %s", line)
        self.report.append(line)


def moscow_midnight(day: date) -> datetime:
    """00:00 of ``day`` in Moscow, as an aware datetime."""
    return datetime.combine(day, datetime.min.time(), TZ)


def step_install(ctx: Context, airflow_version: str, extras: tuple[str, ...] = ()) -> Path:
    """Step 1a: build the wheel and install it (with ``extras``) and apache-airflow into a fresh venv, as a user
    would."""
    dist = ctx.workdir / "dist"
    run_command([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)], timeout=300)
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise E2EFailure(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    venv = ctx.workdir / "venv"
    run_command([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    # with the project's constraints, as Airflow's install docs tell users to pin with a constraints file
    constraints = str(REPO / "constraints.txt")
    wheel = f"{wheels[0]}[{','.join(extras)}]" if extras else str(wheels[0])
    install = [python, "-m", "pip", "install", "--quiet", "-c", constraints, wheel]
    run_command([*install, f"apache-airflow=={airflow_version}"], timeout=900)
    where = run_command([python, "-c", "import uis_provider; print(uis_provider.__file__)"], cwd=venv).strip()
    if not Path(where).is_relative_to(venv):
        raise E2EFailure(f"the venv imports uis_provider from {where}, not from the installed wheel")
    with_extras = f"[{','.join(extras)}]" if extras else ""
    ctx.note(
        f"built {wheels[0].name}; installed it{with_extras} with apache-airflow=={airflow_version} into a fresh venv"
    )
    return venv


def step_stack(ctx: Context, stack: AirflowStack) -> None:
    """Step 1b: fresh home with the example DAGs, the four components started and healthy, the DAGs parsed."""
    shutil.copytree(REPO / "dags", stack.dags_folder, ignore=shutil.ignore_patterns("__pycache__"))
    stack.prepare()
    stack.start_all()
    states = stack.wait_healthy()

    def parsed() -> bool | None:
        for dag_id in (DAILY, SENSED, CONSUMER):
            response = stack.http.get(f"{stack.base_url}/api/v2/dags/{dag_id}", timeout=10)
            if response.status_code != 200:
                return None
        return True

    wait_for(f"the dag-processor to parse {DAILY}, {SENSED} and {CONSUMER}", parsed, timeout=120)
    errors = stack.get("/api/v2/importErrors")
    if errors["total_entries"]:
        raise E2EFailure(f"DAG import errors: {json.dumps(errors['import_errors'])[:2000]}")
    ctx.note(f"api-server, scheduler, dag-processor, triggerer up ({states}); DAGs parsed, no import errors")


def step_discovery(ctx: Context, stack: AirflowStack, version: str) -> None:
    """Step 2: ``airflow providers list`` and ``/ui/connections/hook_meta`` show what the provider declares."""
    providers = json.loads(stack.airflow("providers", "list", "--output", "json"))
    ours = [p for p in providers if p.get("package_name") == DIST_NAME]
    if not ours or ours[0].get("version") != version:
        raise E2EFailure(f"`airflow providers list` shows {ours or 'no'} {DIST_NAME} (expected version {version})")
    declared = next(t for t in get_provider_info()["connection-types"] if t["connection-type"] == "uis")
    meta = [m for m in stack.get("/ui/connections/hook_meta") if m.get("connection_type") == "uis"]
    if len(meta) != 1:
        raise E2EFailure(f"/ui/connections/hook_meta lists {len(meta)} entries of type uis")
    uis = meta[0]
    behaviour = declared["ui-field-behaviour"]
    problems = []
    if uis["hook_name"] != declared["hook-name"]:
        problems.append(f"hook_name {uis['hook_name']!r}")
    fields = uis["standard_fields"]
    for name, title in behaviour["relabeling"].items():
        if (fields.get(name) or {}).get("title") != title:
            problems.append(f"{name} titled {(fields.get(name) or {}).get('title')!r}, not {title!r}")
    for name in behaviour["hidden-fields"]:
        key = "url_schema" if name == "schema" else name
        if not (fields.get(key) or {}).get("hidden"):
            problems.append(f"{name} not hidden")
    extras = uis["extra_fields"]
    for name, spec in declared["conn-fields"].items():
        if (extras.get(name) or {}).get("schema", {}).get("title") != spec["label"]:
            problems.append(f"extra field {name} missing or mislabelled")
    if problems:
        raise E2EFailure(f"hook_meta of uis differs from get_provider_info(): {problems}")
    ctx.note(
        f"discovery: providers list shows {DIST_NAME} {version}; hook_meta has '{uis['hook_name']}' with "
        f"{len(behaviour['relabeling'])} relabels, hidden {behaviour['hidden-fields']}, extras {sorted(extras)}"
    )


def step_ui(ctx: Context, stack: AirflowStack, api: UISEmulator) -> None:
    """Step 3: add connections through the form in Chromium, screenshot it, and "Test" them."""
    from ui_connection_form import ConnectionInput, exercise_connection_form  # Playwright: only this step needs it

    connections = [
        ConnectionInput("uis_default", api.url, ctx.password, login=ctx.login, user_id=USER_ID),
        ConnectionInput("uis_api_key", api.url, ctx.api_key),
        ConnectionInput("uis_wrong_password", api.url, ctx.wrong_password, login=ctx.login),
    ]
    report = exercise_connection_form(
        stack.base_url, connections, screenshots=SCREENSHOTS, user_data_dir=ctx.workdir / "chromium-profile"
    )
    stored = stack.get("/api/v2/connections/uis_default")
    extra = json.loads(stored.get("extra") or "{}")
    if (stored["conn_type"], stored["host"], stored["login"], extra.get("user_id")) != (
        "uis",
        api.url,
        ctx.login,
        USER_ID,
    ):
        raise E2EFailure(f"uis_default as stored differs from what was typed: {stored}")
    good = [report.outcomes[c] for c in ("uis_default", "uis_api_key")]
    bad = report.outcomes["uis_wrong_password"]
    for outcome in good:
        if not outcome.status or "Connected to" not in outcome.toast:
            raise E2EFailure(f"Test of {outcome.conn_id} did not report success: {outcome.toast!r}")
    if bad.status or "auth_error" not in bad.toast or "password" not in bad.toast:
        raise E2EFailure(f"Test with a wrong password did not fail clearly: {bad.toast!r}")
    bug = " (Airflow 3.3.2 port-0 bug apache/airflow#73298 seen and worked around)" if report.port_bug_seen else ""
    ctx.note(f"UI form: 3 connections saved, user_id stored as {USER_ID}, screenshots {[p.name for p in SCREENSHOTS]}")
    ctx.note(f"UI Test: success for login/password and API key; wrong password -> {bad.toast.splitlines()[-1]!r}{bug}")


def _wait_runs(stack: AirflowStack, dag_id: str, run_type: str, count: int, timeout: float) -> list[dict[str, Any]]:
    def finished() -> list[dict[str, Any]] | None:
        runs = [r for r in stack.dag_runs(dag_id) if r["run_type"] == run_type]
        return runs if len(runs) >= count and all(r["state"] in TERMINAL for r in runs) else None

    runs = wait_for(f"{count} {run_type} runs of {dag_id}", finished, timeout=timeout)
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:
        raise E2EFailure(f"runs of {dag_id} failed: {failed}")
    return runs


def wait_backfills_complete(stack: AirflowStack, dag_id: str) -> None:
    """The scheduler marks a backfill complete a moment after its last run; only then may another one start."""

    def complete() -> bool | None:
        backfills = stack.get("/api/v2/backfills", dag_id=dag_id)["backfills"]
        return True if backfills and all(b.get("completed_at") for b in backfills) else None

    wait_for(f"the backfills of {dag_id} to be marked complete", complete, timeout=60)


def _output(ctx: Context, kind: str, day: date) -> Path:
    return ctx.workdir / "output" / kind / f"date={day.isoformat()}" / "part-0.jsonl"


def step_backfill(ctx: Context, stack: AirflowStack, api: UISEmulator) -> None:
    """Step 4: unpause, backfill days of history, check every day against the emulator, rerun one day."""
    stack.airflow("dags", "unpause", CONSUMER)  # before any event, so it runs for every landed window
    stack.airflow("dags", "unpause", DAILY)
    stack.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAILY,
        "--from-date",
        moscow_midnight(BACKFILL_FIRST).isoformat(),
        "--to-date",
        moscow_midnight(BACKFILL_LAST).isoformat(),
    )
    days = [BACKFILL_FIRST + timedelta(days=n) for n in range((BACKFILL_LAST - BACKFILL_FIRST).days + 1)]
    runs = _wait_runs(stack, DAILY, "backfill", len(days), timeout=240)
    covered = sorted(
        datetime.fromisoformat(r["data_interval_start"].replace("Z", "+00:00")).astimezone(TZ).date() for r in runs
    )
    if covered != days:
        raise E2EFailure(f"the backfill ran the days {covered}, expected {days}")
    seen: set[str] = set()
    counts = []
    for day in days:
        ids = check_day(_output(ctx, "uploaded_calls", day), api, day)
        if seen & set(ids):
            raise E2EFailure(f"calls of {day} were also written for another day: {sorted(seen & set(ids))[:3]}")
        seen.update(ids)
        counts.append(len(ids))
    everything = {r["ext_id"] for r in api.records(f"{days[0]} 00:00:00", f"{days[-1] + timedelta(days=1)} 00:00:00")}
    if seen != everything:
        raise E2EFailure(f"the backfilled days hold {len(seen)} calls, the emulator {len(everything)} for the range")
    user_ids = {r["params"].get("user_id") for r in api.requests if r["method"] == "get.uploaded_calls" and r["params"]}
    if user_ids != {USER_ID}:
        raise E2EFailure(f"get.uploaded_calls went out with user_id {user_ids}, the form said {USER_ID}")
    ctx.note(f"backfill {days[0]}..{days[-1]}: {len(runs)} runs, {counts} calls = the emulator's, none twice")
    wait_backfills_complete(stack, DAILY)

    target = _output(ctx, "uploaded_calls", RERUN_DAY)
    before, stat = target.read_bytes(), target.stat()
    manifest = target.with_name(target.name + ".manifest.json")
    manifest_before = json.loads(manifest.read_text(encoding="utf-8"))
    requested = datetime.now().astimezone()
    stack.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAILY,
        "--from-date",
        moscow_midnight(RERUN_DAY).isoformat(),
        "--to-date",
        moscow_midnight(RERUN_DAY).isoformat(),
        "--reprocess-behavior",
        "completed",
    )
    logical = moscow_midnight(RERUN_DAY)

    def rerun_done() -> dict[str, Any] | None:
        for run in stack.dag_runs(DAILY):
            if datetime.fromisoformat(run["logical_date"].replace("Z", "+00:00")) != logical:
                continue
            ended = run.get("end_date")
            if run["state"] in TERMINAL and ended and datetime.fromisoformat(ended.replace("Z", "+00:00")) > requested:
                return dict(run)
        return None

    rerun = wait_for(f"the rerun of {RERUN_DAY}", rerun_done, timeout=180)
    if rerun["state"] != "success":
        raise E2EFailure(f"the rerun of {RERUN_DAY} ended {rerun['state']}")
    after = target.stat()
    if (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns):
        raise E2EFailure(f"the rerun of {RERUN_DAY} did not rewrite {target}")
    if target.read_bytes() != before:
        raise E2EFailure(f"the rerun of {RERUN_DAY} changed {target}")
    manifest_after = json.loads(manifest.read_text(encoding="utf-8"))
    if manifest_after["extracted_at"] == manifest_before["extracted_at"]:
        raise E2EFailure(f"the rerun of {RERUN_DAY} did not rewrite {manifest}")
    if {**manifest_after, "extracted_at": None} != {**manifest_before, "extracted_at": None}:
        raise E2EFailure(f"the rerun of {RERUN_DAY} changed {manifest} beyond its extraction time")
    if manifest_after["sha256"] != hashlib.sha256(before).hexdigest() or manifest_after["final"] is not True:
        raise E2EFailure(f"{manifest} does not describe {target}: {manifest_after}")
    ctx.note(
        f"rerun of {RERUN_DAY} with --reprocess-behavior completed: file rewritten, byte-identical; its manifest "
        "rewritten, equal but for extracted_at"
    )


OutputReader = Callable[[str, date], tuple[str, list[dict[str, Any]]]]
"""Where the output of a kind ("uploaded_calls") for a Moscow day lies, and its records."""


def local_outputs(ctx: Context) -> OutputReader:
    """Read outputs from the run's local output directory."""

    def read(kind: str, day: date) -> tuple[str, list[dict[str, Any]]]:
        path = _output(ctx, kind, day)
        return str(path), read_rows(path)

    return read


def step_consumer(ctx: Context, stack: AirflowStack) -> None:
    """Step 4b: the asset-scheduled consumer ran once per window the daily DAG landed, and loaded that window."""
    wait_idle(stack)  # every daily run (also the latest interval the scheduler started on unpause) has landed
    ctx.note(check_consumer(stack, DAILY, ctx.workdir / "warehouse.sqlite"))


def step_deferral(ctx: Context, stack: AirflowStack, api: UISEmulator, outputs: OutputReader | None = None) -> None:
    """Step 5: the upload-then-extract DAG; its sensor defers to the real triggerer and resumes."""
    run = run_deferred(stack, api, ctx.api_key, SENSED)
    if "deferred" not in run.states_seen:
        raise E2EFailure(f"the sensor was never seen deferred: {run.states_seen}")
    if run.probes_after_release < 1:
        raise E2EFailure("no poll reached the emulator after the uploads were processed: the trigger did not run")
    ti_logs = stack.home / "logs" / f"dag_id={SENSED}" / f"run_id={run.run_id}" / "task_id=wait_for_uploads"
    worker_log = (ti_logs / "attempt=1.log").read_text(errors="replace")
    trigger_logs = [p.read_text(errors="replace") for p in ti_logs.glob("attempt=1.log.trigger.*.log")]
    if "Pausing task as DEFERRED" not in worker_log or not any("Trigger fired event" in t for t in trigger_logs):
        raise E2EFailure(f"the logs under {ti_logs} do not show the deferral and the trigger firing on the triggerer")
    ids = check_rows(*(outputs or local_outputs(ctx))("uploaded_calls_settled", run.day), api, run.day)
    if not set(run.ext_ids) <= set(ids):
        raise E2EFailure(f"the settled output lacks uploaded calls: {sorted(set(run.ext_ids) - set(ids))[:3]}")
    truth = api.records(f"{run.day} 00:00:00", f"{run.day + timedelta(days=1)} 00:00:00")
    statuses: dict[str, int] = {}
    for record in truth:
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
    if run.summary.get("total") != len(truth) or run.summary.get("statuses") != statuses:
        raise E2EFailure(f"the sensor's summary {run.summary} differs from the emulator's statuses {statuses}")
    ctx.note(
        f"deferral: {SENSED} for {run.day}: sensor states {' -> '.join(run.states_seen)}; the triggerer's log shows "
        f"the trigger fire; {run.probes} probes; summary {statuses}; output = emulator"
    )


def step_leaks(ctx: Context, stack: AirflowStack, api: UISEmulator) -> None:
    """Step 6: no log holds the password, the API key or any session token the emulator issued."""
    tokens = api.issued_tokens
    if not tokens:
        raise E2EFailure("the emulator issued no session token: the scan would prove nothing")
    task_logs = [p for p in log_files(stack.home / "logs") if "dag_id=" in str(p)]
    if not task_logs:
        raise E2EFailure(f"no task logs under {stack.home / 'logs'}")
    wanted = {"password": ctx.password, "wrong password": ctx.wrong_password, "API key": ctx.api_key}
    wanted.update({f"session token #{n}": token for n, token in enumerate(tokens, 1)})
    result = scan(log_files(stack.home / "logs", stack.logs), wanted)
    if result.found:
        where = {name: [str(p.relative_to(ctx.workdir)) for p in paths][:3] for name, paths in result.found.items()}
        raise E2EFailure(f"secrets found in logs: {where}")
    ctx.note(
        f"no secret in {result.files} log files ({len(task_logs)} task logs, {result.bytes // 1024} KiB): "
        f"password, API key and {len(tokens)} session tokens checked"
    )


def wait_idle(stack: AirflowStack) -> None:
    """Let the runs the scheduler made on unpause (latest interval) finish before stopping, so none is cut off."""

    def idle() -> bool | None:
        runs = stack.dag_runs(DAILY) + stack.dag_runs(SENSED) + stack.dag_runs(CONSUMER)
        return True if all(r["state"] in TERMINAL for r in runs) else None

    with contextlib.suppress(E2EFailure):
        wait_for("the remaining runs to finish", idle, timeout=90)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM (a CI timeout, say) into SystemExit, so every started process is still stopped."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: Airflow version, work directory, whether to keep it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--airflow-version", default="3.3.2", help="apache-airflow to install next to the wheel")
    parser.add_argument("--workdir", type=Path, help="work directory (default: a new one under .e2e/)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory after a successful run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every step; stop every process whatever happens; print the report; 0 only if all checks passed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    started = time.monotonic()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=False)
        workdir = args.workdir.resolve()
    else:
        (REPO / ".e2e").mkdir(exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=REPO / ".e2e"))
    ctx = Context(workdir=workdir)
    log.info("e2e work directory: %s", workdir)
    version = str(get_provider_info()["versions"][0])
    failure: str | None = None
    api = UISEmulator(
        calls=HISTORY_CALLS,
        seed=HISTORY_SEED,
        start=HISTORY_START,
        days=HISTORY_DAYS,
        api_keys={ctx.api_key: "valid"},
        users={ctx.login: ctx.password},
        new_seconds=PROCESSED_AFTER / 2,
        process_seconds=PROCESSED_AFTER,
    )
    stack: AirflowStack | None = None
    try:
        venv = step_install(ctx, args.airflow_version)
        api.start()
        log.info("UIS emulator on %s (%d calls from %s)", api.url, HISTORY_CALLS, HISTORY_START)
        stack = AirflowStack(
            home=workdir / "airflow-home",
            venv=venv,
            logs=workdir / "logs",
            extra_env={
                "UIS_OUTPUT_ROOT": (workdir / "output").as_uri(),
                "UIS_WAREHOUSE": str(workdir / "warehouse.sqlite"),
            },
        )
        step_stack(ctx, stack)
        step_discovery(ctx, stack, version)
        step_ui(ctx, stack, api)
        step_backfill(ctx, stack, api)
        step_consumer(ctx, stack)
        step_deferral(ctx, stack, api)
        wait_idle(stack)
        step_leaks(ctx, stack, api)
    except E2EFailure as exc:
        failure = str(exc)
    except (KeyboardInterrupt, SystemExit) as exc:
        failure = f"interrupted ({type(exc).__name__} {exc})"
    except Exception as exc:
        log.exception("the e2e run crashed")
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        if stack is not None:
            stack.stop_all()
        api.stop()
        log.info("every process stopped")
    elapsed = time.monotonic() - started
    print_report(ctx, failure, elapsed)
    if failure is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if failure is None else 1


def print_report(ctx: Context, failure: str | None, elapsed: float) -> None:
    """The short report: each passed check, the failure if any, the runtime."""
    lines = ["", "e2e report", *(f"  ok    {line}" for line in ctx.report)]
    if failure is not None:
        lines += [f"  FAIL  {failure}", f"  logs and outputs kept in {ctx.workdir}"]
    lines.append(f"  {'PASSED' if failure is None else 'FAILED'} in {elapsed:.0f} s")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
