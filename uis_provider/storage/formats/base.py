"""The behaviour every format's record writer shares.

A page of records is written whole when the format can take it as one (a typed page, column by column), else
record by record; a writer finishes its file on success and drops what it buffered on error.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from uis_provider.storage.rows import Rows

if TYPE_CHECKING:
    from typing_extensions import Self

PageT = TypeVar("PageT")


class _PageWriter(abc.ABC, Generic[PageT]):
    """Behaviour shared by every format's writer: a typed page written whole, finish on success, discard on error.

    A format turns a typed page into ``PageT`` (its lines' text, its columns) in :meth:`_typed_page`, or returns
    None when the page's bytes could differ from writing its records one by one, which then happens instead.
    """

    records: int
    _closed: bool

    @abc.abstractmethod
    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record."""

    @abc.abstractmethod
    def _typed_page(self, rows: Rows) -> PageT | None:
        """The page made ready for the format, or None to write its records one by one."""

    @abc.abstractmethod
    def _write_page(self, page: PageT, count: int) -> None:
        """Write a page of ``count`` records made ready by :meth:`_typed_page`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the file (the underlying file object stays open)."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Drop what is buffered and write nothing more."""

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records in order, with the bytes of :meth:`write` on each; a typed page is written whole."""
        self._check_open()
        page = self._typed_page(records) if isinstance(records, Rows) else None
        if page is None:
            for record in records:
                self.write(record)
            return
        self._write_page(page, len(records))

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write() on a closed record writer")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()
