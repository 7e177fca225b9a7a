"""What the document routes share: the tenant's document found (404 otherwise, for another
tenant's exactly as for a missing one) and ready (409 otherwise), and the largest number a
query or path takes."""

from __future__ import annotations

from typing import Any

from api.errors import ApiError, not_found
from core.status import DocumentStatus
from storage import repository as repo
from storage.tables import Document

# the largest number a query or path takes: beyond it the databases' 64-bit integers overflow
MAX_INT = 2**31 - 1


def owned_document(session: Any, document_id: str, tenant: str) -> Document:
    """The tenant's document; 404 for another tenant's, exactly as for a missing one."""
    document = repo.get_document(session, document_id=document_id, tenant=tenant)
    if document is None:
        raise not_found("document")
    return document


def require_done(document: Document) -> None:
    """409 ``document_not_ready`` unless the document is done (its pages all read)."""
    if document.status != DocumentStatus.DONE:
        raise ApiError(
            "document_not_ready",
            f"the document is {document.status} ({document.pages_done}/"
            f"{document.page_count or '?'} pages read)",
            409,
        )
