"""``DigestWriter``: the size and sha256 of an object as it is written, for every format's writer."""

from __future__ import annotations

import hashlib
import io

import pytest

from uis_provider.storage.digest import DigestWriter
from uis_provider.storage.formats import open_record_writer


@pytest.mark.parametrize(
    ("file_format", "compression"), [("jsonl", None), ("jsonl", "gzip"), ("csv", None), ("parquet", None)]
)
def test_counts_and_hashes_what_each_writer_writes(file_format: str, compression: str | None) -> None:
    if file_format == "parquet":
        pytest.importorskip("pyarrow")
    target = io.BytesIO()
    with (
        DigestWriter(target) as sink,
        open_record_writer(sink.stream, file_format, ["a", "n"], compression, column_kinds={"n": "int64"}) as writer,
    ):
        for n in range(3000):
            writer.write({"a": f"row {n}", "n": n})
    body = target.getvalue()
    assert sink.bytes == len(body) > 0
    assert sink.sha256 == hashlib.sha256(body).hexdigest()
    assert not target.closed, "the atomic output owns the target; the digest sink must leave it open"


def test_empty_output_is_the_empty_digest() -> None:
    with DigestWriter(io.BytesIO()) as sink:
        pass
    assert (sink.bytes, sink.sha256) == (0, hashlib.sha256(b"").hexdigest())
