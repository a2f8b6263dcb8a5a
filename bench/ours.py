"""The provider's extraction path, exactly as ``UISUploadedCallsToStorageOperator.execute`` runs it.

A ``UISHook`` on an Airflow connection, the window in the account's time zone, the operator's default query for
``get.uploaded_calls`` (page size 10 000, the method's columns, sorted by ``ext_id``) and
``uis_provider.extract.extract_window`` writing JSON lines atomically to local storage.

    AIRFLOW_CONN_UIS_BENCH='{"conn_type": "uis", ...}' \\
        python bench/ours.py --conn-id uis_bench --date-from 2026-01-01 --date-till 2026-01-31 --out calls.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Extract the window; print ``{"seconds", "cpu_seconds", "records", "calls", "parts"}`` (parts as [date_from,
    date_till]; ``cpu_seconds`` is the process's CPU time over the same span, every thread)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conn-id", required=True, help="an Airflow connection of type uis")
    parser.add_argument("--date-from", required=True)
    parser.add_argument("--date-till", required=True)
    parser.add_argument("--out", required=True, help="absolute path of the output file")
    parser.add_argument("--format", choices=("jsonl", "csv", "parquet"), default=None, help="default: the operator's")
    parser.add_argument("--compression", choices=("none", "gzip"), default="none")
    parser.add_argument("--prefetch-pages", type=int, default=None, help="default: the hook's")
    parser.add_argument(
        "--decoder",
        choices=("default", "json"),
        default="default",
        help="json: the standard library's, as without msgspec",
    )
    parser.add_argument(
        "--encoder",
        choices=("default", "json"),
        default="default",
        help="json: the writers encode with the standard library only, as without msgspec",
    )
    parser.add_argument(
        "--records",
        choices=("typed", "dicts"),
        default="typed",
        help="dicts: pages decoded into dicts and written record by record (no typed records)",
    )
    args = parser.parse_args(argv)

    from uis_provider.extract import extract_window, validate_output
    from uis_provider.hooks.uis import UISHook
    from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
    from uis_provider.protocol import jsonrpc
    from uis_provider.protocol.windows import Window
    from uis_provider.storage import rows
    from uis_provider.storage.formats import json_text
    from uis_provider.storage.probe import probe_output

    if args.decoder == "json":
        # as without msgspec installed: the standard library decodes every answer, whole
        jsonrpc._fast_decode = jsonrpc._stdlib_decode
        jsonrpc._envelope_decode = None
        rows._msgspec = None
    if args.encoder == "json":
        json_text._fast_json = None
        rows._msgspec = None
    if args.records == "dicts":
        rows._msgspec = None
    operator = UISUploadedCallsToStorageOperator(
        task_id="bench",
        uis_conn_id=args.conn_id,
        output_path=args.out,
        date_from=args.date_from,
        date_till=args.date_till,
        **({"file_format": args.format} if args.format else {}),
        **({"compression": "gzip"} if args.compression == "gzip" else {}),
    )
    hook_options = {} if args.prefetch_pages is None else {"prefetch_pages": args.prefetch_pages}
    # a task runner has loaded the plugins when it builds the task's context, before execute(); the lineage report
    # of the written file reads them, so load them here too rather than count them as extraction time. Likewise the
    # supervisor module, which the connection lookup imports: a task process is a fork of the supervisor, so in a
    # task it is loaded long before execute()
    import airflow.sdk.execution_time.supervisor  # noqa: F401
    from airflow.sdk.plugins_manager import integrate_macros_plugins

    integrate_macros_plugins()

    started = time.perf_counter()
    cpu_started = time.process_time()
    start, end = operator.window_bounds({})
    query = operator.build_query()
    path = validate_output(operator.output_path, operator.output_conn_id, operator.file_format, operator.compression)
    probe_output(path)
    with UISHook(operator.uis_conn_id, **hook_options) as hook:
        window = Window.build(start, end, hook.get_timezone())
        result = extract_window(
            hook,
            window,
            query,
            path,
            file_format=operator.file_format,
            compression=operator.compression,
            max_attempts=operator.max_attempts,
            column_kinds=operator.column_kinds,
        )
        calls = hook.session.stats.calls + hook.session.stats.logins
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    parts = [[part.api_from, part.api_till] for part in result.parts]
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu_seconds, "records": result.records, "calls": calls, "parts": parts}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
