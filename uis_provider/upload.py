"""The upload engine: read the user's calls, check every row, and send the valid ones to ``upload.calls`` in batches.

Calls come from a file (JSON lines or CSV, gzipped or not, on any object store) or a list; every row is checked
(:mod:`uis_provider.protocol.upload_plan`) before anything is sent. The batches go in input order, each under its
own request id, through the hook, which paces them by the minute budget and retries transient failures under the
same id. A batch the hook gives up on stops the upload with an :class:`UploadBatchError` saying what was already
accepted and whether running the task again can help. It holds no Airflow operator state, so a script can call it
directly with a hook, as :mod:`uis_provider.extract` is for extracts.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import zlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from uis_provider.exceptions import (
    UISConfigurationError,
    UISError,
    UISRateLimitError,
    UISTransportError,
    configuration_errors,
)
from uis_provider.protocol.jsonrpc import result_data
from uis_provider.protocol.upload_plan import (
    Batch,
    InvalidRow,
    ValidCall,
    csv_rows,
    input_format,
    jsonl_rows,
    list_rows,
    validate_rows,
)
from uis_provider.storage.atomic import filesystem_of, to_storage_path
from uis_provider.version_compat import has_fs

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from uis_provider.hooks.uis import UISHook

_GZIP_MAGIC = b"\x1f\x8b"

log = logging.getLogger(__name__)


class TaskLog(Protocol):
    """Where progress lines go: a ``logging.Logger`` or an operator's ``self.log``."""

    def info(self, message: str, /, *args: Any) -> Any:
        """Log ``message % args`` at INFO."""


class UploadBatchError(Exception):
    """A batch UIS did not accept after the hook's retries; ``retry_task`` says whether running the task again
    can succeed without fixing anything (the failure was transient)."""

    def __init__(self, message: str, *, retry_task: bool) -> None:
        super().__init__(message)
        self.retry_task = retry_task


def read_list(calls: Any) -> tuple[list[ValidCall], list[InvalidRow]]:
    """Check every call of a list (e.g. an XCom); a row's ``line`` is its 1-based position."""
    if isinstance(calls, (str, bytes, dict)) or not isinstance(calls, Sequence):
        raise UISConfigurationError(
            f"calls must be a list of call objects, got {type(calls).__name__}; pass an XComArg "
            "(task.output) or render templates as native objects (render_template_as_native_obj=True)"
        )
    return validate_rows(list_rows(calls))


def read_file(
    uri: Any, conn_id: str | None, *, file_format: str | None = None, csv_delimiter: str = ","
) -> tuple[list[ValidCall], list[InvalidRow]]:
    """Check every row of a JSON-lines or CSV file (gzipped or not); the format comes from its name if not given."""
    path = _source_path(uri, conn_id)
    chosen = input_format(path.name, file_format)
    with _open_text(path, chosen) as text:
        rows = csv_rows(text, delimiter=csv_delimiter) if chosen == "csv" else jsonl_rows(text)
        return validate_rows(rows)


def _source_path(uri: Any, conn_id: str | None) -> ObjectStoragePath:
    with configuration_errors():
        path = to_storage_path(uri, conn_id, parameter="source_path")
    if not filesystem_of(path).exists(path.path):
        raise UISConfigurationError(f"source_path {str(path)!r} does not exist (or the connection cannot see it)")
    return path


@contextlib.contextmanager
def _open_text(path: ObjectStoragePath, file_format: str) -> Iterator[io.TextIOBase]:
    """The source as UTF-8 text (a leading BOM dropped), gunzipped when its first bytes are the gzip magic."""

    # ObjectStoragePath.open() also reports the file as lineage; schemes Airflow does not register go through fsspec.
    opened = path.open("rb") if has_fs(path.protocol) else filesystem_of(path).open(path.path, "rb")
    with opened as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if magic == _GZIP_MAGIC else raw
        with io.TextIOWrapper(stream, encoding="utf-8-sig", newline="" if file_format == "csv" else None) as text:
            try:
                yield text
            except UnicodeDecodeError as exc:
                raise UISConfigurationError(f"source_path {str(path)!r} is not UTF-8 text ({exc.reason})") from None
            except (OSError, EOFError, zlib.error) as exc:
                raise UISConfigurationError(f"source_path {str(path)!r} cannot be read: {exc}") from None


