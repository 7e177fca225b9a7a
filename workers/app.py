"""The Celery application: Redis broker, the queues, and delivery-safety settings.

``celery -A workers.app worker`` and ``scanrag worker`` both run it. Queues:

- ``interactive``: documents uploaded through the API, one at a time;
- ``batch``: documents of batch ingestions (a worker serving both queues alternates between
  them, so a running batch never starves uploads; a dedicated ``-Q interactive`` worker gives
  uploads a reserved lane);
- ``webhooks``: outcome notifications (short, network-bound tasks).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from core.config import Settings, get_settings
from core.logging import configure_logging

INTERACTIVE = "interactive"
BATCH = "batch"
WEBHOOKS = "webhooks"
QUEUES = (INTERACTIVE, BATCH, WEBHOOKS)


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``."""
    service = settings.service
    celery = Celery("scanrag", include=["workers.tasks"])
    celery.conf.update(
        broker_url=settings.redis_url,
        # Results travel through the database (document status), never through Celery.
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=INTERACTIVE,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        # Delivery safety: a task is acknowledged only after it ran, and requeued when the
        # process running it dies; every task's writes are idempotent, so a rerun is harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_soft_time_limit=service.soft_time_limit,
        task_time_limit=service.time_limit,
        worker_prefetch_multiplier=1,
        worker_max_memory_per_child=service.max_memory_mb * 1024,  # KiB
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,  # our structured log lines go to stderr as they are
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # ride out a Redis restart
        broker_transport_options={
            # Above the hard time limit: a task still running is never handed to a second worker.
            "visibility_timeout": max(service.visibility_timeout, service.time_limit + 1),
            # How soon unacknowledged tasks of a dead worker are looked for.
            "unacked_restore_interval": max(1, min(10, service.visibility_timeout // 3)),
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
            "socket_connect_timeout": 5,
            "health_check_interval": 10,
        },
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return celery


app = make_app(get_settings())


@worker_init.connect
def _one_thread_per_process(sender: Any = None, **_: Any) -> None:
    """Many worker processes on a CPU: each runs its models on one thread (set before fork)."""
    concurrency = getattr(sender, "concurrency", 1) or 1
    if concurrency > 1:
        os.environ.setdefault("SCANRAG_OCR__THREADS", "1")
        os.environ.setdefault("SCANRAG_OCR__WORKERS", "1")
        os.environ.setdefault("SCANRAG_EMBED__THREADS", "1")
        get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    _refuse_without_models(settings)


def _refuse_without_models(settings: Settings) -> None:
    """A worker whose model files are missing or damaged stops at start (exit 3) with one
    line saying which and how to fix it, rather than fail every document it takes."""
    from core.errors import ModelError
    from workers.context import check_models  # heavy imports: only in a worker

    try:
        check_models(settings)
    except ModelError as exc:
        print(f"scanrag: {exc.message} [{exc.code}]", file=sys.stderr, flush=True)
        os._exit(3)  # Celery's signal dispatch swallows exceptions: leave at once


@worker_process_init.connect
def _child_setup(**_: Any) -> None:
    """Each pool process: logging, and a lower CPU priority than the API (uploads are answered
    in milliseconds even while the workers keep every core busy on a shared machine)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.service.worker_nice:
        os.nice(settings.service.worker_nice)


@worker_ready.connect
def _start_broker_watch(sender: Any = None, **_: Any) -> None:
    """The worker's main process watches for a restarted broker (see workers.recovery), beats
    its heartbeat and takes up the tasks of dead workers (see workers.liveness)."""
    from workers.liveness import start_liveness
    from workers.recovery import start_broker_watch

    start_broker_watch(get_settings())
    start_liveness(app, get_settings(), node=getattr(sender, "hostname", None))


@worker_shutdown.connect
def _say_goodbye(sender: Any = None, **_: Any) -> None:
    """A worker stopping cleanly takes its heartbeat with it (a killed one's expires)."""
    import redis

    from workers.liveness import HEARTBEAT_PREFIX

    node = getattr(sender, "hostname", None)
    if node:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=2)
            client.delete(HEARTBEAT_PREFIX + node)
