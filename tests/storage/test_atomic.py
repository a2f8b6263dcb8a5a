"""Atomic output: readers see the old object or the whole new one, never a partial one, locally and on S3."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from botocore.exceptions import ClientError
from fsspec.implementations.memory import MemoryFileSystem

from uis_provider.storage.atomic import atomic_output, to_storage_path
from uis_provider.storage.formats import open_record_writer
from uis_provider.version_compat import AIRFLOW_V_3_2_PLUS, storage_conn_id

if TYPE_CHECKING:
    from tests.conftest import MotoS3

REPO = Path(__file__).resolve().parents[2]


def siblings(path: Path) -> list[str]:
    return sorted(entry.name for entry in path.parent.iterdir())


def temp_name(target: Path, token: str = "0123456789ab") -> Path:
    return target.with_name(f".{target.name}.tmp-{token}")


def write_then_raise(path: str | ObjectStoragePath, error: BaseException, spool_dir: str | None = None) -> None:
    with atomic_output(path, spool_dir=spool_dir) as handle:
        handle.write(b"part of the new content")
        raise error


# --- to_storage_path -------------------------------------------------------------------------------------------


def test_accepts_absolute_local_paths_and_file_uris(tmp_path: Path) -> None:
    plain = to_storage_path(str(tmp_path / "a.jsonl"))
    assert plain.path == str(tmp_path / "a.jsonl")
    uri = to_storage_path(f"file://{tmp_path}/b.jsonl")
    assert uri.protocol == "file"
    assert uri.path == f"{tmp_path}/b.jsonl"
    assert to_storage_path(tmp_path / "c.csv").path == str(tmp_path / "c.csv")


def test_object_store_uris_keep_or_take_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # Building a path with a conn_id attaches its filesystem: give each connection dummy keys, so boto never
    # goes looking for credentials off this machine.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for conn_id in ("aws_unit", "aws_x", "aws_a", "aws_b"):
        conn = {"conn_type": "aws", "login": "unit", "password": "unit", "extra": {"region_name": "us-east-1"}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    assert storage_conn_id(to_storage_path("s3://bucket/uis/calls.jsonl", conn_id="aws_unit")) == "aws_unit"
    assert storage_conn_id(to_storage_path("s3://aws_x@bucket/uis/calls.jsonl")) == "aws_x"
    given = ObjectStoragePath("s3://bucket/k.csv", conn_id="aws_a")
    assert to_storage_path(given) is given
    overridden = to_storage_path(given, conn_id="aws_b")
    assert storage_conn_id(overridden) == "aws_b"
    assert overridden.key == "k.csv"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("relative/calls.jsonl", "relative"),
        ("", "empty"),
        ("   ", "empty"),
        ("file://host/tmp/x.jsonl", "three slashes"),
        ("zzz://bucket/x.jsonl", "no filesystem is known for scheme 'zzz'"),
        ("s3://bucket", "no object key"),
        ("s3://bucket/dir/", "directory"),
        ("/tmp/dir/", "directory"),
    ],
)
def test_rejects_paths_that_cannot_be_written(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match="output_path must be an absolute local path") as info:
        to_storage_path(uri)
    assert reason in str(info.value)


@pytest.mark.skipif(
    not AIRFLOW_V_3_2_PLUS,
    reason="before 3.2 ObjectStoragePath('relative/x') is '/relative/x' once built: nothing relative is left to refuse",
)
def test_rejects_relative_object_storage_path() -> None:
    with pytest.raises(ValueError, match="relative"):
        to_storage_path(ObjectStoragePath("relative/calls.jsonl"))


def test_error_text_hides_a_password_in_the_uri() -> None:
    with pytest.raises(ValueError, match="output_path") as info:
        to_storage_path("zzz://user:hunter2-secret@host/x.jsonl")
    assert "hunter2-secret" not in str(info.value)
    assert "user:***@host" in str(info.value)


def test_scheme_whose_package_is_missing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from fsspec.registry import known_implementations

    monkeypatch.setitem(
        known_implementations, "uisfake", {"class": "uis_no_such_module.FakeFS", "err": "pip install uisfake-fs"}
    )
    with pytest.raises(ValueError, match=r"output_path scheme 'uisfake' needs a package.*uisfake-fs"):
        to_storage_path("uisfake://bucket/x.jsonl")


# --- local filesystem ------------------------------------------------------------------------------------------


def test_success_replaces_the_target_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "calls.jsonl"
    with atomic_output(str(target)) as handle:
        handle.write(b"first\n")
    assert target.read_bytes() == b"first\n"

    with atomic_output(f"file://{target}") as handle:
        handle.write(b"second\n")
        assert target.read_bytes() == b"first\n"
        assert len(siblings(target)) == 2
    assert target.read_bytes() == b"second\n"
    assert siblings(target) == ["calls.jsonl"]


def test_new_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with atomic_output(str(tmp_path / "perm.csv")) as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "perm.csv").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt(), SystemExit(143)])
def test_exception_mid_write_keeps_the_old_file_and_removes_the_temp(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "calls.csv"
    target.write_bytes(b"old complete content\n")
    with pytest.raises(type(error)):
        write_then_raise(str(target), error)
    assert target.read_bytes() == b"old complete content\n"
    assert siblings(target) == ["calls.csv"]


def test_exception_before_any_target_existed_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "calls.jsonl"
    with pytest.raises(ValueError, match="bad record"):
        write_then_raise(str(target), ValueError("bad record"))
    assert not target.exists()
    assert siblings(target) == []


def test_handle_closed_by_the_caller_is_still_committed(tmp_path: Path) -> None:
    target = tmp_path / "closed.jsonl"
    with atomic_output(str(target)) as handle:
        handle.write(b"body")
        handle.close()
    assert target.read_bytes() == b"body"
    assert siblings(target) == ["closed.jsonl"]


def test_stale_temps_are_removed_but_a_live_writers_temp_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    stale = temp_name(target, "aaaaaaaaaaaa")
    stale.write_bytes(b"left by a killed run")
    live = temp_name(target, "bbbbbbbbbbbb")
    live.write_bytes(b"being written right now")
    unrelated = [tmp_path / ".calls.jsonl.tmp-notours", tmp_path / ".other.jsonl.tmp-cccccccccccc"]
    for path in unrelated:
        path.write_bytes(b"x")

    with live.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with atomic_output(str(target)) as handle:
            handle.write(b"new")

    assert target.read_bytes() == b"new"
    assert not stale.exists()
    assert live.exists()
    assert all(path.exists() for path in unrelated)


CHILD = textwrap.dedent(
    """
    import sys, time
    from uis_provider.storage.atomic import atomic_output

    with atomic_output(sys.argv[1]) as handle:
        handle.write(b"partial new content\\n")
        handle.flush()
        print("writing", flush=True)
        while True:
            handle.write(b"more\\n")
            handle.flush()
            time.sleep(0.05)
    """
)


def test_sigkilled_writer_leaves_old_target_and_next_run_cleans_its_temp(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl"
    target.write_bytes(b"old complete content\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        assert child.stdout is not None
        lines = iter(child.stdout.readline, b"")
        assert b"writing\n" in lines, "the child exited before it started writing"
        temps = [name for name in siblings(target) if name.startswith(".calls.jsonl.tmp-")]
        assert len(temps) == 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old complete content\n"
    assert (tmp_path / temps[0]).read_bytes().startswith(b"partial new content\n")

    with atomic_output(str(target)) as handle:
        handle.write(b"next run\n")
    assert target.read_bytes() == b"next run\n"
    assert siblings(target) == ["calls.jsonl"]


def test_writer_inside_atomic_output_produces_a_complete_file(tmp_path: Path) -> None:
    target = tmp_path / "calls.jsonl.gz"
    with atomic_output(str(target)) as handle, open_record_writer(handle, "jsonl", ["ext_id"], "gzip") as w:
        for index in range(3):
            w.write({"ext_id": f"call-{index}"})
    lines = gzip.decompress(target.read_bytes()).decode().splitlines()
    assert [json.loads(line)["ext_id"] for line in lines] == ["call-0", "call-1", "call-2"]


# --- fsspec object stores ------------------------------------------------------------------------------------


def test_memory_store_gets_the_object_only_on_success(tmp_path: Path) -> None:
    fs = MemoryFileSystem()
    spool = tmp_path / "spool"
    spool.mkdir()
    uri = "memory://uis-test-bucket/atomic/calls.csv"
    try:
        with atomic_output(uri, spool_dir=str(spool)) as handle:
            handle.write(b"a,b\n")
            assert not fs.exists("/uis-test-bucket/atomic/calls.csv")
        assert fs.cat_file("/uis-test-bucket/atomic/calls.csv") == b"a,b\n"

        with pytest.raises(RuntimeError, match="interrupted"):
            write_then_raise(uri, RuntimeError("interrupted"), spool_dir=str(spool))
        assert fs.cat_file("/uis-test-bucket/atomic/calls.csv") == b"a,b\n"
        assert list(spool.iterdir()) == []
    finally:
        fs.rm("/uis-test-bucket", recursive=True)


SPOOL_CHILD = textwrap.dedent(
    """
    import sys, time
    from uis_provider.storage.atomic import atomic_output

    with atomic_output("memory://uis-spool-test/calls.jsonl", spool_dir=sys.argv[1]) as handle:
        handle.write(b"partial body\\n")
        handle.flush()
        print("writing", flush=True)
        while True:
            time.sleep(0.05)
    """
)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, as this pid namespace numbers them."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        with contextlib.suppress(FileNotFoundError):
            todo.extend(int(child) for child in children.read_text().split())
    return tree


def _state(pid: int) -> str:
    """The one-letter state of a process ("Z" for a zombie), empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return ""


