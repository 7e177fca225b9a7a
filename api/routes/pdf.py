"""A document as a searchable PDF: its original file with an invisible text layer of what was
read, built from the stored original and the stored pages (nothing is read again)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import SessionDep, StateDep, TenantDep
from api.errors import ApiError
from api.lookups import owned_document, require_done
from api.schemas import errors
from pipelines.pdf_layer import write_searchable_pdf
from pipelines.types import PageResult
from storage import repository as repo

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=errors(401, 422))


def pdf_filename(filename: str) -> str:
    """The download's name: ``scan.pdf`` -> ``scan.ocr.pdf``, ``photo.jpg`` -> ``photo.jpg.pdf``."""
    name = PurePath(filename).name or "document"
    if name.lower().endswith(".pdf"):
        return name[:-4] + ".ocr.pdf"
    return name + ".pdf"


@router.get(
    "/{document_id}/pdf",
    response_class=FileResponse,
    responses={200: {"content": {"application/pdf": {}}}, **errors(404, 409)},
    summary="The document as a searchable PDF",
)
def document_pdf(
    document_id: str, session: SessionDep, state: StateDep, tenant: TenantDep
) -> FileResponse:
    """The uploaded file with an invisible text layer over every page (one run per word, in
    reading order): a PDF keeps its pages, images, metadata and outline; an image becomes a
    page of its size. Pages that already held text are left as they were."""
    document = owned_document(session, document_id, tenant)
    require_done(document)
    if not state.blobs.exists(document.blob_key):
        raise ApiError("original_missing", "the document's original file is no longer stored", 404)
    pages = (PageResult.from_dict(layout) for layout in _layouts(session, document.id))
    target = state.blobs.temp_file()
    try:
        write_searchable_pdf(
            state.blobs.path(document.blob_key), document.media_type, pages, target
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return FileResponse(
        target,
        media_type="application/pdf",
        filename=pdf_filename(document.filename),
        background=BackgroundTask(target.unlink, missing_ok=True),
    )


def _layouts(session: Any, document_id: str) -> Any:
    """The stored pages as read (a few rows at a time)."""
    return repo.page_layouts(session, document_id=document_id)
