"""A real local Airflow on loopback for the e2e run: a fresh home, the four components as processes, their REST API.

Every process is started in its own session (process group) and stopped by its pid: SIGTERM to the component first,
then SIGKILL to whatever is left of its group, so no worker or log server outlives the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests

log = logging.getLogger("e2e")
T = TypeVar("T")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STOP_GRACE_SECONDS = 20.0


class E2EFailure(Exception):
    """A check of the end-to-end run failed; the message says which and what was seen."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_command(
    argv: list[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 600.0
) -> str:
    """Run one command to completion and return its stdout; on failure raise with the tail of its output."""
    result = subprocess.run(  # noqa: S603 - argv is built by this script from absolute paths, never a shell
        argv,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise E2EFailure(f"{Path(argv[0]).name} {' '.join(argv[1:3])} ... exited {result.returncode}:\n{tail}")
    return result.stdout


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than ``None``; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise E2EFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Process:
    """One long-running process of the run, its own process group, its output in ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The pid (also the process group id, as it leads its own session)."""
        return self.popen.pid

    def check_alive(self) -> None:
        """Fail with the tail of its log when the process has exited."""
        code = self.popen.poll()
        if code is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise E2EFailure(f"{self.name} (pid {self.pid}) exited with {code}; its log ends:\n{tail}")

    def stop(self) -> None:
        """SIGTERM the process (twice: Airflow's executor waits for its workers after the first), then SIGKILL its group.

        Whatever is left of its process group (workers, log servers, task supervisors) is killed last.
        """
        for attempt in (1, 2):
            if self.popen.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_GRACE_SECONDS / 2)
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    log.warning("%s (pid %d) ignored SIGTERM twice: killing it", self.name, self.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class AirflowStack:
    """A fresh ``AIRFLOW_HOME`` (sqlite, LocalExecutor) run by the ``airflow`` of ``venv``, on loopback ports.

    Every command runs with the home as its working directory, so nothing is imported from this repository.
    """

    home: Path
    venv: Path
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    scheduler_health_port: int = field(default_factory=free_port)
    celery_workers: tuple[str, ...] = ()
    """Celery node names (``name@host``) of the workers ``start_all`` starts, when the executor is Celery."""
    worker_concurrency: int = 4
    processes: list[Process] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def base_url(self) -> str:
        """Where the API server (REST API and UI) listens."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dags_folder(self) -> Path:
        """The DAGs folder of this home."""
        return self.home / "dags"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every Airflow command: this home and nothing inherited from another Airflow."""
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV")) and key not in ("PYTEST_CURRENT_TEST",)
        }
        return {
            **inherited,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_health_port),
            "UIS_POKE_INTERVAL": "10",
            **self.extra_env,
        }

    def prepare(self) -> None:
        """Per-run secrets of Airflow itself (shared by all components), then ``airflow db migrate``."""
        from cryptography.fernet import Fernet

        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.extra_env.setdefault("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
        self.extra_env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(64))
        self.extra_env.setdefault("AIRFLOW__API__SECRET_KEY", secrets.token_hex(32))
        self.airflow("db", "migrate", timeout=300)

    def airflow(self, *args: str, timeout: float = 180.0) -> str:
        """Run one ``airflow`` CLI command of this home; its stdout.

        SQLite serialises writers: a CLI write racing the scheduler's can fail with "database is locked" and
        roll back. On SQLite such a command is run again, at most twice more; any other failure is raised at once.
        """
        argv = [str(self.venv / "bin" / "airflow"), *args]
        sqlite = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite")
        for attempt in range(3):
            try:
                return run_command(argv, env=self.env, cwd=self.home, timeout=timeout)
            except E2EFailure as exc:
                if not sqlite or "database is locked" not in str(exc) or attempt == 2:
                    raise
                log.info("airflow %s hit 'database is locked' (SQLite); running it again", " ".join(args[:2]))
                time.sleep(2.0)
        raise AssertionError("unreachable")

    def start(self, name: str, *args: str, label: str | None = None) -> Process:
        """Start ``airflow <name> <args>`` in its own process group, output to ``logs/<label or name>.log``."""
        label = label or name
        log_path = self.logs / f"{label}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(  # noqa: S603 - absolute path of the venv's airflow, fixed arguments
                [str(self.venv / "bin" / "airflow"), *name.split(), *args],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(label, popen, log_path)
        self.processes.append(process)
        log.info("started airflow %s (pid %d)", label, process.pid)
        return process

    def start_all(self) -> None:
        """Start api-server, scheduler, dag-processor, triggerer and the Celery workers (log servers off: logs
        are local files)."""
        self.start("api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        self.start("scheduler", "--skip-serve-logs")
        self.start("dag-processor")
        self.start("triggerer", "--skip-serve-logs")
        for node in self.celery_workers:
            self.start_celery_worker(node)

    def start_celery_worker(self, node: str) -> Process:
        """Start ``airflow celery worker`` as Celery node ``node``, with its own pid file and log."""
        label = f"worker-{node.partition('@')[0]}"
        return self.start(
            "celery worker",
            "--celery-hostname",
            node,
            "--concurrency",
            str(self.worker_concurrency),
            "--pid",
            str(self.home / f"{label}.pid"),
            "--skip-serve-logs",
            label=label,
        )

    def process(self, label: str) -> Process:
        """The started process named ``label``."""
        return next(p for p in self.processes if p.name == label)

    def stop_all(self) -> None:
        """Stop every started process by pid, newest first."""
        while self.processes:
            process = self.processes.pop()
            process.stop()
            log.info("stopped %s (pid %d)", process.name, process.pid)
        self.http.close()

    def check_alive(self) -> None:
        """Fail when any component has exited."""
        for process in self.processes:
            process.check_alive()

    # -- health --------------------------------------------------------------------------------------------------

    def _health(self) -> dict[str, Any] | None:
        self.check_alive()
        try:
            response = self.http.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    def _scheduler_health_ok(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.scheduler_health_port}/health"
            return self.http.get(url, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = 120.0) -> dict[str, str]:
        """Wait until the API server answers and reports a fresh heartbeat of scheduler, dag-processor, triggerer."""
        wait_for("the API server's /api/v2/monitor/health", self._health, timeout)
        log.info("api-server healthy on %s", self.base_url)

        def all_healthy() -> dict[str, str] | None:
            health = self._health() or {}
            states = {name: str((health.get(name) or {}).get("status")) for name in COMPONENT_HEALTH_KEYS}
            if all(state == "healthy" for state in states.values()) and self._scheduler_health_ok():
                return states
            return None

        states = wait_for("scheduler, dag-processor and triggerer heartbeats", all_healthy, timeout)
        log.info("healthy: %s; scheduler /health on port %d answers 200", states, self.scheduler_health_port)
        return states

    # -- REST API ------------------------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """GET a path of the API server; the JSON body (fails on any non-200)."""
        self.check_alive()
        response = self.http.get(f"{self.base_url}{path}", params=params or None, timeout=30)
        if response.status_code != 200:
            raise E2EFailure(f"GET {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to a path of the API server; the JSON body (fails on any non-2xx)."""
        self.check_alive()
        response = self.http.post(f"{self.base_url}{path}", json=body, timeout=30)
        if not 200 <= response.status_code < 300:
            raise E2EFailure(f"POST {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``."""
        return list(self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance of a run."""
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The deserialized XCom value a task pushed."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, deserialize="true")["value"]


COMPONENT_HEALTH_KEYS = ("scheduler", "dag_processor", "triggerer")