def _unshare_pid_namespace() -> list[str]:
    """The prefix that runs a command in a new pid namespace (as in another container), or skip without one."""
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot create a pid namespace here: {probe.stderr.decode(errors='replace').strip()}")
    return ["unshare", "--pid", "--fork", "--mount-proc"]


@pytest.mark.parametrize("namespace", ["same pid namespace", "own pid namespace"])
def test_spool_of_a_killed_writer_is_removed_by_the_next_write_and_a_live_one_kept(
    tmp_path: Path, namespace: str
) -> None:
    prefix = _unshare_pid_namespace() if namespace == "own pid namespace" else []
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    unrelated = spool_dir / "uis-spool-not-ours"
    unrelated.write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [*prefix, sys.executable, "-c", SPOOL_CHILD, str(spool_dir)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=tmp_path, start_new_session=True)
    try:
        assert child.stdout is not None
        assert b"writing\n" in iter(child.stdout.readline, b""), "the child exited before it started writing"
        spools = sorted(p.name for p in spool_dir.iterdir() if p.name.startswith(".uis-spool-"))
        assert len(spools) == 1

        # its writer is alive (in whatever pid namespace): another write in the same spool dir keeps its spool
        with atomic_output("memory://uis-spool-test/other.jsonl", spool_dir=str(spool_dir)) as handle:
            handle.write(b"other\n")
        assert (spool_dir / spools[0]).read_bytes() == b"partial body\n"
    finally:
        writers = _process_tree(child.pid)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
        for pid in writers:  # the writer in its own pid namespace is unshare's child: gone only once reaped
            while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
                time.sleep(0.05)
    assert (spool_dir / spools[0]).exists(), "SIGKILL gave the writer no chance to remove its spool"

    with atomic_output("memory://uis-spool-test/next.jsonl", spool_dir=str(spool_dir)) as handle:
        handle.write(b"next\n")
    assert sorted(p.name for p in spool_dir.iterdir()) == ["uis-spool-not-ours"]
    MemoryFileSystem().rm("/uis-spool-test", recursive=True)


