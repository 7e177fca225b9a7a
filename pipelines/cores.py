"""The cores a process reads on: reading one batch of pages holds one core; an encoder that runs
on many threads itself (torch) holds them all, so that reading pauses while it runs instead of
sharing the cores with it.

``Cores`` counts the cores of one process. A worker's pool processes each read on one core of
the machine; their siblings' cores are lent across processes
(workers/celery/sibling_cores.py builds a ``Cores`` that does, on lock files).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


class Cores:
    """``count`` cores shared by everything one process reads at once: ``with cores:`` around
    reading a batch holds one; ``all()`` holds every one."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._free = threading.BoundedSemaphore(count)
        self._all = threading.Lock()  # one taker of every core at a time: no deadlock

    def __enter__(self) -> None:
        self._free.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._free.release()

    @contextmanager
    def all(self) -> Iterator[int]:
        """Hold every core of this process (a batch being read keeps its core to its end);
        yields how many cores were lent from outside the process besides (none here), which
        the holder may run on too."""
        with self._all:
            taken = 0
            try:
                for _ in range(self.count):
                    self._free.acquire()
                    taken += 1
                yield 0
            finally:
                for _ in range(taken):
                    self._free.release()
