"""Python's cyclic garbage collector paused while a large answer is decoded, on any thread.

Decoded JSON holds no reference cycles, yet the tens of thousands of containers a page creates trigger collections
that rescan the whole heap: pausing them makes a page decode several times faster (``bench/README.md``). A
process-wide switch is I/O-side state, so the transports and the paginators that decode pages
pause it, never the sans-IO :mod:`uis_provider.protocol.jsonrpc`.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from uis_provider.protocol.session import Reply

#: Bodies from this size up are decoded with the cyclic garbage collector paused.
GC_PAUSE_BYTES = 64 * 1024


class CollectorPause:
    """Pauses the cyclic garbage collector while at least one caller is inside it, on any thread.

    The collector's previous state is restored when the last caller leaves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._was_enabled = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._was_enabled:
                    gc.enable()


collector_paused = CollectorPause()
"""Pause the cyclic garbage collector in a ``with`` block (nests, on any thread; see :class:`CollectorPause`)."""


@contextmanager
def decoding(reply: Reply | None) -> Iterator[None]:
    """Where a flow is handed ``reply`` (and decodes it): the collector paused when its body is large."""
    pause = reply is not None and len(reply.body) >= GC_PAUSE_BYTES
    with collector_paused() if pause else contextlib.nullcontext():
        yield
