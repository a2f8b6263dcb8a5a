"""The few Airflow differences (2.11 to 3.3) that ``apache-airflow-providers-common-compat`` does not bridge.

Everything else is imported from ``airflow.providers.common.compat``; what is here is missing there (checked
against common-compat 1.23.0, and 1.20.0, the newest on Python 3.10): the secret maskers, ``has_fs`` on 3.0, an
``ObjectStoragePath``'s connection, the hook-lineage plugin check, asset references (Airflow 3), the data-interval
cron timetable (the example DAGs' schedule) and the version flags that decide where the connection form comes from.
Like the Apache providers' ``version_compat.py``: one module, no import ladders elsewhere.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import CronDataIntervalTimetable
else:
    # Before 3.2 the Task SDK has no timetables; DAGs take core's, which is where 3.2+ still keeps its own.
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[assignment]

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "CronDataIntervalTimetable",
    "amask_secret",
    "asset_ref_types",
    "has_fs",
    "hook_lineage_is_read",
    "mask_secret",
    "storage_conn_id",
]


def has_fs(scheme: str) -> bool:
    """Whether Airflow attaches a filesystem to ``scheme``: 3.0's Task SDK io lacks ``has_fs`` (core has it)."""
    if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS:
        from airflow.io import has_fs as core_has_fs  # type: ignore[attr-defined]

        return bool(core_has_fs(scheme))
    from airflow.providers.common.compat.sdk import io as airflow_io

    return bool(airflow_io.has_fs(scheme))


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secret masker.

    common-compat bridges it from 1.21 on; 1.20, the newest release on Python 3.10, does not, so the masker is
    looked up where each Airflow line keeps it.
    """
    try:
        from airflow.providers.common.compat.sdk import mask_secret as masker
    except ImportError:
        for module in (
            "airflow.sdk.log",
            "airflow.sdk.execution_time.secrets_masker",
            "airflow.utils.log.secrets_masker",
        ):
            try:
                masker = importlib.import_module(module).mask_secret
            except (ImportError, AttributeError):
                continue
            break
        else:
            raise
    masker(secret)


def storage_conn_id(path: Any) -> str | None:
    """The Airflow connection of an ``ObjectStoragePath``: an attribute from 3.2, a storage option before."""
    if AIRFLOW_V_3_2_PLUS:
        return path.conn_id
    return path.storage_options.get("conn_id")


async def amask_secret(secret: str) -> None:
    """Mask ``secret`` from an event loop (the triggerer's).

    Airflow 3.3 has ``airflow.sdk.log.amask_secret``, which tells the supervisor without blocking the loop; on
    older lines the synchronous masker runs on a worker thread, as common-compat's ``get_async_connection`` does
    for the connection itself (a synchronous supervisor call on the triggerer's loop can deadlock). Detected by
    import rather than by version: 3.2.2 lacks it, 3.3.2 has it, and the 3.3 patches in between were not checked.
    """
    try:
        from airflow.sdk.log import amask_secret as sdk_amask_secret
    except ImportError:
        from asgiref.sync import sync_to_async

        await sync_to_async(mask_secret)(secret)
    else:
        await sdk_amask_secret(secret)


def hook_lineage_is_read() -> bool:
    """Whether a plugin reads hook-level lineage (Airflow collects it only then).

    The plugins manager moved to ``airflow.sdk.plugins_manager`` in 3.2; earlier lines keep the readers in a
    global of core's plugins manager, filled on first use.
    """
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk import plugins_manager

        return bool(plugins_manager.get_hook_lineage_readers_plugins())
    from airflow import plugins_manager as core_plugins_manager

    core_plugins_manager.initialize_hook_lineage_readers_plugins()  # type: ignore[attr-defined]
    return bool(core_plugins_manager.hook_lineage_reader_classes)  # type: ignore[attr-defined]


def asset_ref_types() -> tuple[type, ...]:
    """The classes of ``Asset.ref(name=...)`` / ``Asset.ref(uri=...)`` outlets: Airflow 3 only (2.11 has none)."""
    if not AIRFLOW_V_3_0_PLUS:
        return ()
    from airflow.sdk.definitions.asset import AssetRef

    return (AssetRef,)
