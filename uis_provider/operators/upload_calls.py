"""``UISUploadCallsOperator``: send calls from a file or XCom to ``upload.calls``, validated, batched and retry-safe."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from uis_provider.exceptions import UISConfigurationError
from uis_provider.hooks.uis import UISHook
from uis_provider.protocol.budget import DEFAULT_BUDGET_TIMEOUT, budget_timeout_seconds
from uis_provider.protocol.jsonrpc import new_request_id
from uis_provider.protocol.params import optional_user_id
from uis_provider.protocol.retry import RetryPolicy
from uis_provider.protocol.upload_params import (
    input_format,
    validate_batch_size,
    validate_csv_delimiter,
    validate_on_invalid,
    validate_request_prefix,
)
from uis_provider.protocol.upload_plan import (
    REPORTED_INVALID,
    Batch,
    InvalidRow,
    ValidCall,
    plan_batches,
    request_ids,
    request_prefix,
    summarize_invalid,
)
from uis_provider.protocol.upload_rules import MAX_BATCH_CALLS
from uis_provider.upload import UploadBatchError, read_file, read_list, send_batches

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context, ObjectStoragePath

#: Added to the end of the upload in ``uploaded_before``, for clock skew between the worker and UIS.
UPLOAD_TIME_MARGIN = dt.timedelta(hours=1)


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
            return read_list(self.calls)
        return read_file(
            self.source_path, self.source_conn_id, file_format=self.file_format, csv_delimiter=self.csv_delimiter
        )

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
            try:
                send_batches(hook, batches, ids, user_id, logger=self.log)
            except UploadBatchError as exc:
                # a transient failure may succeed on a task retry; a refusal needs its cause fixed first
                raise (AirflowException if exc.retry_task else AirflowFailException)(str(exc)) from None
