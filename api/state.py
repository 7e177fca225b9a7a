"""What the API process holds: the runtime every process builds from the settings (database,
blobs, parameters, the embedder on first search), and the Celery app it sends tasks through."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from core.logging import get_logger
from workers.blob_sweep import start_blob_sweeper
from workers.runtime import IndexEmbedder, Runtime

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

    @property
    def embedder(self) -> IndexEmbedder:
        """The text encoder of searches and /v1/encode, loaded on first use: the built-in
        MiniLM on onnxruntime (workers.context.load_query_embedder; its vectors are torch's
        within 1e-6 cosine). One query a request: p95 29 ms against torch's 851 ms on two busy
        cores, whose thread pool spins against the other processes (docs/BENCHMARKS.md,
        issue 35); a configured model folder still loads with torch."""
        from workers.context import load_query_embedder

        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_query_embedder(self.settings)
            return self._embedder

    def claim_holder(self) -> str:
        """A holder for one request's Idempotency-Key claim: ``<boot id>:<pid>:<request>``."""
        return f"{self.boot_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def celery(self) -> Celery:
        """The Celery app tasks are sent through (workers/app.py; it holds no task code)."""
        from workers.app import app

        return app

    def send(self, task: str, args: tuple[Any, ...], queue: str) -> None:
        """Send the task named ``task`` (workers/queues.py) to ``queue``; a broker that does not
        take it raises at once (no publishing retries while a client waits)."""
        self.celery.send_task(task, args=args, queue=queue, retry=False)

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
        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        pypdfium2.PdfDocument.new().close()
        try:
            with self.celery.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1)
        except Exception as exc:
            log.warning("broker not reachable at start", extra={"error": str(exc)[:200]})
