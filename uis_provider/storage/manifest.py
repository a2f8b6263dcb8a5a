"""The manifest beside every landed window: ``<output_path>.manifest.json`` says what the data object holds.

A reader learns from it, without listing the bucket or opening the data, whether a window has landed, how many rows
it holds (0 is an answer, not a missing file), the object's size and sha256, its columns and their types, the window,
the method and its parameters, and for uploaded calls how many records were still processing (``final``). It is
written after the data object and atomically, as canonical JSON: a rerun over unchanged data gives the same bytes
except ``extracted_at``. It never holds a secret: the API token is not a method parameter, and any parameter whose
name looks like a credential is replaced by ``***``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from uis_provider.storage.atomic import atomic_output, filesystem_of, storage_uri, to_storage_path
from uis_provider.version_compat import storage_conn_id

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from uis_provider.protocol.windows import Window

MANIFEST_SUFFIX = ".manifest.json"
#: Bumped when a key changes meaning or goes away (new keys do not bump it).
MANIFEST_VERSION = 1
#: Parameter names that may carry a credential (Airflow's own masker redacts fields named like these).
_SECRET_NAME = re.compile(r"token|secret|passw|api_?key|private|credential|authori[sz]ation|passphrase", re.I)
REDACTED = "***"


def manifest_path(data_path: ObjectStoragePath) -> ObjectStoragePath:
    """Where the manifest of ``data_path`` lies: the same store and connection, the name plus ``.manifest.json``."""
    return to_storage_path(
        storage_uri(data_path) + MANIFEST_SUFFIX, storage_conn_id(data_path), parameter="the manifest path"
    )


def without_secrets(value: Any) -> Any:
    """``value`` with every mapping entry whose key looks like a credential replaced by ``***`` (recursively)."""
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _SECRET_NAME.search(str(key)) else without_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [without_secrets(item) for item in value]
    return value


def build_manifest(
    *,
    uri: str,
    file_format: str,
    compression: str | None,
    rows: int,
    size: int,
    sha256: str,
    columns: Sequence[tuple[str, str]],
    window: Window,
    method: str,
    params: Mapping[str, Any],
    statuses: Mapping[str, int] | None,
    pending: int | None,
    final: bool | None,
    provider_version: str,
    extracted_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The manifest of one landed window as a JSON-able dict (see the module docstring for what each key means).

    ``statuses``/``pending`` are ``None`` when the method has no processing status or its column was not written;
    ``final`` is then ``None`` too when it cannot be known.
    """
    moment = extracted_at or dt.datetime.now(dt.timezone.utc)
    return {
        "manifest_version": MANIFEST_VERSION,
        "uri": uri,
        "format": file_format,
        "compression": compression,
        "rows": rows,
        "bytes": size,
        "sha256": sha256,
        "columns": [{"name": name, "type": kind} for name, kind in columns],
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "timezone": window.timezone,
        "method": method,
        "params": without_secrets({key: value for key, value in params.items() if key not in WINDOW_PARAMS}),
        "statuses": dict(sorted(statuses.items())) if statuses is not None else None,
        "pending": pending,
        "final": final,
        "extracted_at": moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "provider_version": provider_version,
    }


#: The window's own parameters: the manifest states the window once, as ``window_start``/``window_end``.
WINDOW_PARAMS = frozenset({"date_from", "date_till"})


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, two-space indent, UTF-8, final newline): equal manifests, equal bytes."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_manifest(data_path: ObjectStoragePath, manifest: Mapping[str, Any]) -> ObjectStoragePath:
    """Write ``manifest`` beside ``data_path`` atomically (after the data object is in place); return its path."""
    target = manifest_path(data_path)
    with atomic_output(target) as handle:
        handle.write(manifest_bytes(manifest))
    return target


def read_manifest(data_path: ObjectStoragePath) -> dict[str, Any] | None:
    """The manifest of ``data_path``, or ``None`` when the window has not landed (no manifest object)."""
    target = manifest_path(data_path)
    try:
        body = filesystem_of(target).cat_file(target.path)
    except FileNotFoundError:
        return None
    manifest = json.loads(body)
    if not isinstance(manifest, dict):
        raise ValueError(f"{storage_uri(target)} is not a manifest: it holds {type(manifest).__name__}, not an object")
    return manifest
