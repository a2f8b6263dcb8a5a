"""The asset event of a landed window: what its ``extra`` says, and how it reaches the task's outlets.

Every ``Asset`` (``Dataset`` on Airflow 2) among an extract task's ``outlets`` gets one event per landed window, whose
``extra`` repeats the manifest's facts (window, rows, object, size, sha256, and for uploaded calls ``pending`` and
``final``). An ``AssetAlias`` outlet gets an event for the written object itself (``Asset(uri=<object>)``). With
``partition_assets=True`` (Airflow 3.3+, which lets a task set the partition key of its events) each ``Asset``
event carries the window as its partition key, for consumers scheduled with ``PartitionedAssetTimetable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import Asset, AssetAlias

from uis_provider.exceptions import UISConfigurationError
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.protocol.windows import Window
from uis_provider.version_compat import AIRFLOW_V_3_3_PLUS, asset_ref_types

#: The manifest keys every event's ``extra`` repeats (``pending`` is added for ``get.uploaded_calls``).
EXTRA_KEYS = ("window_start", "window_end", "rows", "uri", "bytes", "sha256", "method", "final")
#: Airflow's own time partition keys (``CronPartitionTimetable``, the temporal partition mappers) look like this,
#: on the wall clock of the account's time zone.
PARTITION_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S"


def event_extra(manifest: Mapping[str, Any], manifest_uri: str) -> dict[str, Any]:
    """The ``extra`` of a window's asset event: the manifest's facts a consumer needs, and where the manifest is."""
    extra = {key: manifest[key] for key in EXTRA_KEYS}
    if manifest["method"] == UPLOADED_CALLS.name:
        extra["pending"] = manifest["pending"]
    extra["manifest_uri"] = manifest_uri
    return extra


def partition_key(window: Window) -> str:
    """The window's partition key: its start on the account's wall clock, e.g. ``2026-01-04T00:00:00``."""
    return window.start.strftime(PARTITION_KEY_FORMAT)


def validate_partition_assets(value: Any) -> bool:
    """``partition_assets`` as a bool; True is refused on Airflow lines where a task cannot set a partition key."""
    if not isinstance(value, bool):
        raise UISConfigurationError(f"partition_assets must be True or False, got {value!r}")
    if value and not AIRFLOW_V_3_3_PLUS:
        raise UISConfigurationError(
            "partition_assets=True needs Airflow 3.3 or later, where a task sets its events' partition key "
            "(outlet_events[asset].add_partitions); on this Airflow leave it False: every event still carries the "
            "window in its extra (window_start, window_end)"
        )
    return value


def is_alias(outlet: Any) -> bool:
    """Whether ``outlet`` is an ``AssetAlias`` (``DatasetAlias`` on Airflow 2)."""
    return isinstance(outlet, AssetAlias)


def is_asset(outlet: Any) -> bool:
    """Whether ``outlet`` is an ``Asset`` (``Dataset``) or a reference to one by name or URI (Airflow 3)."""
    return isinstance(outlet, (Asset, *asset_ref_types()))


def emit(outlet_events: Any, outlets: Iterable[Any], extra: Mapping[str, Any], key: str | None = None) -> list[str]:
    """Give every asset outlet the window's ``extra`` (and partition ``key``); add the object to every alias.

    Returns a description of each event for the task log; outlets of other kinds (plain lineage objects) are left
    alone.
    """
    described = []
    for outlet in outlets:
        if is_alias(outlet):
            outlet_events[outlet].add(Asset(uri=extra["uri"]), extra=dict(extra))
            described.append(f"alias {outlet.name!r} -> {extra['uri']}")
        elif is_asset(outlet):
            accessor = outlet_events[outlet]
            accessor.extra.update(extra)
            if key is not None:
                accessor.add_partitions(key)
            name = getattr(outlet, "name", None) or getattr(outlet, "uri", None) or repr(outlet)
            described.append(f"asset {name!r}" + (f" partition {key!r}" if key is not None else ""))
    return described
