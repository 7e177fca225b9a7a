"""The job queue as the API and the CLI see it: send a task by name, open the broker connection,
count the workers that answer, run a worker.

The Celery machinery (``workers/celery/``) is imported here, on first use, and nowhere above
the workers: the API and the CLI import this module and the queue and task names
(``workers.celery.queues``), never Celery itself (an import-linter contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis
    from celery import Celery


def _app() -> Celery:
    # the app holds no task code: importing it configures the producer, nothing more
    from workers.celery.app import app

    return app


def send(task: str, args: tuple[Any, ...], queue: str) -> None:
    """Send the task named ``task`` (workers/celery/queues.py) to ``queue``; a broker that does
    not take it raises at once (no publishing retries while a client waits)."""
    _app().send_task(task, args=args, queue=queue, retry=False)


def connect_broker() -> None:
    """Open the producer's broker connection now (one try); raises when the broker is down."""
    with _app().producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)


def answering_workers(timeout: float = 1.0) -> int:
    """How many workers answer a ping within ``timeout`` seconds."""
    return len(_app().control.ping(timeout=timeout) or [])


def live_workers(client: redis.Redis) -> int:
    """How many workers' heartbeats are current in Redis (workers/celery/liveness.py)."""
    from workers.celery.liveness import live_workers as count

    return count(client)


def run_worker(argv: Sequence[str]) -> None:
    """Run a Celery worker in this process with ``argv`` (``["worker", "--queues", ...]``)."""
    _app().worker_main(list(argv))
