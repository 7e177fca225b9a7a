"""The scheduling rule of a document's page ranges (workers/fairness.py): a window of range
tasks per document, each finished range sending the next one not handed out, on a real SQLite
database; sending a task is recorded instead of going to a broker."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from storage import repository as repo
from tests.unit.test_task_guards import new_document
from workers import fairness
from workers.celery.queues import BATCH, INTERACTIVE
from workers.runtime import Runtime

PAGES = 10


@pytest.fixture()
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    built = Runtime.build(Settings(home=tmp_path))
    yield built
    built.close()


def long_document(runtime: Runtime) -> str:
    document_id = new_document(runtime)
    with runtime.sessions.begin() as session:
        repo.mark_started(session, document_id=document_id, page_count=PAGES)
    return document_id


def store(runtime: Runtime, document_id: str, start: int, stop: int) -> None:
    rows = [
        repo.PageRow(number=n, width=1, height=1, text="", layout={})
        for n in range(start, stop + 1)
    ]
    with runtime.sessions.begin() as session:
        repo.replace_pages(session, document_id=document_id, pages=rows)


class Broker:
    """The sent read tasks, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def send(self, start: int, stop: int) -> None:
        self.sent.append((start, stop))


def test_a_window_of_ranges_is_sent_and_each_finished_range_sends_the_next(
    runtime: Runtime,
) -> None:
    doc, broker = long_document(runtime), Broker()
    opened = fairness.open_window(runtime, doc, PAGES, size=2, window=2, send=broker.send)
    assert opened == broker.sent == [(1, 2), (3, 4)]
    store(runtime, doc, 3, 4)  # the second range finishes first
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send) == (5, 6)
    store(runtime, doc, 1, 2)
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send) == (7, 8)
    # the task of pages 1-2 delivered again after it sent its successor: one range more, not
    # one range twice
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send) == (9, 10)
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send) is None
    assert broker.sent == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]


def test_without_a_window_every_range_goes_at_once(runtime: Runtime) -> None:
    doc, broker = long_document(runtime), Broker()
    store(runtime, doc, 5, 6)  # read before: not sent again
    fairness.open_window(runtime, doc, PAGES, size=2, window=0, send=broker.send)
    assert broker.sent == [(1, 2), (3, 4), (7, 8), (9, 10)]
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=0, send=broker.send) is None


def test_a_send_that_fails_leaves_its_range_unclaimed(runtime: Runtime) -> None:
    doc, broker = long_document(runtime), Broker()
    fairness.open_window(runtime, doc, PAGES, size=5, window=1, send=broker.send)

    def down(start: int, stop: int) -> None:
        raise ConnectionError("broker down")

    store(runtime, doc, 1, 5)
    with pytest.raises(ConnectionError):
        fairness.send_next(runtime, doc, PAGES, size=5, window=1, send=down)
    # the task is retried: the range it could not send is sent now
    assert fairness.send_next(runtime, doc, PAGES, size=5, window=1, send=broker.send) == (6, 10)


def test_prepare_again_reopens_the_window_over_the_unread_ranges(runtime: Runtime) -> None:
    doc, broker = long_document(runtime), Broker()
    fairness.open_window(runtime, doc, PAGES, size=2, window=2, send=broker.send)
    store(runtime, doc, 1, 2)
    fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send)
    # the broker restarted: the queued ranges (3-4, 5-6) are gone, and prepare runs again
    broker.sent.clear()
    fairness.open_window(runtime, doc, PAGES, size=2, window=2, send=broker.send)
    assert broker.sent == [(3, 4), (5, 6)]
    fairness.close_window(runtime, doc)  # finished: nothing claimed is left
    assert fairness.send_next(runtime, doc, PAGES, size=2, window=2, send=broker.send) == (3, 4)


def test_under_redeliveries_every_page_is_read_and_no_range_goes_twice(runtime: Runtime) -> None:
    """Tasks finish in any order, and some are delivered again after sending their successor
    (their worker died before the acknowledgement): every range is sent once, and the window
    grows by at most one per redelivery."""
    rng = random.Random(7)
    doc, broker, window = long_document(runtime), Broker(), 3
    queued = list(
        fairness.open_window(runtime, doc, PAGES, size=1, window=window, send=broker.send)
    )
    redelivered = 0
    while queued:
        assert len(queued) <= window + redelivered
        task = queued.pop(rng.randrange(len(queued)))
        store(runtime, doc, *task)
        before = len(broker.sent)
        fairness.send_next(runtime, doc, PAGES, size=1, window=window, send=broker.send)
        queued += broker.sent[before:]
        if rng.random() < 0.3:
            redelivered += 1
            queued.append(task)
    assert sorted(broker.sent) == [(n, n) for n in range(1, PAGES + 1)]
    with runtime.sessions() as session:
        assert repo.stored_page_numbers(session, document_id=doc) == set(range(1, PAGES + 1))


def test_short_uploads_go_first_and_long_documents_and_batches_take_turns() -> None:
    assert fairness.is_short(8, 4, 2) and not fairness.is_short(9, 4, 2)
    assert fairness.priority(INTERACTIVE, urgent=True, window=2) == fairness.NOW
    assert fairness.priority(INTERACTIVE, urgent=False, window=2) == fairness.LATER
    assert fairness.priority(BATCH, urgent=True, window=2) == fairness.LATER
    # no window: one priority, the order of arrival
    assert fairness.priority(BATCH, urgent=False, window=0) == fairness.NOW
