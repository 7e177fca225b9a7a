"""The process's C heap: freed memory handed back to the system between phases and batches."""

from __future__ import annotations

import ctypes
from contextlib import suppress


def trim_heap() -> None:
    """Hand the C heap's free memory back to the system (glibc ``malloc_trim``; elsewhere
    nothing). Freed Python objects and buffers otherwise stay in the process's resident size,
    so a phase that frees much before one that allocates much peaks at the sum of both."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
