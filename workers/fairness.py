"""Fair queueing: how a document's page ranges are handed to the workers.

The broker hands out tasks in the order they were sent. When a document's ranges all went at
once (a 2000-page PDF: 484 tasks), another tenant's 1-page upload waited behind all of them
(416 s behind a 200-page one). Two rules now:

- **A window per document.** A document keeps at most ``service.page_window`` range tasks
  queued or running (default: the CPU count, a worker's default number of processes).
  ``prepare`` sends the first ones; each range task, once its pages are stored, sends the next
  range not handed out yet. A finished range's successor joins the back of the queue, behind
  whatever arrived meanwhile, so long documents take turns (round robin between documents),
  and the broker holds a few tasks per document, not hundreds.
- **Short work first.** Redis hands out priority 0 before 3 across the queues a worker serves.
  An upload's ``prepare`` and ``finalize`` and every range of a short document (one whose
  ranges fit in one window) go at 0; a long document's ranges, and everything of a batch, at 3,
  where the ``interactive`` and ``batch`` queues alternate as before. A 1-page upload thus waits
  for one running range per step, not for a long document. (A steady stream of short uploads
  delays long documents: shortest first, by design.)

Which ranges were handed out is recorded in the database (``storage.jobs.claim_range``): the
claim is inserted in the transaction that sends the task, committed after the send, so under
late acknowledgement and killed workers:

- a worker killed mid-range: its task is delivered again, reads the pages not stored yet and
  sends the next range then;
- killed after sending the next range but before its acknowledgement: the task delivered again
  finds its pages stored and claims one range more: the window grows by one, and no range is
  handed out twice;
- a send that fails rolls its claim back (the task is retried); a send whose commit is lost
  leaves a range unclaimed, handed out again later (read twice at worst: every write replaces
  by page number, nothing is duplicated);
- a broker restart loses the queued ranges: ``prepare``, sent again by the recovery (or by
  ``finalize`` finding pages missing), forgets the document's claims and opens the window
  afresh (a range still running then may be read twice, harmlessly).

The fan-in is unchanged: the range task that sees every page stored sends ``finalize``, which
moves the document to done once (one webhook). ``page_window = 0`` sends every range at once at
one priority: the old behaviour, kept as a benchmark's baseline (bench/fairness.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from core.vocab import INTERACTIVE
from storage import jobs
from workers.documents import page_ranges, unread_ranges
from workers.runtime import Runtime

NOW: Final = 0  # Redis serves lower numbers first
LATER: Final = 3  # one of kombu's default priority steps (0, 3, 6, 9)

Send = Callable[[int, int], None]  # sends the read task of pages start..stop


def priority(queue: str, *, urgent: bool, window: int) -> int:
    """The priority of a document task sent to ``queue``: NOW for an upload's urgent step,
    LATER for the rest (all of a batch); NOW for everything without a window."""
    return NOW if window == 0 or (urgent and queue == INTERACTIVE) else LATER


def is_short(page_count: int, size: int, window: int) -> bool:
    """Whether a document's ranges all fit in one window (they are all sent at once)."""
    return window == 0 or len(page_ranges(page_count, size)) <= window


def _unread(
    runtime: Runtime, document_id: str, page_count: int, size: int, claimed: set[int]
) -> list[tuple[int, int]]:
    ranges = unread_ranges(runtime, document_id, page_count, size)
    return [(start, stop) for start, stop in ranges if start not in claimed]


def open_window(
    runtime: Runtime, document_id: str, page_count: int, *, size: int, window: int, send: Send
) -> list[tuple[int, int]]:
    """``prepare``'s part: forget the document's claims, then claim and send its first
    ``window`` ranges holding a page not stored yet (every such range with ``window`` 0).
    Returns the ranges sent."""
    pending = _unread(runtime, document_id, page_count, size, claimed=set())
    if window == 0:
        for start, stop in pending:
            send(start, stop)
        return pending
    with runtime.writing(), runtime.sessions.begin() as session:
        jobs.forget_ranges(session, document_id=document_id)
        opened = pending[:window]
        for start, stop in opened:
            jobs.claim_range(session, document_id=document_id, start=start)
            send(start, stop)  # a send that fails rolls every claim back
    return opened


def send_next(
    runtime: Runtime, document_id: str, page_count: int, *, size: int, window: int, send: Send
) -> tuple[int, int] | None:
    """A range task's part, once its pages are stored: claim and send the first range that
    holds a page not stored yet and was not handed out; None when there is none left (or
    without a window, where ``prepare`` sent them all)."""
    if window == 0:
        return None
    with runtime.sessions() as session:
        claimed = jobs.claimed_ranges(session, document_id=document_id)
    for start, stop in _unread(runtime, document_id, page_count, size, claimed):
        with runtime.writing(), runtime.sessions.begin() as session:
            if not jobs.claim_range(session, document_id=document_id, start=start):
                continue  # another task claimed it meanwhile
            send(start, stop)  # inside the transaction: a failed send leaves it unclaimed
        return start, stop
    return None


def close_window(runtime: Runtime, document_id: str) -> None:
    """The document is finished: its claims go."""
    with runtime.writing(), runtime.sessions.begin() as session:
        jobs.forget_ranges(session, document_id=document_id)
