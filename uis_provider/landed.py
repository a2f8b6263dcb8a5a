"""What an extract task says about a window once its data object is in place: the manifest, then the asset events.

The order is the promise downstream relies on: data object, then manifest (both atomic), then the task succeeds and
Airflow records the asset events. A reader that finds a manifest finds the data it describes; a consumer told by an
event finds both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uis_provider
from uis_provider import asset_events
from uis_provider.protocol.methods import UPLOADED_CALLS
from uis_provider.storage.atomic import storage_uri
from uis_provider.storage.manifest import build_manifest, write_manifest

if TYPE_CHECKING:
    from uis_provider.extract import ExtractResult
    from uis_provider.protocol.windows import Window


@dataclass(frozen=True)
class Landed:
    """A published window: its manifest (as written), where the manifest lies, the asset events it was given."""

    manifest: dict[str, Any]
    manifest_uri: str
    extra: dict[str, Any]
    events: list[str]


def publish_window(
    result: ExtractResult,
    *,
    window: Window,
    method: str,
    params: Mapping[str, Any],
    file_format: str,
    compression: str | None,
    statuses: Mapping[str, int] | None,
    pending: int | None,
    outlet_events: Any,
    outlets: Iterable[Any],
    partition: bool = False,
) -> Landed:
    """Write the manifest of ``result`` beside it, then hand the event ``extra`` to the task's asset outlets.

    ``final`` is true when nothing is pending, ``None`` when that is unknown (``pending`` is ``None`` for a method
    with statuses whose column was not written), and true for methods without processing statuses.
    """
    final = _final(method, pending)
    manifest = build_manifest(
        uri=storage_uri(result.path),
        file_format=file_format,
        compression=compression,
        rows=result.records,
        size=result.bytes,
        sha256=result.sha256,
        columns=result.columns,
        window=window,
        method=method,
        params=params,
        statuses=statuses,
        pending=pending,
        final=final,
        provider_version=uis_provider.__version__,
    )
    manifest_uri = storage_uri(write_manifest(result.path, manifest))
    extra = asset_events.event_extra(manifest, manifest_uri)
    key = asset_events.partition_key(window) if partition else None
    events = asset_events.emit(outlet_events, outlets, extra, key) if outlet_events is not None else []
    return Landed(manifest, manifest_uri, extra, events)


def _final(method: str, pending: int | None) -> bool | None:
    """Whether no record of the window can still change status: only uploaded calls have statuses that move."""
    if method != UPLOADED_CALLS.name:
        return True
    return None if pending is None else pending == 0
