"""The Airflow compatibility matrix: each supported Airflow line in a fresh virtualenv, with this provider.

Per version: a new virtualenv under ``.compat/``, ``apache-airflow==<version>`` plus this package's wheel (with its
``test`` extra) pinned by ``constraints/airflow-<version>.txt``, provider discovery (``airflow providers list`` and
``get_provider_info()`` validated against that Airflow's provider-info schema), then the compat test subset.
Versions run side by side (``--jobs``); each writes ``.compat/airflow-<version>.log``.

``--freeze`` rewrites a version's constraints file from ``pip freeze`` of its environment (this project excluded)
when everything passed there; ``--constraints FILE`` installs with another file instead (e.g. a candidate set).
"""

from __future__ import annotations

import argparse
import os
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

#: The newest patch of every supported Airflow line; the first Python run is the one of this machine.
VERSIONS = ("2.11.2", "3.0.6", "3.1.8", "3.2.2", "3.3.2")

#: Tests run on every line: the hook (and test_connection), every operator, the sensor and trigger, the connection
#: form, discovery, asset events and manifests, and the example DAGs (the asset consumer too) through dag.test()
#: against the emulator.
SUBSET = (
    "tests/test_connection_form.py",
    "tests/test_asset_events.py",
    "tests/test_lookback.py",
    "tests/storage/test_manifest.py",
    "tests/hooks/test_uis.py",
    "tests/operators",
    "tests/sensors",
    "tests/triggers",
    "tests/dags",
    "tests/testing",
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
    """What happened to one Airflow version: each step's outcome and how long the version took."""

    version: str
    steps: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(self.steps.values())


def build_wheel(python: str) -> Path:
    """Build this package's wheel once for all versions (``pip wheel``, build isolation with hatchling)."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run(
        [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(REPO)], check=True
    )
    return next(dist.glob("*.whl"))


def run_version(version: str, wheel: Path, python: str, freeze: bool, candidate: Path | None = None) -> Result:
    """Install, discover and test one Airflow version in a fresh virtualenv; log to ``.compat/airflow-<v>.log``."""
    result = Result(version)
    started = time.monotonic()
    venv = WORK / f"airflow-{version}"
    constraints = CONSTRAINTS / f"airflow-{version}.txt"
    with (
        open(WORK / f"airflow-{version}.log", "w", encoding="utf-8") as log,
        tempfile.TemporaryDirectory(prefix=f"uis-compat-{version}-") as home,
    ):
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        env.pop("VIRTUAL_ENV", None)
        bin_dir = venv / "bin"

        def step(name: str, command: list[str]) -> bool:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            ok = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT).returncode == 0
            result.steps[name] = ok
            log.write(f"[{name}: {'ok' if ok else 'FAILED'}]\n")
            log.flush()
            return ok

        shutil.rmtree(venv, ignore_errors=True)
        source = candidate or constraints
        pin = ["-c", str(source)]
        if not source.exists():
            log.write(f"no constraints file {source}\n")
            result.steps["install"] = False
        elif (
            step("venv", [python, "-m", "venv", str(venv)])
            and step(
                "install",
                [
                    str(bin_dir / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    *pin,
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
                frozen = subprocess.run(
                    [str(bin_dir / "python"), "-m", "pip", "freeze", "--exclude", DIST_NAME],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                CONSTRAINTS.mkdir(exist_ok=True)
                constraints.write_text(
                    f"# pip freeze of the environment where `make compat` passed on apache-airflow {version}\n"
                    f"# (Python {sys.version_info.major}.{sys.version_info.minor}); this project itself excluded.\n"
                    + frozen,
                    encoding="utf-8",
                )
                log.write(f"wrote {constraints}\n")
    result.seconds = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default=",".join(VERSIONS), help="comma-separated Airflow versions")
    parser.add_argument("--jobs", type=int, default=2, help="versions run side by side (default 2)")
    parser.add_argument("--freeze", action="store_true", help="rewrite each passing version's constraints file")
    parser.add_argument(
        "--constraints", type=Path, help="install with this file instead of constraints/airflow-<v>.txt"
    )
    parser.add_argument("--python", default=sys.executable, help="the Python that creates the virtualenvs")
    args = parser.parse_args()
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    unknown = sorted(set(versions) - set(VERSIONS))
    if unknown:
        parser.error(f"--versions: {', '.join(unknown)} not in the supported matrix {', '.join(VERSIONS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    WORK.mkdir(exist_ok=True)
    started = time.monotonic()
    wheel = build_wheel(args.python)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda v: run_version(v, wheel, args.python, args.freeze, args.constraints), versions))

    print(f"\nAirflow compatibility matrix (Python {sys.version.split()[0]}), {time.monotonic() - started:.0f} s")
    print(f"{'Airflow':<10} {'result':<8} {'time':>6}  steps")
    for r in results:
        steps = ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in r.steps.items())
        print(f"{r.version:<10} {'pass' if r.passed else 'FAIL':<8} {r.seconds:>5.0f}s  {steps}")
    failed = [r.version for r in results if not r.passed]
    if failed:
        print(f"failed: {', '.join(failed)} (logs: .compat/airflow-<version>.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
