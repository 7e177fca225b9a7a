"""A document's status and its lifecycle: one vocabulary for the database, the API, the CLI and
the workers, and the moves between statuses that are allowed.

``queued`` (stored, waiting) -> ``processing`` (a worker reads its pages) -> ``done`` or
``failed`` (final). A failed document may be taken up again (``scanrag ingest`` of the same
file reads it anew; the same file uploaded or listed in a batch again queues it anew); a done
one never is, unless it is deleted and sent anew. Each move records
its time: the first move to processing sets ``started_at`` (a redelivered task keeps the first),
a move to a final status sets ``finished_at``, and taking a failed document up again starts both
afresh.
"""

from __future__ import annotations

from enum import StrEnum


class DocumentStatus(StrEnum):
    """Where a document is: queued (waiting), processing (being read), done or failed."""

    # (a StrEnum: compares equal to its string, as stored)

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Done or failed: nothing more happens to the document (but a failed one may be
        taken up again)."""
        return self in FINAL


class BatchStatus(StrEnum):
    """Where a batch's listing is: ``listing`` (its files being turned into documents) ->
    ``listed`` (every file is a document or a refused item) or ``failed`` (the folder could not
    be listed). Its documents have statuses of their own."""

    LISTING = "listing"
    LISTED = "listed"
    FAILED = "failed"


FINAL = frozenset({DocumentStatus.DONE, DocumentStatus.FAILED})
UNFINISHED = frozenset({DocumentStatus.QUEUED, DocumentStatus.PROCESSING})
STATUSES: tuple[str, ...] = tuple(s.value for s in DocumentStatus)

# the statuses a document may move to from each status (processing -> processing: pages read)
MOVES: dict[DocumentStatus, frozenset[DocumentStatus]] = {
    DocumentStatus.QUEUED: frozenset(
        {DocumentStatus.PROCESSING, DocumentStatus.FAILED}  # failed: refused before reading
    ),
    DocumentStatus.PROCESSING: frozenset(
        {DocumentStatus.PROCESSING, DocumentStatus.DONE, DocumentStatus.FAILED}
    ),
    # queued: the same file sent again retries it (a new attempt, the same document)
    DocumentStatus.FAILED: frozenset({DocumentStatus.PROCESSING, DocumentStatus.QUEUED}),
    DocumentStatus.DONE: frozenset(),
}


def may_move(old: str, new: DocumentStatus) -> bool:
    """Whether a document in status ``old`` may move to ``new``."""
    return new in MOVES[DocumentStatus(old)]


def sources(new: DocumentStatus) -> frozenset[DocumentStatus]:
    """The statuses from which a document may move to ``new``."""
    return frozenset(old for old, targets in MOVES.items() if new in targets)
