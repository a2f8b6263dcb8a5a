"""The emulator's clock: wall time plus an offset that only moves forward."""

from __future__ import annotations

import threading
import time
from datetime import timezone

import pytest

from uis_provider.testing.clock import EmulatorClock


def test_it_starts_at_the_wall_clock_and_advance_moves_it_forward() -> None:
    clock = EmulatorClock()
    before = time.time()
    assert before <= clock.time() <= time.time()
    clock.advance(3600)
    assert clock.time() - time.time() == pytest.approx(3600, abs=1.0)
    now = clock.now()
    assert now.tzinfo == timezone.utc and now.timestamp() == pytest.approx(clock.time(), abs=1.0)
    assert "offset=3600.000s" in repr(clock)


def test_it_never_moves_backwards() -> None:
    clock = EmulatorClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.time() == pytest.approx(time.time(), abs=1.0)


def test_advances_from_many_threads_all_count() -> None:
    clock = EmulatorClock()
    threads = [threading.Thread(target=lambda: [clock.advance(0.5) for _ in range(100)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.time() - time.time() == pytest.approx(400.0, abs=1.0)
