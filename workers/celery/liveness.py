"""Which workers are alive, and taking up again the tasks a dead one held.

Every worker's main process writes a heartbeat key in Redis (``scanrag:worker:<node>``, expiring
after ``HEARTBEAT_TTL`` seconds); ``/healthz`` says degraded when none is left.

A worker killed with ``kill -9`` leaves the tasks it had taken in the broker's unacknowledged
set, where the Redis transport would hand them out again only after the visibility timeout
(an hour: it must outlast the longest task). Instead, every ``ORPHAN_INTERVAL`` seconds each
worker asks the live workers which tasks they hold (running or reserved); an unacknowledged task
that none holds, seen so twice in a row, belonged to a dead worker and is put back at the head
of its queue. Tasks are idempotent, so the rare task restored just as its worker acknowledged
it runs twice harmlessly. Workers use the prefork pool (the default), whose main process answers
these questions while its children run tasks.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import redis
from celery import Celery

from core.config import Settings
from core.logging import get_logger

log = get_logger("liveness")

HEARTBEAT_PREFIX = "scanrag:worker:"
HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TTL = 15
ORPHAN_INTERVAL = 5.0
UNACKED = "unacked"  # kombu's Redis transport: delivery tag -> [message, exchange, routing key]


def live_workers(client: redis.Redis) -> int:
    """How many workers wrote a heartbeat in the last ``HEARTBEAT_TTL`` seconds."""
    return sum(1 for _ in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100))


def held_task_ids(app: Celery, timeout: float = 2.0) -> set[str] | None:
    """Ids of the tasks the live workers run, have reserved, or hold for later (a retry's
    countdown); None when no worker answered."""
    inspect = app.control.inspect(timeout=timeout)
    active, reserved, scheduled = inspect.active(), inspect.reserved(), inspect.scheduled()
    if not active and not reserved and not scheduled:
        return None
    held: set[str] = set()
    for replies in (active or {}, reserved or {}):
        for tasks in replies.values():
            held.update(str(t.get("id")) for t in tasks or [])
    for entries in (scheduled or {}).values():
        held.update(str((e.get("request") or {}).get("id")) for e in entries or [])
    return held


def unacked_tasks(client: redis.Redis) -> dict[str, str]:
    """Delivery tag -> task id of every unacknowledged message."""
    out: dict[str, str] = {}
    raw_entries: dict[Any, Any] = client.hgetall(UNACKED)  # type: ignore[assignment]
    for tag, raw in raw_entries.items():
        try:
            message = json.loads(raw)[0]
            out[tag.decode() if isinstance(tag, bytes) else str(tag)] = str(
                message["headers"]["id"]
            )
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # not a Celery task message: not ours to judge
    return out


class OrphanRescue:
    """Restores unacknowledged tasks that no live worker holds (see the module docstring)."""

    def __init__(self, app: Celery, client: redis.Redis) -> None:
        self.app = app
        self.client = client
        self.suspects: set[str] = set()

    def sweep(self) -> int:
        """One look; returns how many tasks were put back on their queues."""
        before = unacked_tasks(self.client)
        if not before:
            self.suspects.clear()
            return 0
        held = held_task_ids(self.app)
        if held is None:
            return 0  # no worker answered (not even this one): judge nothing
        after = unacked_tasks(self.client)  # an acknowledged task has left meanwhile
        orphans = {
            tag for tag, task in after.items() if before.get(tag) == task and task not in held
        }
        confirmed, self.suspects = orphans & self.suspects, orphans - self.suspects
        if not confirmed:
            return 0
        with self.app.connection_for_write() as connection:
            qos = connection.default_channel.qos
            for tag in confirmed:
                qos.restore_by_tag(tag, leftmost=True)
        log.warning(
            "tasks of a dead worker taken up again",
            extra={"tasks": len(confirmed), "ids": sorted(after[t] for t in confirmed)[:10]},
        )
        return len(confirmed)


def start_liveness(app: Celery, settings: Settings, node: str | None = None) -> threading.Thread:
    """A daemon thread in the worker's main process: heartbeat, and the orphan sweep."""
    name = HEARTBEAT_PREFIX + (node or f"{socket.gethostname()}:{id(app)}")
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    rescue = OrphanRescue(app, client)

    def run() -> None:
        last_sweep = 0.0
        while True:
            try:
                client.set(name, str(time.time()), ex=HEARTBEAT_TTL)
                if time.monotonic() - last_sweep >= ORPHAN_INTERVAL:
                    last_sweep = time.monotonic()
                    rescue.sweep()
            except Exception as exc:  # Redis down: the broker watch reports it; try again
                log.warning("liveness check failed", extra={"error": str(exc)[:200]})
            time.sleep(HEARTBEAT_INTERVAL)

    thread = threading.Thread(target=run, name="scanrag-liveness", daemon=True)
    thread.start()
    return thread
