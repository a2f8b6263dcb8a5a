"""A pass-through binary sink that counts and hashes what is written: an object's size and sha256 without reading
it back (an object store would charge a second download for that)."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO, cast


class DigestWriter(io.RawIOBase):
    """Write through to ``target`` while counting the bytes and feeding them to a sha256.

    Closing it does not close ``target`` (the atomic output owns that). It is a file-like object pyarrow accepts too
    (``write``, ``tell``, ``flush``, ``closed``).
    """

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self._target = target
        self._sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        """Always: this is a write-only sink."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Hash ``data`` and write it to the target; returns its length."""
        view = memoryview(data).cast("B")
        self._sha256.update(view)
        self._target.write(view)
        self.bytes += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        """Bytes written so far (the position of a fresh, append-only output)."""
        return self.bytes

    def flush(self) -> None:
        """Flush the target."""
        if not self.closed:
            self._target.flush()

    @property
    def stream(self) -> BinaryIO:
        """This sink typed as the binary file the record writers take."""
        return cast("BinaryIO", self)

    @property
    def sha256(self) -> str:
        """Hex sha256 of everything written so far."""
        return self._sha256.hexdigest()
