"""Request and response bodies of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from storage.tables import Document


class ErrorInfo(BaseModel):
    code: str
    message: str


class DocumentPublic(BaseModel):
    """A document as clients see it."""

    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    status: str
    page_count: int | None
    pages_done: int
    error: ErrorInfo | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None = Field(description="from upload to a worker taking it up")
    processing_seconds: float | None = Field(description="from a worker taking it up to the end")
    links: dict[str, str]

    @classmethod
    def of(cls, document: Document) -> DocumentPublic:
        """The public view of a document row."""
        return cls(**cls.fields_of(document))

    @staticmethod
    def fields_of(document: Document) -> dict[str, Any]:
        """The fields of ``of(document)``, for models extending this one."""
        base = f"/v1/documents/{document.id}"
        queued = processing = None
        if document.started_at is not None:
            queued = (document.started_at - document.created_at).total_seconds()
            if document.finished_at is not None:
                processing = (document.finished_at - document.started_at).total_seconds()
        error = None
        if document.error_code is not None:
            error = ErrorInfo(code=document.error_code, message=document.error_message or "")
        return dict(
            id=document.id,
            filename=document.filename,
            media_type=document.media_type,
            size_bytes=document.size_bytes,
            sha256=document.sha256,
            status=document.status,
            page_count=document.page_count,
            pages_done=document.pages_done,
            error=error,
            metadata=document.meta or {},
            created_at=document.created_at,
            started_at=document.started_at,
            finished_at=document.finished_at,
            queued_seconds=queued,
            processing_seconds=processing,
            links={
                "self": base,
                "events": f"{base}/events",
                "text": f"{base}/text",
                "hocr": f"{base}/hocr",
            },
        )


class UploadedDocument(DocumentPublic):
    """A document of an upload, and whether this upload created it (False: already stored)."""

    created: bool


class UploadResponse(BaseModel):
    documents: list[UploadedDocument]


class DocumentsPage(BaseModel):
    documents: list[DocumentPublic]
    total: int
    limit: int
    offset: int


class SearchFilters(BaseModel):
    document_ids: list[str] | None = None
    metadata: dict[str, str] | None = None


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    filters: SearchFilters = SearchFilters()


class DocumentRef(BaseModel):
    id: str
    filename: str


class SearchHitPublic(BaseModel):
    document: DocumentRef
    page: int
    bbox: list[float]
    text: str
    score: float
    line_boxes: list[list[float]]
    kind: str = Field(description="text, table or figure")
    title: str | None = Field(default=None, description="the heading of the hit's section")
    crop_url: str


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHitPublic]


class BatchRequest(BaseModel):
    path: str = Field(description="a folder inside the configured import root")


class BatchPublic(BaseModel):
    id: str
    status: str
    source: str
    files_total: int | None
    counts: dict[str, int]
    error: str | None
    created_at: datetime
    links: dict[str, str]
