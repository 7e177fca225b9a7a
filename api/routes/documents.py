"""Documents: upload, list, status, text, pages, page images, hOCR, progress events, delete."""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse

from api.deps import SessionDep, StateDep, TenantDep
from api.errors import ApiError, not_found
from api.intake import upload_files
from api.lookups import MAX_INT, owned_document, require_done
from api.schemas import (
    MULTIPART_FILES,
    DocumentPublic,
    DocumentsPage,
    UploadResponse,
    errors,
    request_body,
)
from api.streams import TenantStreams
from core.status import FINAL, STATUSES
from pipelines.hocr import write_hocr
from pipelines.markdown import document_markdown
from pipelines.types import Block, PageResult
from storage import repository as repo
from storage.errors import PageNotFound
from storage.image_crops import crop_png
from storage.tables import Document
from workers.celery.queues import INTERACTIVE

PageNumber = Annotated[int, Path(ge=1, le=MAX_INT, description="page number, from 1")]

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=errors(401, 422))

EVENT_POLL_SECONDS = 0.25
EVENT_HEARTBEAT_SECONDS = 15.0


@router.post(
    "",
    status_code=202,
    response_model=UploadResponse,
    responses={
        200: {"model": UploadResponse, "description": "Every file was already stored"},
        **errors(400, 409, 413, 415, 503, 507),
    },
    openapi_extra=request_body(MULTIPART_FILES),
    summary="Upload documents (multipart field 'files'; optional 'metadata', 'callback_url')",
)
async def upload(
    request: Request,
    state: StateDep,
    tenant: TenantDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Store the files and queue them; 202 with each document and its links.

    The same content uploaded again by the tenant returns the existing document (200 when
    nothing new was queued); a failed one is queued again (same id, ``created`` false, 202). A
    repeated ``Idempotency-Key`` with the same files and fields replays the first response
    (``Idempotent-Replayed: true``); with other files or fields it is refused (422
    ``idempotency_key_reused``); while the first is still being answered, 409 (once the process
    answering it died, its claim's lease runs out and the retry is answered anew). Concurrent
    requests with one key make one set of documents. A database locked by another process is
    503 ``database_busy`` with ``Retry-After``; a full disk 507 ``storage_full``.
    """
    status, body, _, replayed = await upload_files(
        request, state, tenant, idempotency_key, INTERACTIVE
    )
    headers = _location(body)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=status, headers=headers)


def _location(body: dict[str, Any]) -> dict[str, str]:
    documents = body.get("documents") or []
    return {"Location": documents[0]["links"]["self"]} if documents else {}


@router.get("", response_model=DocumentsPage, summary="List documents (newest first)")
def list_documents(
    session: SessionDep,
    tenant: TenantDep,
    status: Annotated[str | None, Query(description="queued | processing | done | failed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> DocumentsPage:
    """The tenant's documents, a page at a time, optionally of one status."""
    if status is not None and status not in STATUSES:
        raise ApiError("invalid_status", f"status must be one of {', '.join(STATUSES)}", 422)
    rows = repo.list_documents(session, tenant=tenant, status=status, limit=limit, offset=offset)
    return DocumentsPage(
        documents=[DocumentPublic.of(d) for d in rows],
        total=repo.count_documents(session, tenant=tenant, status=status),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{document_id}",
    response_model=DocumentPublic,
    responses=errors(404),
    summary="A document's status",
)
def get_document(document_id: str, session: SessionDep, tenant: TenantDep) -> DocumentPublic:
    """Status, pages done of total, error, timings."""
    return DocumentPublic.of(owned_document(session, document_id, tenant))


@router.get(
    "/{document_id}/text",
    response_class=PlainTextResponse,
    responses=errors(404, 409),
    summary="Plain text",
)
def document_text(document_id: str, session: SessionDep, tenant: TenantDep) -> str:
    """The text of every page in reading order; pages end with a form feed line."""
    document = owned_document(session, document_id, tenant)
    require_done(document)
    return "".join(p.text + "\n\f\n" for p in repo.document_pages(session, document_id=document.id))


def _page(session: Any, document: Document, number: int) -> Any:
    page = repo.get_page(session, document_id=document.id, number=number)
    if page is None:
        raise PageNotFound(f"no page {number}: the document has {document.pages_done} pages stored")
    return page


@router.get(
    "/{document_id}/pages/{number}",
    responses=errors(404),
    summary="One page as `scanrag ocr` JSON",
)
def page_json(
    document_id: str, number: PageNumber, session: SessionDep, tenant: TenantDep
) -> dict[str, Any]:
    """The page's size, text, blocks, lines and words with boxes, as ``scanrag ocr`` prints it."""
    document = owned_document(session, document_id, tenant)
    layout: dict[str, Any] = _page(session, document, number).layout
    return {**layout, "source": document.filename}


@router.get(
    "/{document_id}/pages/{number}/image",
    response_class=FileResponse,
    responses=errors(404),
    summary="The page image (upright, the pixels the boxes refer to)",
)
def page_image(
    document_id: str, number: PageNumber, session: SessionDep, state: StateDep, tenant: TenantDep
) -> FileResponse:
    """The stored page image, JPEG."""
    page = _page(session, owned_document(session, document_id, tenant), number)
    if page.image_key is None or not state.blobs.exists(page.image_key):
        raise PageNotFound("the page has no stored image")
    return FileResponse(state.blobs.path(page.image_key), media_type="image/jpeg")


@router.get(
    "/{document_id}/pages/{number}/crop",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **errors(404)},
    summary="A region of the page image as PNG (the crop_url of search hits)",
)
def page_crop(
    document_id: str,
    number: PageNumber,
    session: SessionDep,
    state: StateDep,
    tenant: TenantDep,
    bbox: Annotated[str, Query(description="x0,y0,x1,y1 in page pixels")],
) -> Response:
    """The region ``bbox`` of the page, with a small margin."""
    document = owned_document(session, document_id, tenant)
    try:
        box = [float(v) for v in bbox.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise ApiError("invalid_bbox", "bbox must be four finite numbers: x0,y0,x1,y1", 422)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ApiError("invalid_bbox", "the box has no area: x1 > x0 and y1 > y0 are needed", 422)
    _page(session, document, number)
    png = crop_png(session, state.blobs, document_id=document.id, page=number, bbox=box)
    if png is None:
        raise ApiError("invalid_bbox", "the box is outside the page or has no area", 422)
    return Response(png, media_type="image/png")


@router.get(
    "/{document_id}/hocr",
    response_class=Response,
    responses={200: {"content": {"application/xhtml+xml": {}}}, **errors(404, 409)},
    summary="hOCR of the document",
)
def document_hocr(document_id: str, session: SessionDep, tenant: TenantDep) -> Response:
    """Valid hOCR 1.2 (XHTML) of every page."""
    document = owned_document(session, document_id, tenant)
    require_done(document)
    pages = [
        PageResult.from_dict(p.layout)
        for p in repo.document_pages(session, document_id=document.id)
    ]
    out = io.StringIO()
    write_hocr(pages, out, title=document.filename)
    return Response(out.getvalue(), media_type="application/xhtml+xml")


@router.get(
    "/{document_id}/markdown",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}, **errors(404, 409)},
    summary="Markdown of the document",
)
def markdown(document_id: str, session: SessionDep, tenant: TenantDep) -> PlainTextResponse:
    """Titles as headings, paragraphs, tables as Markdown tables, figures as image links to
    their crops with the caption; running headers and footers left out."""
    document = owned_document(session, document_id, tenant)
    require_done(document)
    pages = [
        PageResult.from_dict(p.layout)
        for p in repo.document_pages(session, document_id=document.id)
    ]

    def crop_link(page: PageResult, block: Block) -> str:
        box = ",".join(f"{v:.0f}" for v in block.bbox)
        return f"/v1/documents/{document.id}/pages/{page.page}/crop?bbox={box}"

    return PlainTextResponse(
        document_markdown(pages, figure_link=crop_link), media_type="text/markdown; charset=utf-8"
    )


