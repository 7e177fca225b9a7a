"""A worker pool process's runtime: built after the fork, on the process's own core."""

from __future__ import annotations

import os
import threading

from core.config import get_settings
from workers.celery.sibling_cores import pool_cores
from workers.runtime import Runtime

_runtime: Runtime | None = None
_runtime_pid = 0
_runtime_lock = threading.Lock()


def process_runtime() -> Runtime:
    """This process's runtime from the environment's settings, built on first use (again in a
    forked child). In a worker's pool process of one reading thread, it reads on the process's
    core, lent to and borrowed from its siblings (workers/celery/sibling_cores.py)."""
    global _runtime, _runtime_pid
    with _runtime_lock:
        if _runtime is None or _runtime_pid != os.getpid():
            settings = get_settings()
            cores = pool_cores() if settings.ocr.workers == 1 else None
            _runtime = Runtime.build(settings, cores=cores)
            _runtime_pid = os.getpid()
        return _runtime
