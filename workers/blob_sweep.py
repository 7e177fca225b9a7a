"""Sweeping the blob store: temp files and blobs nothing refers to.

An upload that failed (a 500, a killed API) or a task killed mid-write leaves temp files in
``blobs/tmp``, and an upload whose row was never committed leaves its blob adopted but
unreferenced. The API sweeps once as it starts and each worker's main process every
``service.blob_sweep_interval`` seconds; only what is older than ``service.blob_sweep_grace``
goes (an upload or a task in flight is younger), and only blobs whose key no row holds
(``documents.blob_key``, ``pages.image_key``: see ``repository.unused_blob_keys``). The counts
are kept in the database, so ``/metrics`` shows them for the whole service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from core.logging import get_logger
from storage import jobs
from storage import repository as repo
from workers.runtime import Runtime

log = get_logger("sweep")

TEMP_SWEPT = "blobs_swept_temp"  # shared counts (service_state) read by /metrics
ORPHANS_SWEPT = "blobs_swept_orphan"
_KEYS_PER_QUERY = 500


@dataclass(frozen=True)
class Swept:
    """What one sweep deleted."""

    temp: int
    orphans: int


def _batches(keys: Iterable[str], size: int) -> Iterator[set[str]]:
    iterator = iter(keys)
    while batch := set(islice(iterator, size)):
        yield batch


def sweep_blobs(runtime: Runtime, *, now: float | None = None) -> Swept:
    """Delete the stale temp files and the orphan blobs of ``runtime``'s store, older than the grace
    period at ``now`` (epoch seconds; default: now), and add them to the shared counts."""
    cutoff = (time.time() if now is None else now) - runtime.settings.service.blob_sweep_grace
    temp = runtime.blobs.sweep_temp(cutoff)
    orphans = 0
    for keys in _batches(runtime.blobs.stale_keys(cutoff), _KEYS_PER_QUERY):
        with runtime.sessions() as session:
            unused = repo.unused_blob_keys(session, keys)
        # delete_if_stale checks the age again: a blob adopted since the query is kept
        orphans += sum(runtime.blobs.delete_if_stale(key, cutoff) for key in unused)
    if temp or orphans:
        with runtime.writing(), runtime.sessions.begin() as session:
            jobs.add_to_count(session, name=TEMP_SWEPT, amount=temp)
            jobs.add_to_count(session, name=ORPHANS_SWEPT, amount=orphans)
        log.info("blob store swept", extra={"temp_files": temp, "orphan_blobs": orphans})
    return Swept(temp, orphans)


def start_blob_sweeper(get_runtime: Callable[[], Runtime], *, interval: float) -> threading.Thread:
    """A daemon thread sweeping the runtime's blob store at once, then every ``interval``
    seconds (``interval`` 0: once); a failed sweep is logged and tried again next time."""

    def sweep() -> None:
        while True:
            try:
                sweep_blobs(get_runtime())
            except Exception as exc:  # the disk or the database is failing: try again later
                log.warning("blob sweep failed", extra={"error": str(exc)[:200]})
            if not interval:
                return
            time.sleep(interval)

    thread = threading.Thread(target=sweep, name="scanrag-blob-sweep", daemon=True)
    thread.start()
    return thread
