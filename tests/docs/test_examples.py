"""Every code example in README.md and docs/ runs here, so a renamed parameter breaks a test, not a user.

Python blocks run in order, one namespace per page (as a reader would paste them), against the emulator as
``uis_default`` and a moto S3 server as ``aws_s3`` / ``aws_default`` on loopback, with every bucket a page names.
The DAGs in :data:`RUN_DAGS` also run with ``dag.test()`` and their output is compared with the emulator's own
records. Shell blocks are parsed, not run: ``make`` targets must exist in the Makefile, ``airflow`` commands must
parse with Airflow's own CLI parser, emulator flags with the emulator's parser, ``pip install`` extras must be
declared by the installed distribution. A fence in any other language than ``text`` (printed output) fails, so no
example goes unchecked.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from sybil import Document, Example
from sybil.parsers.myst import CodeBlockParser, PythonCodeBlockParser

from tests.conftest import MotoS3, airflow_store_cache, dag_test
from uis_provider.testing import UISEmulator

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(p for p in (REPO / "docs").rglob("*.md") if "_build" not in p.parts)])
#: Fence languages with a checker here; directive fences (``{include}``, ``{toctree}``, ...) are Sphinx's business.
CHECKED_LANGUAGES = {"python", "bash"}
#: Fences that show what a program printed, not code to run.
OUTPUT_LANGUAGES = {"text"}
TZ = "Europe/Moscow"
#: The run every executed DAG gets: data interval [2026-01-04, 2026-01-05) Moscow time.
LOGICAL_DATE = pendulum.datetime(2026, 1, 5, tz=TZ)


def page_id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# -- shell blocks ---------------------------------------------------------------------------------------------


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(encoding="utf-8"), flags=re.M))


def declared_extras() -> set[str]:
    return set(importlib.metadata.metadata("airflow-provider-uis").get_all("Provides-Extra") or [])


def shell_commands(source: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines joined, comments dropped, leading ``VAR=value`` removed."""
    commands = []
    for line in source.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words.pop(0)
        if words:
            commands.append(words)
    return commands


#: Commands the pages print in their Airflow 3 form; the text names the Airflow 2.11 form beside them.
AIRFLOW_3_COMMANDS = {"backfill"}


def check_airflow(args: list[str]) -> None:
    from airflow.cli.cli_parser import get_parser

    from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS and args[:1] and args[0] in AIRFLOW_3_COMMANDS:
        return

    try:
        get_parser().parse_args(args)
    except SystemExit as exc:  # argparse reports a bad command line by exiting
        raise AssertionError(f"Airflow's CLI refuses: airflow {shlex.join(args)}") from exc


def check_emulator(args: list[str]) -> None:
    from uis_provider.testing.emulator import _settings

    try:
        _settings(args)
    except SystemExit as exc:
        raise AssertionError(f"the emulator refuses: {shlex.join(args)}") from exc


def source_url() -> str:
    """The project's repository, as ``pyproject.toml`` declares it."""
    urls = importlib.metadata.metadata("airflow-provider-uis").get_all("Project-URL") or []
    return next(url.split(", ", 1)[1] for url in urls if url.startswith("Source, "))


def check_pip_install(command: str, arguments: list[str]) -> None:
    """This package only from a clone (``.[extras]``) or a built wheel, with declared extras and an existing
    constraints file; it is not on PyPI, so installing it by name from an index cannot work."""
    constraints = [arguments[i + 1] for i, word in enumerate(arguments[:-1]) if word in ("-c", "--constraint")]
    for name in constraints:
        assert not re.match(r"https?://", name), f"{command}: constraints from a URL; use the file of the clone"
        assert (REPO / name).is_file(), f"{command}: no constraints file {name} in the repository"
    for requirement in arguments:
        local = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", requirement)
        wheel = re.fullmatch(r"airflow-provider-uis(?:\[([\w,-]+)\])? @ file://\S+\.whl", requirement)
        named = re.fullmatch(r"airflow-provider-uis(?:\[[\w,-]+\])?(?:[=<>!~].*)?", requirement)
        assert not named, f"{command}: airflow-provider-uis is not on PyPI; install '.' from a clone or the built wheel"
        match = local or wheel
        if match:  # other packages and pip's own options are pip's business
            extras = set(filter(None, (match.group(1) or "").split(",")))
            unknown = extras - declared_extras()
            assert not unknown, f"{command}: extras {sorted(unknown)} are not declared"
            assert constraints, f"{command}: install this package with -c constraints/airflow-<version>.txt"


