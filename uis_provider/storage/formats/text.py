"""What the line formats (JSON lines, CSV) share: lines buffered and written as UTF-8 chunks, optionally gzipped."""

from __future__ import annotations

import abc
import struct
import zlib
from typing import Any, BinaryIO, Final, Protocol, TypeVar

from uis_provider.storage.formats.base import _PageWriter

_TEXT_FLUSH_LINES: Final = 1024
_GZIP_LEVEL: Final = 6
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"

PageT = TypeVar("PageT")


class _ByteSink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class _GzipStream:
    """A gzip member with mtime 0 and no file name, written through to ``fileobj`` (which stays open)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj
        self._compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        fileobj.write(_GZIP_HEADER)

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._fileobj.write(self._compressor.compress(data))

    def close(self) -> None:
        self._fileobj.write(self._compressor.flush())
        self._fileobj.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))


class _TextWriter(_PageWriter[PageT]):
    """Shared state of the line formats: subclasses buffer lines and write them in chunks of UTF-8 bytes."""

    def __init__(self, sink: _ByteSink, columns: tuple[str, ...]) -> None:
        self.records = 0
        self._sink = sink
        self._columns = columns
        self._column_set = frozenset(columns)
        self._closed = False

    @abc.abstractmethod
    def _flush(self) -> None:
        """Write the buffered lines to the sink as one chunk and empty the buffer."""

    def close(self) -> None:
        """Write buffered lines and, for gzip, the gzip trailer; the underlying file stays open."""
        if self._closed:
            return
        self._flush()
        if isinstance(self._sink, _GzipStream):
            self._sink.close()
        self._closed = True
