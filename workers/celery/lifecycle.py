"""What a worker does as it starts and stops (Celery signals): threads per process, the model
check, logging, CPU priority, the broker watch, the heartbeat, the orphan rescue and the blob
sweep.

Kept out of workers/celery/app.py so that building the app imports no task code (no import cycle);
the app lists this module in ``include``, so a worker imports it before its first signal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

import redis
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

from core.config import Settings, get_settings
from core.errors import ModelError
from core.logging import configure_logging
from workers.blob_sweep import start_blob_sweeper
from workers.celery import sibling_cores
from workers.celery.app import app
from workers.celery.liveness import HEARTBEAT_PREFIX, start_liveness
from workers.celery.pool import process_runtime
from workers.celery.recovery import start_broker_watch
from workers.context import check_models


@worker_init.connect
def _one_thread_per_process(sender: Any = None, **_: Any) -> None:
    """Many worker processes on a CPU: each runs its models on one thread, and lends its core
    to a sibling's encoder while idle (set before fork)."""
    concurrency = getattr(sender, "concurrency", 1) or 1
    if concurrency > 1:
        os.environ.setdefault("SCANRAG_OCR__THREADS", "1")
        os.environ.setdefault("SCANRAG_OCR__WORKERS", "1")
        os.environ.setdefault("SCANRAG_EMBED__THREADS", "1")
        get_settings.cache_clear()
        sibling_cores.share(
            concurrency
        )  # an encoder borrows idle siblings' cores (workers/celery/sibling_cores.py)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    _refuse_without_models(settings)


def _refuse_without_models(settings: Settings) -> None:
    """A worker whose model files are missing or damaged stops at start (exit 3) with one
    line saying which and how to fix it, rather than fail every document it takes."""
    try:
        check_models(settings)
    except ModelError as exc:
        print(f"scanrag: {exc.message} [{exc.code}]", file=sys.stderr, flush=True)
        os._exit(3)  # Celery's signal dispatch swallows exceptions: leave at once


@worker_process_init.connect
def _child_setup(**_: Any) -> None:
    """Each pool process: logging, a lower CPU priority than the API (uploads are answered in
    milliseconds even while the workers keep every core busy on a shared machine), and its
    models loaded before its first task asks for them."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.service.worker_nice:
        os.nice(settings.service.worker_nice)
    if settings.service.worker_preload:
        # in the background: a pool process that takes long to start is replaced by Celery
        threading.Thread(target=_preload, name="runtime-load", daemon=True).start()


def _preload() -> None:
    """Build this process's runtime and load its models (a failure is raised again, and
    recorded, by the first task that needs them)."""
    with contextlib.suppress(Exception):
        process_runtime().preload(ocr=True).join()


@worker_ready.connect
def _start_broker_watch(sender: Any = None, **_: Any) -> None:
    """The worker's main process watches for a restarted broker (see workers.celery.recovery), beats
    its heartbeat, takes up the tasks of dead workers (see workers.celery.liveness) and sweeps the
    blob store now and then (see workers.blob_sweep)."""
    start_broker_watch(get_settings())
    start_liveness(app, get_settings(), node=getattr(sender, "hostname", None))
    start_blob_sweeper(process_runtime, interval=get_settings().service.blob_sweep_interval)


@worker_shutdown.connect
def _say_goodbye(sender: Any = None, **_: Any) -> None:
    """A worker stopping cleanly takes its heartbeat (a killed one's expires) and its cores'
    lock files with it."""
    sibling_cores.unshare()
    node = getattr(sender, "hostname", None)
    if node:
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(get_settings().redis_url, socket_timeout=2)
            client.delete(HEARTBEAT_PREFIX + node)
