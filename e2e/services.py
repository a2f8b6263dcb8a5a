"""The services a production-shaped Airflow needs, from Debian's packages, on loopback: PostgreSQL and Redis.

Each runs from a fresh temporary directory on a free port, in its own process group, and is stopped by its pid
(``stack.Process``). PostgreSQL refuses to run as root, so as root (CI) it runs as the ``postgres`` user that the
Debian package creates.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stack import E2EFailure, Process, free_port, run_command, wait_for

log = logging.getLogger("e2e")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = Path("/usr/bin/redis-server")
SETUP_HINT = "run `bash e2e/setup.sh` (as root: apt-get install -y postgresql redis-server)"


def _accepts(port: int) -> bool | None:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` (``None`` while nothing does)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return None


def _start(name: str, argv: list[str], log_path: Path, *, user: str | None = None) -> Process:
    """Start ``argv`` in its own process group (as ``user`` when given), output to ``log_path``."""
    with log_path.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - absolute paths of Debian's binaries, arguments built here
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            cwd="/",
        )
    log.info("started %s (pid %d)", name, popen.pid)
    return Process(name, popen, log_path)


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster: ``initdb`` in a temp dir, trust auth, listening on 127.0.0.1 only.

    Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the cluster lives for one run.
    """

    logs: Path
    port: int = field(default_factory=free_port)
    database: str = "airflow"
    process: Process | None = None
    data_dir: Path | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database Airflow uses."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> None:
        """initdb, start the server, wait until it accepts connections, create the database."""
        initdb = POSTGRES_BIN / "initdb"
        if not initdb.is_file():
            raise E2EFailure(f"{initdb} is missing: {SETUP_HINT}")
        user = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="uis-e2e-pg-"))
        self.data_dir = root / "data"
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(root, account.pw_uid, account.pw_gid)
        init = subprocess.run(  # noqa: S603 - Debian's initdb, fixed arguments
            [str(initdb), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            user=user,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if init.returncode != 0:
            raise E2EFailure(f"initdb failed ({init.returncode}): {(init.stdout + init.stderr)[-2000:]}")
        server = [
            str(POSTGRES_BIN / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={root}",
            "-c",
            "max_connections=300",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        self.process = _start("postgres", server, self.logs / "postgres.log", user=user)
        wait_for(f"PostgreSQL on port {self.port}", lambda: self._ready(), timeout=60)
        psql = [str(POSTGRES_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q"]
        run_command([*psql, "-c", f"CREATE DATABASE {self.database}"], timeout=60)
        log.info("PostgreSQL on 127.0.0.1:%d, database %s", self.port, self.database)

    def _ready(self) -> bool | None:
        assert self.process is not None
        self.process.check_alive()
        return _accepts(self.port)

    def stop(self) -> None:
        """Stop the server by its pid and remove its data directory."""
        if self.process is not None:
            self.process.stop()
            log.info("stopped postgres (pid %d)", self.process.pid)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)


@dataclass
class Redis:
    """A Redis server without persistence on 127.0.0.1, the Celery broker."""

    logs: Path
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def url(self) -> str:
        """The broker URL Celery takes."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start redis-server and wait until it accepts connections."""
        if not REDIS_SERVER.is_file():
            raise E2EFailure(f"{REDIS_SERVER} is missing: {SETUP_HINT}")
        argv = [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = _start("redis-server", argv, self.logs / "redis.log")

        def ready() -> bool | None:
            assert self.process is not None
            self.process.check_alive()
            return _accepts(self.port)

        wait_for(f"Redis on port {self.port}", ready, timeout=30)
        log.info("Redis on %s", self.url)

    def stop(self) -> None:
        """Stop the server by its pid."""
        if self.process is not None:
            self.process.stop()
            log.info("stopped redis-server (pid %d)", self.process.pid)
