"""Running work on threads without losing its order: ``run_ordered`` (tasks on a pool, results in
task order) and ``prefetch`` (an iterable drawn ahead in a background thread).

Generic: nothing here knows what the tasks or items are.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_ordered(tasks: Iterable[Callable[[], list[R]] | list[R]], workers: int) -> Iterator[R]:
    """Run the callables among ``tasks`` on ``workers`` threads and yield their results (lists)
    item by item in task order; plain lists pass through in their place.

    At most ``2 * workers`` tasks are submitted ahead of the one being yielded, so memory stays
    bounded, yet a slow task at the head does not leave the other threads idle (with
    ``workers + 1``, reading 23 dense pages on 2 cores kept 1.44 of them busy; with this,
    1.92). A task's exception is raised when its turn comes. With one worker everything runs on
    the caller's thread.
    """
    if workers <= 1:
        for task in tasks:
            yield from task() if callable(task) else task
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scanrag-ocr")
    pending: deque[Future[list[R]] | list[R]] = deque()
    running = 0  # futures among pending
    try:
        for task in tasks:
            if callable(task):
                pending.append(pool.submit(task))
                running += 1
            else:
                pending.append(task)
            while running > 2 * workers or (pending and _settled(pending[0])):
                head = pending.popleft()
                running -= isinstance(head, Future)
                yield from _outcome(head)
        while pending:
            yield from _outcome(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _settled(item: Future[list[R]] | list[R]) -> bool:
    return not isinstance(item, Future) or item.done()


def _outcome(item: Future[list[R]] | list[R]) -> list[R]:
    return item.result() if isinstance(item, Future) else item


_DONE = object()


def prefetch(items: Iterable[T], size: int) -> Iterator[T]:
    """Iterate ``items`` from a background thread, at most ``size`` ahead; errors re-raised."""
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True, name="scanrag-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