def test_a_spool_removed_before_its_writer_locked_it_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uis_provider.storage.atomic as atomic

    real_mkstemp = atomic.tempfile.mkstemp
    made: list[str] = []

    def mkstemp_then_cleaned(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, path = real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]
        made.append(path)
        if len(made) == 1:
            assert atomic.remove_stale_spools(str(tmp_path)) == [path]  # another writer's cleanup wins the race
        return fd, path

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_cleaned)
    with atomic_output("memory://uis-spool-race/calls.jsonl", spool_dir=str(tmp_path)) as handle:
        handle.write(b"body\n")
    assert len(made) == 2
    assert MemoryFileSystem().cat_file("/uis-spool-race/calls.jsonl") == b"body\n"
    assert list(tmp_path.iterdir()) == []
    MemoryFileSystem().rm("/uis-spool-race", recursive=True)


# --- S3 (moto server) through an Airflow connection ------------------------------------------------------------


def s3_body(moto_s3: MotoS3, bucket: str, key: str) -> bytes | None:
    try:
        return moto_s3.client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise


def test_s3_object_appears_only_when_the_block_exits(
    moto_s3: MotoS3, s3_conn: str, s3_bucket: str, tmp_path: Path
) -> None:
    key = "uis/uploaded_calls/2026-01-04.jsonl"
    target = ObjectStoragePath(f"s3://{s3_bucket}/{key}", conn_id=s3_conn)
    with atomic_output(target, spool_dir=str(tmp_path)) as handle:
        handle.write(b'{"ext_id":"call-1"}\n')
        assert s3_body(moto_s3, s3_bucket, key) is None
        assert not target.exists()
    assert s3_body(moto_s3, s3_bucket, key) == b'{"ext_id":"call-1"}\n'

    with atomic_output(f"s3://{s3_conn}@{s3_bucket}/{key}", spool_dir=str(tmp_path)) as handle:
        handle.write(b'{"ext_id":"call-2"}\n')
        assert s3_body(moto_s3, s3_bucket, key) == b'{"ext_id":"call-1"}\n'
    assert s3_body(moto_s3, s3_bucket, key) == b'{"ext_id":"call-2"}\n'
    assert list(tmp_path.iterdir()) == []


