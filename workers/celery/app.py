"""The Celery application: Redis broker, the queues, and delivery-safety settings.

``celery -A workers.celery.app worker`` and ``scanrag worker`` both run it. The queues are named in
workers/celery/queues.py.
"""

from __future__ import annotations

from celery import Celery

from core.config import Settings, get_settings
from workers.celery.queues import INTERACTIVE


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``."""
    service = settings.service
    # the worker imports these at start-up, before its first signal (lifecycle connects them)
    celery = Celery("scanrag", include=["workers.celery.tasks", "workers.celery.lifecycle"])
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
