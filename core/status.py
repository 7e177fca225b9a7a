"""A document's status: one vocabulary for the database, the API, the CLI and the workers.

``queued`` (stored, waiting) -> ``processing`` (a worker reads its pages) -> ``done`` or
``failed`` (final: a final document is never read again unless it is deleted and sent anew).
"""

from __future__ import annotations

from enum import StrEnum


class DocumentStatus(StrEnum):
    """Where a document is; compares equal to its string (as stored)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Done or failed: nothing more happens to the document."""
        return self in FINAL


FINAL = frozenset({DocumentStatus.DONE, DocumentStatus.FAILED})
UNFINISHED = frozenset({DocumentStatus.QUEUED, DocumentStatus.PROCESSING})
STATUSES: tuple[str, ...] = tuple(s.value for s in DocumentStatus)
