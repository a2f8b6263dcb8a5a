"""The compatibility matrix: each supported Airflow line, on each Python tested with it, in a fresh virtualenv.

Per line (an Airflow version on a Python version): a new virtualenv under ``.compat/`` made by that Python,
``apache-airflow==<version>`` plus this package's wheel (with its ``test`` extra) pinned by
``constraints/airflow-<version>-py<python>.txt`` where that file exists, else ``constraints/airflow-<version>.txt``;
provider discovery (``airflow providers list`` and ``get_provider_info()`` validated against that Airflow's
provider-info schema), then the compat test subset. Lines run side by side (``--jobs``); each writes
``.compat/airflow-<version>-py<python>.log``. A Python the machine does not have fails its line.

``--freeze`` rewrites a line's constraints file from ``pip freeze`` of its environment (this project excluded) when
everything passed there: the per-Python file when the line used one or ``--constraints FILE`` gave a candidate set
for a Python other than :data:`REFERENCE_PYTHON`, else ``constraints/airflow-<version>.txt``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".compat"
CONSTRAINTS = REPO / "constraints"
DIST_NAME = "airflow-provider-uis"

#: The newest patch of every supported Airflow line.
VERSIONS = ("2.11.2", "3.0.6", "3.1.8", "3.2.2", "3.3.2")
#: The Python the shared constraints files were frozen on (CI's).
REFERENCE_PYTHON = "3.11"
#: What ``make compat`` runs: every line on the reference Python, the newest on every Python it supports here, and
#: the oldest on the newest Python it supports.
LINES = (
    *((version, REFERENCE_PYTHON) for version in VERSIONS),
    ("3.3.2", "3.10"),
    ("3.3.2", "3.12"),
    ("3.3.2", "3.13"),
    ("2.11.2", "3.12"),
)

#: Tests run on every line (the emulator's own tests are not: it does not touch Airflow): the hook (and test_connection), every operator, the sensor and trigger, the connection
#: form, discovery, asset events and manifests, the example DAGs (the asset consumer too) through dag.test()
#: against the emulator, the pytest plugin, and every example of the README and docs/ (their DAGs under dag.test(),
#: the testing recipe in a project of its own).
SUBSET = (
    "tests/test_connection_form.py",
    "tests/test_asset_events.py",
    "tests/test_lookback.py",
    "tests/storage/test_atomic.py",
    "tests/storage/test_manifest.py",
    "tests/storage/test_formats.py",
    "tests/storage/test_formats_typed.py",
    "tests/storage/test_rows.py",
    "tests/hooks/test_uis.py",
    "tests/operators",
    "tests/sensors",
    "tests/triggers",
    "tests/dags",
    "tests/docs",
)

#: Checks get_provider_info() against the provider-info schema shipped by the installed Airflow.
SCHEMA_CHECK = """
import importlib.resources, json, jsonschema
from uis_provider.get_provider_info import get_provider_info
schema = json.loads(importlib.resources.files("airflow").joinpath("provider_info.schema.json").read_text())
jsonschema.validate(get_provider_info(), schema)
import airflow
print("provider info valid against the schema of Airflow", airflow.__version__)
"""


@dataclass
class Result:
    """What happened to one line: each step's outcome, the tests' summary and how long the line took."""

    version: str
    python: str
    steps: dict[str, bool] = field(default_factory=dict)
    summary: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(self.steps.values())


def line_name(version: str, python: str) -> str:
    """``airflow-3.3.2-py3.10``: the line's virtualenv and log name."""
    return f"airflow-{version}-py{python}"


def constraints_for(version: str, python: str) -> Path:
    """The line's constraints file: the one for this Python when it exists, else the version's shared one."""
    specific = CONSTRAINTS / f"airflow-{version}-py{python}.txt"
    return specific if specific.exists() else CONSTRAINTS / f"airflow-{version}.txt"


def find_python(python: str) -> str | None:
    """An interpreter of ``python`` (``3.10``) that runs: pyenv's newest ``3.10.*``, else ``python3.10`` on the PATH
    (a pyenv shim of a version that is not selected is on the PATH but does not run)."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(
        Path(root).glob(f"versions/{python}.*/bin/python{python}"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    on_path = shutil.which(f"python{python}")
    for interpreter in [*map(str, reversed(candidates)), *([on_path] if on_path else [])]:
        if subprocess.run([interpreter, "-c", "pass"], capture_output=True).returncode == 0:
            return interpreter
    return None


def test_summary(log: Path) -> str:
    """pytest's last summary line in a line's log (``309 passed, 1 skipped in 201.3s``), without the ``=`` rule."""
    lines = [line.strip("= \n") for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    found = [line for line in lines if re.search(r"\b(passed|failed|error)\b.* in [\d.]+s", line)]
    return found[-1] if found else ""


def build_wheel(python: str) -> Path:
    """Build this package's wheel once for all versions (``pip wheel``, build isolation with hatchling)."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run(
        [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(REPO)], check=True
    )
    return next(dist.glob("*.whl"))