@router.get(
    "/{document_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(404, 429)},
    summary="Server-Sent Events: progress per page until done or failed",
)
async def document_events(
    document_id: str, request: Request, state: StateDep, tenant: TenantDep
) -> StreamingResponse:
    """``event: progress`` with status and pages done after every change; the stream ends with
    ``event: done`` or ``event: failed``, or after ``service.event_stream_seconds`` with
    ``event: reconnect`` (open it again to go on). A key has at most ``service.event_streams``
    streams open at once in one API process: 429 ``too_many_streams`` beyond."""
    service = state.settings.service

    def load() -> DocumentPublic | None:
        with state.sessions() as session:
            found = repo.get_document(session, document_id=document_id, tenant=tenant)
            return None if found is None else DocumentPublic.of(found)

    if await run_in_threadpool(load) is None:
        raise not_found("document")

    async def events() -> AsyncIterator[str]:
        last: tuple[str, int] | None = None
        quiet = 0.0
        # a stream ends after its lifetime: no connection is held for good
        ends = asyncio.get_running_loop().time() + service.event_stream_seconds
        while True:
            current = await run_in_threadpool(load)
            if current is None:
                yield _sse("deleted", {"id": document_id})
                return
            if asyncio.get_running_loop().time() >= ends:
                yield _sse("reconnect", current.model_dump(mode="json"))
                return
            key = (current.status, current.pages_done)
            if key != last:
                last, quiet = key, 0.0
                data = current.model_dump(mode="json")
                if current.status in FINAL:
                    yield _sse(current.status, data)
                    return
                yield _sse("progress", data)
            elif quiet >= EVENT_HEARTBEAT_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_SECONDS)
            quiet += EVENT_POLL_SECONDS

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _streams.open(
        tenant, service.event_streams, events(), media_type="text/event-stream", headers=headers
    )


_streams = TenantStreams()  # this process's open event streams, by tenant


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


@router.delete(
    "/{document_id}",
    status_code=204,
    responses=errors(404, 503, 507),
    summary="Delete a document",
)
def delete_document(
    document_id: str, session: SessionDep, state: StateDep, tenant: TenantDep
) -> Response:
    """Remove the document's rows, vectors and the blobs nothing else uses."""
    document = owned_document(session, document_id, tenant)
    unused = repo.delete_document(session, document_id=document.id)
    session.commit()
    for key in unused:
        state.blobs.delete(key)
    return Response(status_code=204)
