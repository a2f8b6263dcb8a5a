"""Check, before the first API call, that an output can be written where it is going, leaving nothing behind.

A backfill whose bucket name has a typo should not pay for a year of pages before it finds out. The probe does the
cheapest thing that proves a write would succeed: on a local disk it creates and removes a temp file in the target's
directory (or its nearest existing ancestor); on S3 it starts a multipart upload of the target key and aborts it (the
bucket must exist and the credentials must be allowed to put objects there, and no object ever appears); on other
fsspec stores it writes and deletes an empty hidden object beside the target.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from typing import TYPE_CHECKING, Any

from uis_provider.exceptions import UISConfigurationError
from uis_provider.storage.atomic import LOCAL_PROTOCOLS, filesystem_of, storage_uri
from uis_provider.version_compat import storage_conn_id

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

_PROBE_PREFIX = ".uis-probe-"


def probe_output(
    path: ObjectStoragePath, *, parameter: str = "output_path", conn_parameter: str = "output_conn_id"
) -> None:
    """Raise :class:`UISConfigurationError` naming ``parameter`` (and ``conn_parameter``) when ``path`` cannot be
    written, with the store's own reason; return silently when a write there would succeed."""
    if path.protocol in LOCAL_PROTOCOLS:
        _probe_local(path.path, parameter)
        return
    uri = storage_uri(path)
    conn_id = storage_conn_id(path)
    via = f" through {conn_parameter}={conn_id!r}" if conn_id else f" ({conn_parameter} not set)"
    try:
        fs = filesystem_of(path)
        if callable(getattr(fs, "call_s3", None)):
            _probe_s3(fs, path, uri, via, parameter)
        else:
            _probe_fsspec(fs, path)
    except UISConfigurationError:
        raise
    except Exception as exc:
        raise UISConfigurationError(
            f"{parameter}={uri!r}: cannot write there{via} ({_reason(exc)}). Check that the bucket exists, that "
            f"the connection's credentials may put objects in it, and that the store is reachable from the worker; "
            "nothing was read from the API"
        ) from None


def _probe_local(target: str, parameter: str) -> None:
    """Create and remove a temp file in the target's directory, or in its nearest existing ancestor when the
    directory is still to be made (making it here could race another task's writer removing it again)."""
    directory = os.path.dirname(target)
    existing = directory
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    try:
        if not os.path.isdir(existing):
            raise NotADirectoryError(f"{existing!r} exists and is not a directory")
        fd, probe = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UISConfigurationError(
            f"{parameter}={'file://' + target!r}: cannot write a file in {directory!r} ({_reason(exc)}); give a "
            "directory this worker can create and write, nothing was read from the API"
        ) from None


def _probe_s3(fs: Any, path: ObjectStoragePath, uri: str, via: str, parameter: str) -> None:
    """Start and abort a multipart upload of the target key: proves the bucket and the right to put objects."""
    if getattr(fs, "anon", False):
        raise UISConfigurationError(
            f"{parameter}={uri!r}: no AWS credentials were found{via}, so the object would be written anonymously "
            "and refused. Give output_conn_id an 'aws' connection with a key (or a role the worker can use)"
        )
    bucket, _, key = path.path.lstrip("/").partition("/")
    upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    try:
        fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    except Exception as exc:  # an unfinished upload holds no object and no bytes; a lifecycle rule removes it
        log.warning("UIS: could not abort the probe upload of %s (%s); it holds no data", uri, _reason(exc))


def _probe_fsspec(fs: Any, path: ObjectStoragePath) -> None:
    """Write an empty hidden object beside the target and delete it."""
    parent = path.path.rsplit("/", 1)[0]
    probe = f"{parent}/{_PROBE_PREFIX}{secrets.token_hex(6)}"
    fs.pipe_file(probe, b"")
    try:
        fs.rm_file(probe)
    except Exception as exc:
        log.warning("UIS: could not remove the write probe %s (%s)", probe, _reason(exc))


def _reason(exc: BaseException) -> str:
    """The store's own words for a failure: the exception's type and text, or its cause's when it has none."""
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    if not text and cause is not None:
        return _reason(cause)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