def check_shell(example: Example) -> None:
    """Check each command of a ``bash`` block without running it."""
    for words in shell_commands(example.parsed):
        command = shlex.join(words)
        if words[0] == "make":
            unknown = set(words[1:]) - make_targets()
            assert not unknown, f"{command}: no such Makefile target {sorted(unknown)}"
        elif words[0] == "airflow":
            check_airflow(words[1:])
        elif words[:3] == ["python", "-m", "uis_provider.testing.emulator"]:
            check_emulator(words[3:])
        elif words[:2] == ["pip", "install"]:
            check_pip_install(command, words[2:])
        elif words[:2] == ["git", "clone"]:
            assert words[2:] == [f"{source_url()}.git"], f"{command}: clone {source_url()}.git, this project's Source"
        elif words[0] in ("cd", "export"):
            continue
        else:
            raise AssertionError(f"{command}: no checker for this command; add one to {page_id(Path(__file__))}")


def parse_page(path: Path) -> Document:
    return Document.parse(str(path), PythonCodeBlockParser(), CodeBlockParser(language="bash", evaluator=check_shell))


def fence_languages(path: Path) -> list[str]:
    """The language of every fenced block that opens at the start of a line (directives excluded)."""
    text = path.read_text(encoding="utf-8")
    languages, inside = [], False
    for line in text.splitlines():
        match = re.match(r"^(`{3,})(.*)$", line)
        if not match:
            continue
        if inside:
            inside = False
            continue
        inside = True
        language = match.group(2).strip()
        if not language.startswith("{"):
            languages.append(language)
    return languages


# -- DAGs run for real ---------------------------------------------------------------------------------------


def check_daily_extract(dag: Any, emulator: UISEmulator, s3: MotoS3) -> None:
    """The day [2026-01-04, 2026-01-05) lands in S3 keyed by its start, equal to the API's records."""
    body = s3.client.get_object(Bucket="my-bucket", Key="uis/uploaded_calls/date=2026-01-04/part-0.jsonl")["Body"]
    got = [json.loads(line) for line in body.read().decode("utf-8").splitlines()]
    truth = sorted(emulator.records("2026-01-04", "2026-01-05"), key=lambda record: record["ext_id"])
    assert got == truth
    assert got


def check_wait_then_extract(dag: Any, emulator: UISEmulator, s3: MotoS3) -> None:
    """The sensor's DAG: nothing of that day is pending on the emulator, so the wait ends and the extract lands it."""
    check_daily_extract(dag, emulator, s3)
    assert emulator.count("get.uploaded_calls") >= 2  # the sensor's probe, then the extract's page


#: DAG id -> what its ``dag.test()`` run must have produced. Every id must appear in some page.
RUN_DAGS: dict[str, Callable[[Any, UISEmulator, MotoS3], None]] = {
    "uis_uploaded_calls_daily": check_daily_extract,
    "uis_upload_then_extract": check_wait_then_extract,
}
#: DAG ids run so far in this session.
RAN: set[str] = set()


# -- the tests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_every_fence_has_a_checker(path: Path) -> None:
    languages = [language for language in fence_languages(path) if language not in OUTPUT_LANGUAGES]
    assert set(languages) <= CHECKED_LANGUAGES, f"{page_id(path)}: unchecked code blocks {set(languages)}"
    examples = list(parse_page(path).examples())
    assert len(examples) == len(languages), f"{page_id(path)}: {len(languages)} fences, {len(examples)} examples"


@pytest.fixture
def doc_env(
    airflow_db: Path,
    uis_conn: str,
    s3_conn: str,
    moto_s3: MotoS3,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> MotoS3:
    """What a page's examples may use: ``uis_default`` on the emulator, ``aws_s3`` and ``aws_default`` on moto."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", os.environ["AIRFLOW_CONN_AWS_S3"])
    airflow_store_cache().pop("s3-aws_default", None)
    monkeypatch.chdir(tmp_path)
    return moto_s3


def ensure_buckets(s3: MotoS3, text: str) -> None:
    """Every bucket the page's ``s3://`` URIs name, empty (moto lives for the session; no page sees another's)."""
    existing = {bucket["Name"] for bucket in s3.client.list_buckets().get("Buckets", [])}
    for bucket in sorted(set(re.findall(r"s3://([a-z0-9][a-z0-9.-]+)/", text))):
        if bucket not in existing:
            s3.client.create_bucket(Bucket=bucket)
        for item in s3.client.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.client.delete_object(Bucket=bucket, Key=item["Key"])


def is_project_file(example: Example) -> bool:
    """Whether the page marks the block as a file of the user's project (``<!-- file: PATH -->`` on the line above)."""
    before = example.document.text[: example.start].rstrip("\n").rsplit("\n", 1)[-1]
    return re.fullmatch(r"<!-- file: \S+ -->", before) is not None


