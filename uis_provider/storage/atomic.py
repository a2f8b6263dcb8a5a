"""All-or-nothing output to a local file or an object store, so readers never see a partial object.

Local files are written beside the target and renamed over it; object stores get the finished body in one
upload (one PUT or one completed multipart upload), spooled to a local temporary file first. Temp and spool files
are held under a ``flock`` while written, so a later write removes the ones a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import ObjectStoragePath

from uis_provider.version_compat import has_fs, storage_conn_id

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})

_EXPECTED = (
    "{parameter} must be an absolute local path (e.g. /data/uis/calls.jsonl), a file:///absolute/path URI, "
    "or an object-storage URI whose scheme has a filesystem installed (e.g. s3://bucket/key with "
    "apache-airflow-providers-amazon[s3fs], gs://bucket/key, memory://bucket/key)"
)
_TEMP_INFIX = ".tmp-"
_TEMP_TOKEN_BYTES = 6
_WRITE_BUFFER = 1 << 20
_SPOOL_PREFIX = ".uis-spool-"
_CREATE_ATTEMPTS = 5


def _redacted(uri: str) -> str:
    """Return ``uri`` with any password in its user-info replaced, for use in error messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _invalid(uri: str, reason: str, parameter: str) -> ValueError:
    return ValueError(f"{_EXPECTED.format(parameter=parameter)}; {reason}: {_redacted(uri)!r}")


def _check_scheme(scheme: str, uri: str, parameter: str) -> None:
    if has_fs(scheme):
        return
    import fsspec
    from fsspec.registry import known_implementations

    if scheme not in known_implementations and scheme not in fsspec.registry:
        raise _invalid(uri, f"no filesystem is known for scheme {scheme!r}", parameter)
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as err:
        raise ValueError(f"{parameter} scheme {scheme!r} needs a package that is not installed: {err}") from None


def to_storage_path(
    uri: str | os.PathLike[str] | ObjectStoragePath, conn_id: str | None = None, *, parameter: str = "output_path"
) -> ObjectStoragePath:
    """Turn an operator's path parameter into an ``ObjectStoragePath``, rejecting what cannot be used.

    ``parameter`` names the operator argument in error messages (``output_path``, ``source_path``; its connection
    is ``output_conn_id``, ``source_conn_id``). Accepts absolute local paths, ``file:///`` URIs and URIs of
    installed object stores; ``conn_id`` (an Airflow connection, e.g. ``aws_default``) overrides one given in the
    path as ``s3://conn_id@bucket/key``. A connection with a local path is refused (it would be ignored), and so is
    one that does not exist (Airflow would go on without credentials).
    """
    text, scheme, netloc, local_path = _split_uri(uri, parameter)
    if not text:
        raise _invalid(text, "got an empty path", parameter)
    if text.endswith("/"):
        raise _invalid(text, "the path ends with '/', so it names a directory, not an object", parameter)
    if scheme in LOCAL_PROTOCOLS:
        _check_local(text, netloc, local_path, conn_id, parameter)
    else:
        _check_scheme(scheme, text, parameter)
    path = _storage_path(uri, text, conn_id)
    if path.protocol not in LOCAL_PROTOCOLS:
        if not path.key:
            raise _invalid(text, "the URI names a bucket but no object key", parameter)
        _check_connection(storage_conn_id(path), parameter)
        _check_store(path, text, parameter)
    return path


def _split_uri(uri: object, parameter: str) -> tuple[str, str, str, str]:
    """The path parameter as text, and its scheme (lower case), host and path; refuse what is not a path at all."""
    if not isinstance(uri, (str, os.PathLike, ObjectStoragePath)):
        raise ValueError(f"{parameter} must be a string URI or a path, got {type(uri).__name__} {uri!r:.80}")
    if isinstance(uri, ObjectStoragePath):
        return str(uri), (uri.protocol or "").lower(), "", uri.path
    text = (os.fspath(uri) if isinstance(uri, os.PathLike) else uri).strip()
    parts = urlsplit(text)
    return text, parts.scheme.lower(), parts.netloc, parts.path


def _check_local(text: str, netloc: str, local_path: str, conn_id: str | None, parameter: str) -> None:
    """Refuse a local path a worker cannot resolve the same way (a host, a relative path) or given a connection."""
    if netloc:
        raise _invalid(text, "a file URI needs three slashes and no host (file:///absolute/path)", parameter)
    if not os.path.isabs(local_path):
        raise _invalid(text, "relative paths are ambiguous on a worker", parameter)
    if conn_id is not None:
        raise ValueError(
            f"{_conn_parameter(parameter)}={conn_id!r} is set, but {parameter} {_redacted(text)!r} is a local "
            "path, which takes no connection; drop the connection, or give an object-store URI such as "
            "s3://bucket/key for it to apply to"
        )