def send_batches(
    hook: UISHook, batches: list[Batch], ids: list[str], user_id: int | None, *, logger: TaskLog = log
) -> None:
    """Send the batches in order, each under its request id, logging to ``logger`` (the task's log); the first one
    UIS does not accept raises :class:`UploadBatchError` and the later ones are not sent."""
    # reading the connection here makes a missing or key-less one a configuration error, not a batch failure
    logger.info("Sending %d batch(es) to %s", len(batches), hook.settings.endpoint)
    for batch, request_id in zip(batches, ids, strict=True):
        params: dict[str, Any] = {"calls": batch.payload()}
        if user_id is not None:
            params["user_id"] = user_id
        try:
            result = hook.call("upload.calls", params, request_id=request_id)
        except UISError as exc:
            raise _batch_failure(batches, ids, batch, exc) from None
        data = result_data(result)
        success = data.get("success") if isinstance(data, dict) else None
        if success not in (True, "true"):
            raise UploadBatchError(
                f"upload.calls answered batch {batch.number} ({batch.describe()}, request id {request_id}) "
                f"without success: {data!r}. {_progress(batches, ids, batch, refused=True, transient=False)}",
                retry_task=True,
            )
        logger.info("Batch %d/%d accepted: %s, request id %s", batch.number, len(batches), batch.describe(), request_id)
    stats = hook.session.stats
    logger.info(
        "%d upload.calls request(s) accepted; %d API call(s), %d retries, %.1f s waited for limits/backoff",
        len(batches),
        stats.calls + stats.logins,
        stats.retries,
        stats.waited,
    )


def _progress(batches: list[Batch], ids: list[str], failed: Batch, *, refused: bool, transient: bool) -> str:
    """What reached UIS before ``failed``, what did not, and whether retrying the task helps."""
    done = batches[: failed.number - 1]
    calls = sum(len(b.calls) for b in done)
    if not done:
        accepted = "No batch was accepted"
    elif len(done) == 1:
        accepted = f"Batch 1 was accepted ({calls} calls, request id {ids[0]})"
    else:
        accepted = f"Batches 1-{len(done)} were accepted ({calls} calls, request ids {ids[: len(done)]})"
    outcome = (
        f"UIS refused batch {failed.number}" if refused else f"batch {failed.number} may or may not have reached UIS"
    )
    rest = len(batches) - failed.number
    unsent = f"; the {rest} later batch(es) were not sent" if rest else ""
    safe = (
        "etrying the task is safe: it sends every batch again under the same request ids, and UIS ignores ext_ids "
        "it has already processed"
    )
    advice = f"R{safe}" if transient else f"Fix the cause; then r{safe}"
    return f"{accepted}; {outcome}{unsent}. {advice}"


def _batch_failure(batches: list[Batch], ids: list[str], batch: Batch, exc: UISError) -> UploadBatchError:
    """The error for a batch the hook gave up on: what failed, which line the API named, what was accepted."""
    line = batch.line_of(exc.field)
    pointed = f" The API names {exc.field}: input line {line}." if line is not None else ""
    transient = exc.retryable or isinstance(exc, UISRateLimitError)
    progress = _progress(batches, ids, batch, refused=not isinstance(exc, UISTransportError), transient=transient)
    message = (
        f"upload.calls failed for batch {batch.number} of {len(batches)} ({batch.describe()}, request id "
        f"{ids[batch.number - 1]}): {exc}.{pointed} {progress}"
    )
    return UploadBatchError(message, retry_task=transient)
