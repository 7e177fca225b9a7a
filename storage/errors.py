"""Errors raised by storage, in the scanrag hierarchy of ``core.errors``."""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError

from core.errors import BadInput, DatabaseBusy, ScanragError, StorageFull, Transient

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# PostgreSQL's SQLSTATEs: disk_full, lock_not_available (a lock_timeout ran out)
_PG_FULL, _PG_LOCKED = "53100", "55P03"


class IndexMismatch(ScanragError):
    """The search index was built with another embedding model or dimension."""

    code = "index_model_mismatch"
    http_status = 409
    default_message = (
        "the search index was built with another embedding model; configure that model again "
        "or re-index every document"
    )


class DocumentNotFound(BadInput):
    """No document has the id given (in the tenant given)."""

    code = "document_not_found"
    http_status = 404
    default_message = "no document has this id; list the documents to find the right one"


class PageNotFound(BadInput):
    """The document has no page with the number given."""

    code = "page_not_found"
    http_status = 404
    default_message = "the document has no page with this number"


class DatabaseUnavailable(Transient):
    """The database cannot be opened or reached."""

    code = "database_unavailable"
    default_message = "the database cannot be reached; check SCANRAG_DATABASE_URL and try again"


def database_reason(exc: BaseException) -> str:
    """The first line of what the database driver said for ``exc`` (a refused connection, a
    locked or unreadable file, ...), else of ``exc`` itself: the reason every edge shows."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def fault_of(exc: BaseException) -> Transient | None:
    """The passing fault ``exc`` stands for, or None: a full disk or quota (``OSError``
    ENOSPC/EDQUOT, SQLite "database or disk is full", PostgreSQL disk_full) is StorageFull,
    a write lock held too long by another process (SQLite "database is locked", PostgreSQL
    lock_not_available) is DatabaseBusy. What every edge tells apart from a bug."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return StorageFull()
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        state = getattr(exc.orig, "sqlstate", None)
        if "database or disk is full" in text or state == _PG_FULL:
            return StorageFull()
        if "database is locked" in text or state == _PG_LOCKED:
            return DatabaseBusy()
    return None
