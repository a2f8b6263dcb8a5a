"""``dag.test()`` of one run on every supported Airflow line, with the DAG's assets in the metadata DB first.

Before 3.3 ``dag.test()`` does not write the DAG object's assets to the metadata DB (2.11 and 3.0 write nothing,
3.1 and 3.2 parse the DAGs folder once per DAG id, under whatever environment the first run had), so a task with an
asset outlet fails as "inactive" (3.0) or emits no event: the DAG is synced first, as a deployment's DAG processor
would have done. Imports Airflow only when called.
"""

from __future__ import annotations

from typing import Any


def run_dag_test(dag: Any, logical_date: Any) -> Any:
    """``dag.test()`` of the run at ``logical_date`` (Airflow 2 names the argument ``execution_date``); the DAG run."""
    from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_3_PLUS

    if not AIRFLOW_V_3_3_PLUS and any(task.outlets or task.inlets for task in dag.tasks):
        sync_dag_to_db(dag)
    if AIRFLOW_V_3_0_PLUS:
        return dag.test(logical_date=logical_date)
    return dag.test(execution_date=logical_date)


def sync_dag_to_db(dag: Any) -> None:
    """Write ``dag`` and its assets to the metadata DB as the DAG processor does (Airflow 2.11 to 3.2)."""
    from uis_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        dag.sync_to_db()
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.serialization.serialized_objects import SerializedDAG

    DagBundlesManager().sync_bundles_to_db()
    if not AIRFLOW_V_3_1_PLUS:
        from airflow.models.dag import DAG as SchedulerDAG

        scheduler_dag = SerializedDAG.deserialize_dag(SerializedDAG.serialize_dag(dag))  # type: ignore[attr-defined]
        SchedulerDAG.bulk_write_to_db("dags-folder", None, [scheduler_dag])  # noqa: AIR311 (3.0: core DAG holds it)
        return
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session
        )
