"""What the API process holds: the runtime every process builds from the settings (database,
blobs, parameters, the embedder on first search), and the Celery app it sends tasks through."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.logging import get_logger
from workers import jobs
from workers.blob_sweep import start_blob_sweeper
from workers.runtime import Runtime

log = get_logger("api")


def one_blas_thread() -> None:
    """Run this process's BLAS (numpy's matrix products) on one thread. The API's one BLAS
    call a request is the dense leg's matrix-vector product (``storage.vector_cache``), a
    memory-bound ~1 ms at 10k chunks: a second thread halves it on an idle machine, but the call
    then waits for the slower thread, which on a busy one (the other requests, a client on the
    same cores) is often not running: p50 24 ms against 1 ms on one thread (2 cores, load 12;
    issue 35). Concurrent requests are the API's parallelism. The products are the same."""
    from threadpoolctl import ThreadpoolController

    ThreadpoolController().limit(limits=1, user_api="blas")


@dataclass
class ApiState(Runtime):
    """The API's long-lived handles, built once at startup."""

    # this process's start, in the holder of its Idempotency-Key claims (their leases say when
    # a claim's process is gone; the holder tells whose claim it is, for a person reading)
    boot_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12], init=False)
    # when a request last met a locked database (time.monotonic()): /readyz says not ready
    database_busy_at: float | None = field(default=None, init=False)

    def claim_holder(self) -> str:
        """A holder for one request's Idempotency-Key claim: ``<boot id>:<pid>:<request>``."""
        return f"{self.boot_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def send(self, task: str, args: tuple[Any, ...], queue: str) -> None:
        """Send the task named ``task`` to ``queue`` (workers/jobs.py)."""
        jobs.send(task, args, queue)

    def warm_up(self) -> None:
        """Open what the first uploads would otherwise open while a client waits: a database
        connection, the broker connection of the task producer, the PDF library. A broker
        that is down is not an error here (readiness reports it). Starts one sweep of the blob
        store in the background (what a killed API left; workers sweep periodically), and the
        loading of the encoders, also in the background: the first search loaded them itself
        while its user waited (8 to 15 s with torch on two busy cores, bench/web_first_search.py;
        the ONNX query encoder still takes 0.3 to 0.7 s). Limits numpy's BLAS to one thread
        (``one_blas_thread``)."""
        import pypdfium2

        one_blas_thread()
        start_blob_sweeper(lambda: self, interval=0)
        self.preload()
        with self.sql_engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        pypdfium2.PdfDocument.new().close()
        try:
            jobs.connect_broker()
        except Exception as exc:
            log.warning("broker not reachable at start", extra={"error": str(exc)[:200]})