def run_line(version: str, python: str, wheel: Path, freeze: bool, candidate: Path | None = None) -> Result:
    """Install, discover and test one line in a fresh virtualenv; log to ``.compat/<line>.log``."""
    result = Result(version, python)
    started = time.monotonic()
    name = line_name(version, python)
    venv = WORK / name
    constraints = constraints_for(version, python)
    log_path = WORK / f"{name}.log"
    with (
        open(log_path, "w", encoding="utf-8") as log,
        tempfile.TemporaryDirectory(prefix=f"uis-compat-{name}-") as home,
    ):
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        bin_dir = venv / "bin"

        def step(step_name: str, command: list[str]) -> bool:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            ok = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT).returncode == 0
            result.steps[step_name] = ok
            log.write(f"[{step_name}: {'ok' if ok else 'FAILED'}]\n")
            log.flush()
            return ok

        shutil.rmtree(venv, ignore_errors=True)
        interpreter = find_python(python)
        source = candidate or constraints
        log.write(f"Python {python}: {interpreter}; constraints: {source}\n")
        if interpreter is None:
            log.write(f"no Python {python} on this machine (PATH or pyenv)\n")
            result.steps["python"] = False
        elif not source.exists():
            log.write(f"no constraints file {source}\n")
            result.steps["install"] = False
        elif (
            step("venv", [interpreter, "-m", "venv", str(venv)])
            and step(
                "install",
                [
                    str(bin_dir / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "-c",
                    str(source),
                    f"apache-airflow=={version}",
                    f"{DIST_NAME}[test] @ {wheel.as_uri()}",
                ],
            )
            and step("pip check", [str(bin_dir / "python"), "-m", "pip", "check"])
        ):
            providers = subprocess.run(
                [str(bin_dir / "airflow"), "providers", "list", "-o", "plain"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
            )
            log.write(providers.stdout[-4000:] + providers.stderr[-4000:])
            result.steps["providers list"] = providers.returncode == 0 and DIST_NAME in providers.stdout
            step("provider-info schema", [str(bin_dir / "python"), "-c", SCHEMA_CHECK])
            step("tests", [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET])
            if freeze and result.passed:
                target = frozen_target(version, python, constraints, candidate)
                frozen = subprocess.run(
                    [str(bin_dir / "python"), "-m", "pip", "freeze", "--exclude", DIST_NAME],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                CONSTRAINTS.mkdir(exist_ok=True)
                target.write_text(
                    f"# pip freeze of the environment where `make compat` passed on apache-airflow {version}\n"
                    f"# (Python {python}); this project itself excluded.\n" + frozen,
                    encoding="utf-8",
                )
                log.write(f"wrote {target}\n")
    result.summary = test_summary(log_path)
    result.seconds = time.monotonic() - started
    return result


def frozen_target(version: str, python: str, used: Path, candidate: Path | None) -> Path:
    """Where ``--freeze`` writes a passing line's set: see the module's docstring."""
    specific = CONSTRAINTS / f"airflow-{version}-py{python}.txt"
    if used == specific or (candidate is not None and python != REFERENCE_PYTHON):
        return specific
    return CONSTRAINTS / f"airflow-{version}.txt"


def parse_lines(text: str) -> list[tuple[str, str]]:
    """``3.3.2@3.10,2.11.2`` as lines; a version without ``@python`` means every line of that version."""
    lines: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        version, _, python = item.partition("@")
        lines.extend((v, p) for v, p in LINES if v == version and python in ("", p))
        if python and (version, python) not in LINES:
            lines.append((version, python))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--lines",
        default=",".join(f"{v}@{p}" for v, p in LINES),
        help="comma-separated VERSION[@PYTHON] (a version alone: all its lines of the matrix); default: the matrix",
    )
    parser.add_argument("--jobs", type=int, default=2, help="lines run side by side (default 2)")
    parser.add_argument("--freeze", action="store_true", help="rewrite each passing line's constraints file")
    parser.add_argument(
        "--constraints", type=Path, help="install with this file instead of the line's constraints file"
    )
    args = parser.parse_args()
    lines = parse_lines(args.lines)
    unknown = sorted({v for v, _ in lines} - set(VERSIONS)) or ([] if lines else [args.lines])
    if unknown:
        parser.error(f"--lines: {', '.join(unknown)} not in the supported versions {', '.join(VERSIONS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    WORK.mkdir(exist_ok=True)
    started = time.monotonic()
    wheel = build_wheel(sys.executable)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda line: run_line(*line, wheel, args.freeze, args.constraints), lines))

    print(f"\nAirflow compatibility matrix, {time.monotonic() - started:.0f} s")
    print(f"{'Airflow':<9} {'Python':<7} {'result':<7} {'time':>6}  tests")
    for r in results:
        failed_steps = [name for name, ok in r.steps.items() if not ok]
        detail = r.summary + (f"  FAILED: {', '.join(failed_steps)}" if failed_steps else "")
        print(f"{r.version:<9} {r.python:<7} {'pass' if r.passed else 'FAIL':<7} {r.seconds:>5.0f}s  {detail}")
    failed = [line_name(r.version, r.python) for r in results if not r.passed]
    if failed:
        print(f"failed: {', '.join(failed)} (logs: .compat/<line>.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
