"""Errors raised by storage, in the scanrag hierarchy of ``core.errors``."""

from __future__ import annotations

from core.errors import BadInput, ScanragError, Transient


class IndexMismatch(ScanragError):
    """The search index was built with another embedding model or dimension."""

    code = "index_model_mismatch"
    default_message = (
        "the search index was built with another embedding model; configure that model again "
        "or re-index every document"
    )


class DocumentNotFound(BadInput):
    """No document has the id given (in the tenant given)."""

    code = "document_not_found"
    default_message = "no document has this id; list the documents to find the right one"


class PageNotFound(BadInput):
    """The document has no page with the number given."""

    code = "page_not_found"
    default_message = "the document has no page with this number"


class DatabaseUnavailable(Transient):
    """The database cannot be opened or reached."""

    code = "database_unavailable"
    default_message = "the database cannot be reached; check SCANRAG_DATABASE_URL and try again"