def test_s3_failure_uploads_nothing_and_keeps_the_old_object(
    moto_s3: MotoS3, s3_conn: str, s3_bucket: str, tmp_path: Path
) -> None:
    fresh = ObjectStoragePath(f"s3://{s3_bucket}/never.csv", conn_id=s3_conn)
    with pytest.raises(RuntimeError, match="API went away"):
        write_then_raise(fresh, RuntimeError("API went away"), spool_dir=str(tmp_path))
    assert s3_body(moto_s3, s3_bucket, "never.csv") is None

    moto_s3.client.put_object(Bucket=s3_bucket, Key="kept.csv", Body=b"old\n")
    kept = ObjectStoragePath(f"s3://{s3_bucket}/kept.csv", conn_id=s3_conn)
    with pytest.raises(KeyboardInterrupt):
        write_then_raise(kept, KeyboardInterrupt(), spool_dir=str(tmp_path))
    assert s3_body(moto_s3, s3_bucket, "kept.csv") == b"old\n"
    assert list(tmp_path.iterdir()) == []
    keys = [item["Key"] for item in moto_s3.client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert keys == ["kept.csv"]


@pytest.fixture
def lineage_readers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[type]]:
    """The hook-lineage reader plugins Airflow sees (none by default); a fresh collector for each test."""
    from airflow.providers.common.compat.sdk import get_hook_lineage_collector

    readers: list[type] = []
    if AIRFLOW_V_3_2_PLUS:
        plugins_manager = importlib.import_module("airflow.sdk.plugins_manager")
        monkeypatch.setattr(plugins_manager, "get_hook_lineage_readers_plugins", lambda: readers)
    else:
        # before 3.2 the readers are a global of core's plugins manager, read as is once it is not None
        plugins_manager = importlib.import_module("airflow.plugins_manager")
        monkeypatch.setattr(plugins_manager, "hook_lineage_reader_classes", readers)
    if hasattr(get_hook_lineage_collector, "cache_clear"):
        get_hook_lineage_collector.cache_clear()
        yield readers
        get_hook_lineage_collector.cache_clear()
    else:  # before 3.2 the collector is a global of airflow.lineage.hook, built on first use
        monkeypatch.setattr(importlib.import_module("airflow.lineage.hook"), "_hook_lineage_collector", None)
        yield readers


def test_written_file_is_reported_as_lineage_when_a_reader_collects_it(
    lineage_readers: list[type], tmp_path: Path
) -> None:
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
    from airflow.providers.common.compat.sdk import HookLineageReader

    lineage_readers.append(HookLineageReader)
    with atomic_output(tmp_path / "out.jsonl") as handle:
        handle.write(b"{}\n")
    outputs = get_hook_lineage_collector().collected_assets.outputs
    assert [asset.asset.uri for asset in outputs] == [f"file://{tmp_path / 'out.jsonl'}"]


def test_without_a_lineage_reader_no_collector_is_built(lineage_readers: list[type], tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import get_hook_lineage_collector

    with atomic_output(tmp_path / "out.jsonl") as handle:
        handle.write(b"{}\n")
    assert (tmp_path / "out.jsonl").read_bytes() == b"{}\n"
    if hasattr(get_hook_lineage_collector, "cache_info"):
        assert get_hook_lineage_collector.cache_info().currsize == 0
    else:  # before 3.2: the global the collector would be kept in
        assert importlib.import_module("airflow.lineage.hook")._hook_lineage_collector is None
