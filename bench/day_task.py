"""One day-task of the budget benchmark: ``UISUploadedCallsToStorageOperator.execute`` for one Moscow day.

It imports and builds everything first, prints ``ready``, waits for a line on stdin (so that every task of a wave
starts together, as a backfill's first wave does once its imports are done), runs the operator and prints its
outcome as one JSON line: start and end (Unix seconds), records, calls, refusals, seconds waited on the budget,
and the error when it failed.

    AIRFLOW_CONN_UIS_BENCH='{"conn_type": "uis", ...}' \\
        python bench/day_task.py --conn-id uis_bench --day 2026-01-05 --page-size 500 --out /tmp/day.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Wait for the go line, run the day's extract, print the outcome as JSON (exit 0 even when the task failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conn-id", required=True)
    parser.add_argument("--day", required=True, help="the Moscow day to extract, YYYY-MM-DD")
    parser.add_argument("--page-size", type=int, required=True)
    parser.add_argument("--out", required=True, help="absolute path of the JSON-lines file")
    args = parser.parse_args(argv)

    import pendulum
    from airflow.sdk.plugins_manager import integrate_macros_plugins

    from uis_provider.exceptions import UISError
    from uis_provider.extract import extract_window, validate_output
    from uis_provider.hooks.uis import UISHook
    from uis_provider.operators.uploaded_calls import UISUploadedCallsToStorageOperator
    from uis_provider.protocol.budget import BudgetDeadline
    from uis_provider.protocol.windows import Window
    from uis_provider.storage.probe import probe_output

    # the task log's lines (progress, budget waits) go to stderr, which the benchmark keeps with --logs
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(created).3f %(threadName)s %(message)s"))
    provider_log = logging.getLogger("uis_provider")
    provider_log.addHandler(handler)
    provider_log.setLevel(logging.INFO)
    provider_log.propagate = False
    integrate_macros_plugins()
    day = pendulum.parse(args.day, tz="Europe/Moscow")
    operator = UISUploadedCallsToStorageOperator(
        task_id=f"day_{args.day}",
        uis_conn_id=args.conn_id,
        output_path=args.out,
        date_from=day.isoformat(),
        date_till=day.add(days=1).isoformat(),
        page_size=args.page_size,
    )
    start, end = operator.window_bounds({})
    query = operator.build_query()
    print("ready", flush=True)
    sys.stdin.readline()

    started = time.time()
    outcome: dict[str, object] = {"day": args.day, "ok": True, "error": None, "records": 0}
    # the path of UISUploadedCallsToStorageOperator.execute: the output probe, its deadline, a hook, the extract engine
    probe_output(
        validate_output(operator.output_path, operator.output_conn_id, operator.file_format, operator.compression)
    )
    deadline = BudgetDeadline.for_task(operator.budget_timeout, operator.execution_timeout, time.time())
    with UISHook(operator.uis_conn_id, budget_deadline=deadline) as hook:
        try:
            window = Window.build(start, end, hook.get_timezone())
            result = extract_window(hook, window, query, operator.output_path)
            outcome["records"] = result.records
        except UISError as exc:
            outcome.update(ok=False, error=str(exc))
        stats = hook.session.stats
    outcome.update(
        start=started,
        end=time.time(),
        calls=stats.calls,
        refusals=stats.refusals,
        retries=stats.retries,
        budget_waited=round(stats.budget_waited, 2),
    )
    print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
