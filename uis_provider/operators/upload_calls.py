"""``UISUploadCallsOperator``: send calls from a file or XCom to ``upload.calls``, validated, batched and retry-safe."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from uis_provider.exceptions import UISConfigurationError, UISError, UISRateLimitError, UISTransportError
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.budget import DEFAULT_BUDGET_TIMEOUT, budget_timeout_seconds
from uis_provider.protocol.jsonrpc import new_request_id, result_data
from uis_provider.protocol.params import optional_user_id
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_plan import (
    MAX_BATCH_CALLS,
    REPORTED_INVALID,
    Batch,
    InvalidRow,
    ValidCall,
    csv_rows,
    input_format,
    jsonl_rows,
    list_rows,
    plan_batches,
    request_ids,
    request_prefix,
    summarize_invalid,
    validate_batch_size,
    validate_csv_delimiter,
    validate_on_invalid,
    validate_request_prefix,
    validate_rows,
)
from uis_provider.storage.atomic import filesystem_of, to_storage_path
from uis_provider.version_compat import has_fs

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

#: Added to the end of the upload in ``uploaded_before``, for clock skew between the worker and UIS.
UPLOAD_TIME_MARGIN = dt.timedelta(hours=1)
_GZIP_MAGIC = b"\x1f\x8b"


def _source_path(uri: Any, conn_id: str | None) -> ObjectStoragePath:
    try:
        path = to_storage_path(uri, conn_id, parameter="source_path")
    except ValueError as exc:
        raise UISConfigurationError(str(exc)) from None
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


class UISUploadCallsOperator(BaseOperator):
    """Upload calls to UIS with ``upload.calls``: every row checked first, then batches within the API's limits.

    Calls come from ``source_path`` (JSON lines or CSV, optionally gzip) or from ``calls`` (a list, e.g. an XCom).
    All rows are validated before anything is sent; invalid rows are reported with their line and reason and
    either fail the task (``on_invalid="fail"``, nothing sent) or are skipped. Valid calls go in input order in
    batches of at most ``batch_size`` calls and 512 KB; the hook paces them by the 5-point weight of
    ``upload.calls`` and ``metadata.limits`` and retries transient failures under the same request id.

    Request ids are ``<request_id_prefix>-0001``, ``-0002``, ...; the default prefix is derived from the DAG, the
    task, the run's data interval (its run id when it has none) and the map index, so a retried task, or a new run
    of the same interval, sends the same batches under the same ids. UIS ignores an ``ext_id`` it has already
    processed, so a retry never duplicates a call, and a sensor on the returned ids sees every call.
    If a batch still fails after the hook's retries, the task fails naming the batch, its lines, and what was
    already accepted; later batches are not sent.

    Returns ``{"request_ids", "sent", "skipped", "skipped_count", "batches", "uploaded_before"}``; ``request_ids``
    and ``uploaded_before`` (an ISO instant after every upload of this task, plus an hour for clock skew) are
    also pushed under their own XCom keys, so a DAG can pass ``upload.output["request_ids"]`` to a sensor.

    :param source_path: an ``ObjectStoragePath`` URI (``file:///...``, ``s3://bucket/key``) of ``.jsonl``/``.ndjson``
        or ``.csv`` (``.gz`` too). CSV columns are call fields; ``callback``, ``tags``, ``wav_records`` and
        ``mp3_records`` hold JSON; empty cells are left out.
    :param source_conn_id: the Airflow connection of the object store.
    :param calls: the calls as a list of dicts, instead of ``source_path``.
    :param file_format: ``jsonl`` or ``csv``; default: from the file name.
    :param csv_delimiter: the CSV field separator (``;`` for spreadsheets saved in a Russian locale).
    :param on_invalid: ``fail`` (default: send nothing when any row is invalid) or ``skip`` (send the valid rows).
    :param batch_size: calls per request, 1..50 (default 50, the API's maximum).
    :param user_id: act for this client of an agent account (overrides the connection's ``user_id``).
    :param request_id_prefix: your own request-id prefix (letters, digits, ``._:+-``), stable across retries.
    :param api_retry_policy: how transient API failures of one batch are retried.
    :param budget_timeout: how long the task may wait in all for the minute point budget it shares with other
        tasks on the account (seconds or a ``timedelta``; default 6 hours, never past ``execution_timeout``).
    :param uis_conn_id: the Airflow connection of type ``uis``.
    """

    template_fields: Sequence[str] = ("source_path", "calls", "user_id", "request_id_prefix")
    template_fields_renderers = {"calls": "json"}
    ui_color = "#fdf0e8"

    def __init__(
        self,
        *,
        source_path: str | ObjectStoragePath | None = None,
        source_conn_id: str | None = None,
        calls: Any = None,
        file_format: str | None = None,
        csv_delimiter: str = ",",
        on_invalid: str = "fail",
        batch_size: int = MAX_BATCH_CALLS,
        user_id: int | str | None = None,
        request_id_prefix: str | None = None,
        api_retry_policy: RetryPolicy | None = None,
        budget_timeout: float | timedelta = DEFAULT_BUDGET_TIMEOUT,
        uis_conn_id: str = UISHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (source_path is None) == (calls is None):
            raise UISConfigurationError(
                "give exactly one of source_path (a file of calls) and calls (a list of calls, e.g. an XCom)"
            )
        self.source_path = source_path
        self.source_conn_id = source_conn_id
        self.calls = calls
        self.file_format = file_format
        self.csv_delimiter = validate_csv_delimiter(csv_delimiter)
        self.on_invalid = validate_on_invalid(on_invalid)
        self.batch_size = validate_batch_size(batch_size)
        self.user_id = user_id
        self.request_id_prefix = request_id_prefix
        self.api_retry_policy = api_retry_policy
        self.budget_timeout = budget_timeout_seconds(budget_timeout)
        self.uis_conn_id = uis_conn_id
        if file_format is not None:
            input_format("", file_format)

    def read_calls(self) -> tuple[list[ValidCall], list[InvalidRow]]:
        """Read and validate every row of the rendered source (no API call)."""
        if self.calls is not None:
            calls = self.calls
            if isinstance(calls, (str, bytes, dict)) or not isinstance(calls, Sequence):
                raise UISConfigurationError(
                    f"calls must be a list of call objects, got {type(calls).__name__}; pass an XComArg "
                    "(task.output) or render templates as native objects (render_template_as_native_obj=True)"
                )
            return validate_rows(list_rows(calls))
        path = _source_path(self.source_path, self.source_conn_id)
        file_format = input_format(path.name, self.file_format)
        with _open_text(path, file_format) as text:
            rows = csv_rows(text, delimiter=self.csv_delimiter) if file_format == "csv" else jsonl_rows(text)
            return validate_rows(rows)

    def _prefix(self, context: Context) -> str:
        prefix = validate_request_prefix(self.request_id_prefix)
        if prefix:
            return prefix
        ti = context.get("ti")
        if ti is None:
            self.log.warning("No task instance in the context: request ids are random, a retry will not reuse them")
            return new_request_id()
        map_index = getattr(ti, "map_index", -1)
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        run_key = f"{start.isoformat()}/{end.isoformat()}" if start is not None and end is not None else ti.run_id
        return request_prefix(ti.dag_id, ti.task_id, run_key, -1 if map_index is None else map_index)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate every row, then send the batches; returns the request ids, counts and skipped rows."""
        user_id = optional_user_id(self.user_id)
        prefix = self._prefix(context)
        valid, invalid = self.read_calls()
        unit = "item" if self.calls is not None else "line"
        if invalid and self.on_invalid == "fail":
            raise AirflowFailException(
                f"{len(invalid)} of {len(valid) + len(invalid)} calls are invalid, so nothing was sent "
                f"(on_invalid='fail'; 'skip' sends the valid ones):\n{summarize_invalid(invalid, unit=unit)}"
            )
        if invalid:
            self.log.warning(
                "Skipping %d invalid calls (on_invalid='skip'):\n%s",
                len(invalid),
                summarize_invalid(invalid, unit=unit),
            )
        batches = plan_batches(valid, batch_size=self.batch_size)
        ids = request_ids(prefix, len(batches))
        self.log.info("Uploading %d calls in %d batch(es), request ids %s-0001..", len(valid), len(batches), prefix)
        if batches:
            self._send(batches, ids, user_id)
        uploaded_before = (dt.datetime.now(dt.timezone.utc) + UPLOAD_TIME_MARGIN).isoformat()
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="request_ids", value=ids)
            ti.xcom_push(key="uploaded_before", value=uploaded_before)
        return {
            "request_ids": ids,
            "sent": len(valid),
            "skipped": [row.as_dict() for row in invalid[:REPORTED_INVALID]],
            "skipped_count": len(invalid),
            "batches": len(batches),
            "uploaded_before": uploaded_before,
        }

    def _send(self, batches: list[Batch], ids: list[str], user_id: int | None) -> None:
        with UISHook(self.uis_conn_id, retry_policy=self.api_retry_policy) as hook:
            hook.session.bound_waits(self.budget_timeout, self.execution_timeout)
            # reading the connection here makes a missing or key-less one a configuration error, not a batch failure
            self.log.info("Sending %d batch(es) to %s", len(batches), hook.settings.endpoint)
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
                    raise AirflowException(
                        f"upload.calls answered batch {batch.number} ({batch.describe()}, request id {request_id}) "
                        f"without success: {data!r}. {_progress(batches, ids, batch, refused=True, transient=False)}"
                    )
                self.log.info(
                    "Batch %d/%d accepted: %s, request id %s", batch.number, len(batches), batch.describe(), request_id
                )
            stats = hook.session.stats
            self.log.info(
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


def _batch_failure(batches: list[Batch], ids: list[str], batch: Batch, exc: UISError) -> AirflowException:
    """The task error for a batch the hook gave up on: what failed, which line the API named, what was accepted."""
    line = batch.line_of(exc.field)
    pointed = f" The API names {exc.field}: input line {line}." if line is not None else ""
    transient = exc.retryable or isinstance(exc, UISRateLimitError)
    progress = _progress(batches, ids, batch, refused=not isinstance(exc, UISTransportError), transient=transient)
    message = (
        f"upload.calls failed for batch {batch.number} of {len(batches)} ({batch.describe()}, request id "
        f"{ids[batch.number - 1]}): {exc}.{pointed} {progress}"
    )
    return AirflowException(message) if transient else AirflowFailException(message)