def has_python(path: Path) -> bool:
    return "python" in fence_languages(path)


@pytest.mark.parametrize(
    "path", [page for page in PAGES if set(fence_languages(page)) & CHECKED_LANGUAGES], ids=page_id
)
def test_page_examples_run(path: Path, request: pytest.FixtureRequest) -> None:
    """Shell-only pages need nothing; pages with Python get the emulator and S3 (and the metadata DB)."""
    document = parse_page(path)
    document.namespace["__name__"] = f"doc_example_{path.stem.replace('-', '_')}"
    if has_python(path):
        s3: MotoS3 = request.getfixturevalue("doc_env")
        emulator: UISEmulator = request.getfixturevalue("emulator")
        ensure_buckets(s3, path.read_text(encoding="utf-8"))
    for example in document.examples():
        if is_project_file(example):
            continue  # a file of the user's project: test_user_dag_recipe.py runs it with pytest, as a user would
        try:
            example.evaluate()
        except Exception as exc:
            raise AssertionError(f"{page_id(path)}, line {example.line}: the example fails: {exc!r}") from exc
    from airflow.providers.common.compat.sdk import DAG

    for dag in (value for value in document.namespace.values() if isinstance(value, DAG)):
        assert dag.task_dict, f"{page_id(path)}: DAG {dag.dag_id} has no tasks"
        if dag.dag_id in RUN_DAGS and dag.dag_id not in RAN:
            RAN.add(dag.dag_id)  # a page's copy of the README's DAG is the README's (test_sync.py): run it once
            run = dag_test(dag, LOGICAL_DATE)
            assert run.state == "success", f"{page_id(path)}: DAG {dag.dag_id} ended {run.state}"
            RUN_DAGS[dag.dag_id](dag, emulator, s3)


def test_every_dag_meant_to_run_is_in_a_page() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in PAGES)
    for dag_id in RUN_DAGS:
        assert f'dag_id="{dag_id}"' in text, f"no page defines {dag_id}"


def test_shell_checker_refuses_what_would_fail() -> None:
    bad = {
        "make tset": "no such Makefile target",
        "airflow connections add x --conn-typo uis": "Airflow's CLI refuses",
        "python -m uis_provider.testing.emulator --prot 1": "the emulator refuses",
        'pip install ".[s4]" -c constraints/airflow-3.3.2.txt': "not declared",
        "pip install airflow-provider-uis": "not on PyPI",
        'pip install ".[s3]"': "with -c constraints",
        'pip install ".[s3]" -c constraints/airflow-9.9.9.txt': "no constraints file",
        "git clone https://example.com/fork.git": "this project's Source",
        "curl https://example.com": "no checker",
    }
    for source, message in bad.items():
        with pytest.raises(AssertionError, match=message):
            check_shell(_example(source))


def _example(source: str) -> Any:
    """A stand-in for a parsed ``bash`` block holding ``source``."""

    class _Shell:
        parsed = source + "\n"

    return _Shell()


def test_every_example_uses_the_aws_connection_the_readme_creates() -> None:
    """The README asks for one ``aws`` connection, ``aws_s3``: no page's example may need another one."""
    used = {
        (page_id(path), conn_id)
        for path in PAGES
        for conn_id in re.findall(r"(?:output|source)_conn_id=\"([^\"]+)\"", path.read_text(encoding="utf-8"))
    }
    assert {conn_id for _, conn_id in used} == {"aws_s3"}, sorted(used)


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_no_example_imports_from_airflow_sdk_directly(path: Path) -> None:
    """``airflow.sdk`` exists from Airflow 3.0 and its timetables from 3.2: examples import through common-compat
    or ``uis_provider.version_compat``, so they run as printed on 2.11 too (make compat runs them there)."""
    code = "\n".join(example.parsed for example in parse_page(path).examples() if isinstance(example.parsed, str))
    assert not re.search(r"^\s*(from airflow\.sdk\b|import airflow\.sdk\b)", code, re.M), page_id(path)