def _storage_path(uri: str | os.PathLike[str] | ObjectStoragePath, text: str, conn_id: str | None) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` of the parameter, with ``conn_id`` when one is given (else the URI's own)."""
    if isinstance(uri, ObjectStoragePath):
        return uri if conn_id in (None, storage_conn_id(uri)) else ObjectStoragePath(uri, conn_id=conn_id)
    if conn_id is None:
        # Before 3.2 an explicit conn_id=None would shadow the one written in the URI (s3://conn_id@bucket/key).
        return ObjectStoragePath(text)
    return ObjectStoragePath(text, conn_id=conn_id)


def _conn_parameter(parameter: str) -> str:
    """The operator argument naming the connection of path argument ``parameter``: ``output_conn_id`` and so on."""
    return parameter.removesuffix("_path") + "_conn_id"


def _check_connection(conn_id: str | None, parameter: str) -> None:
    """Refuse a connection id that names no Airflow connection.

    Airflow's S3 filesystem only warns about it and goes on without credentials, so the typo would surface as an
    access error after the whole window was read.
    """
    if not conn_id:
        return
    from airflow.providers.common.compat.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception as exc:
        if type(exc).__name__ not in ("AirflowNotFoundException", "ConnectionNotFound"):
            raise
        raise ValueError(
            f"{_conn_parameter(parameter)}={conn_id!r}: no such Airflow connection here, so {parameter} would be "
            "reached without credentials. Create it (an 'aws' connection for s3://) or fix the id"
        ) from None


def _check_store(path: ObjectStoragePath, text: str, parameter: str) -> None:
    """Open the store's filesystem now, so an unsupported or unreachable store is named before any API call."""
    try:
        filesystem_of(path)
    except Exception as exc:
        raise ValueError(
            f"{parameter} {_redacted(text)!r}: cannot open the store {storage_uri(path).rsplit('/', 1)[0]!r} "
            f"({type(exc).__name__}: {exc}). Check the URI's scheme and host, its connection, and that the store "
            "is reachable from the worker"
        ) from None


def storage_uri(path: ObjectStoragePath) -> str:
    """The object's URI without a connection id: ``file:///abs/path``, ``s3://bucket/key``, ``ftp://host:port/path``."""
    protocol = path.protocol or "file"
    if protocol in LOCAL_PROTOCOLS:
        return "file://" + path.path
    options = path.storage_options or {}
    host = options.get("host")
    netloc = f"{host}:{options['port']}" if host and options.get("port") else str(host or "")
    # path.path, not bucket + key: before Airflow 3.2 the bucket keeps the connection id of s3://conn_id@bucket/key
    rest = path.path.lstrip("/")
    return f"{protocol}://{netloc}/{rest}" if netloc else f"{protocol}://{rest}"


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{name}{_TEMP_INFIX}") + f"[0-9a-f]{{{2 * _TEMP_TOKEN_BYTES}}}")


def _remove_unlocked(directory: str, matches: Callable[[str], bool]) -> list[str]:
    """Delete the files of ``directory`` whose name ``matches`` and that no live writer holds a ``flock`` on.

    Files this process may not open or delete (another user's, in a shared temp dir) are left alone. On a
    filesystem without flock every match counts as stale. Returns the removed paths.
    """
    removed: list[str] = []
    try:
        with os.scandir(directory) as entries:
            candidates = [e.path for e in entries if matches(e.name) and e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return removed
    for candidate in candidates:
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except (FileNotFoundError, PermissionError):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except OSError:
            pass  # a filesystem without flock support: no live writer can be told apart, treat it as stale
        try:
            os.unlink(candidate)
            removed.append(candidate)
        except (FileNotFoundError, PermissionError):
            pass
        finally:
            os.close(fd)
    return removed


def remove_stale_temps(directory: str, name: str) -> list[str]:
    """Delete temp siblings of ``directory/name`` left by killed writers; skip ones a live writer still locks.

    A writer holds an exclusive ``flock`` on its temp file until it is renamed, so a temp that can be locked
    belongs to a dead process. Returns the removed paths.
    """
    pattern = _temp_pattern(name)
    return _remove_unlocked(directory, lambda entry: pattern.fullmatch(entry) is not None)


def remove_stale_spools(directory: str) -> list[str]:
    """Delete object-store spool files in ``directory`` whose writer is gone (SIGKILLed, OOM-killed, its pod gone).

    Ownership is the writer's ``flock`` on its spool, never a pid: a pid means nothing to a process in another pid
    namespace (containers sharing a temp volume each have their own pid 1, 2, ...) and pids are reused, while the
    kernel drops a flock when its holder dies, in whatever namespace. Returns the removed paths.
    """
    return _remove_unlocked(directory, lambda entry: entry.startswith(_SPOOL_PREFIX))


def _locked_new_file(create: Callable[[], tuple[int, str]]) -> tuple[int, str]:
    """Create a file with ``create`` (an fd and its path) and hold an exclusive ``flock`` on it.

    A cleaner of another writer may delete the new file before the lock is taken; then the fd no longer names the
    path, and a fresh file is made, so a writer never spools into a file that is already unlinked.
    """
    for _ in range(_CREATE_ATTEMPTS):
        fd, path = create()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            return fd, path  # no flock on this filesystem: nothing can tell it apart from a stale file anyway
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd, path
        except FileNotFoundError:
            pass
        os.close(fd)
    raise OSError(f"could not create a locked file in {os.path.dirname(path)}: removed {_CREATE_ATTEMPTS} times")


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_into_place(handle: BinaryIO, temp: str, target: str) -> None:
    """Make the temp file's bytes durable, then rename it over the target while still holding its lock."""
    if handle.closed:
        fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, target)


@contextmanager
def _local_output(target: str) -> Iterator[BinaryIO]:
    directory, name = os.path.split(target)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temps(directory, name)

    def create() -> tuple[int, str]:
        temp = os.path.join(directory, f".{name}{_TEMP_INFIX}{secrets.token_hex(_TEMP_TOKEN_BYTES)}")
        return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temp

    fd, temp = _locked_new_file(create)
    handle = os.fdopen(fd, "wb", _WRITE_BUFFER)
    try:
        yield handle
        _sync_into_place(handle, temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        handle.close()
    _fsync_directory(directory)


def filesystem_of(path: ObjectStoragePath) -> AbstractFileSystem:
    """Return the Airflow-attached filesystem (with its connection) or, for plain fsspec schemes, fsspec's."""
    if has_fs(path.protocol):
        return path.fs
    if storage_conn_id(path):
        raise ValueError(f"scheme {path.protocol!r} has no Airflow filesystem, so conn_id cannot be used with it")
    import fsspec

    options = {key: value for key, value in path.storage_options.items() if key != "conn_id"}
    return fsspec.filesystem(path.protocol, **options)


@contextmanager
def _object_store_output(target: ObjectStoragePath, spool_dir: str | None) -> Iterator[BinaryIO]:
    fs = filesystem_of(target)
    directory = spool_dir if spool_dir is not None else tempfile.gettempdir()
    remove_stale_spools(directory)
    fd, spool = _locked_new_file(
        lambda: tempfile.mkstemp(prefix=_SPOOL_PREFIX, suffix=f"-{target.name}", dir=directory)
    )
    lock = os.dup(fd)  # holds the flock (same open file) until the upload is done, after the writer is closed
    try:
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as handle:
            yield handle
        fs.put_file(spool, target.path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)
        os.close(lock)


def _report_lineage(target: ObjectStoragePath) -> None:
    """Report the written object as hook-level lineage, as ``ObjectStoragePath.open()`` would have.

    Airflow collects hook lineage only when a plugin registers a reader (else its collector is a no-op); the
    collector is not built without one, as building it imports every provider's asset factories (boto3 and more,
    ~0.13 s in a task that may need none of them).
    """
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    from uis_provider.version_compat import hook_lineage_is_read

    if not hook_lineage_is_read():
        return

    get_hook_lineage_collector().add_output_asset(context=target, uri=storage_uri(target))


@contextmanager
def atomic_output(
    path: str | os.PathLike[str] | ObjectStoragePath, *, spool_dir: str | None = None
) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` only when the block exits without an exception.

    On any exception (including KeyboardInterrupt/SystemExit) the previous target stays untouched and no
    temporary data is left behind. Object-store bodies are spooled under ``spool_dir`` (default: the system
    temp dir), so memory stays bounded whatever the size.
    """
    target = to_storage_path(path)
    if target.protocol in LOCAL_PROTOCOLS:
        with _local_output(target.path) as handle:
            yield handle
    else:
        with _object_store_output(target, spool_dir) as handle:
            yield handle
    _report_lineage(target)
