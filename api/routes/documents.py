"""Documents: upload, list, status, text, pages, page images, hOCR, progress events, delete."""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse

from api.deps import SessionDep, StateDep, TenantDep
from api.errors import ApiError, not_found
from api.intake import accept, parse_callback_url
from api.schemas import (
    MULTIPART_FILES,
    DocumentPublic,
    DocumentsPage,
    UploadedDocument,
    UploadResponse,
    errors,
    request_body,
)
from api.state import ApiState
from api.streams import TenantStreams
from api.uploads import UploadForm, receive_upload
from core.logging import get_logger
from core.status import FINAL, STATUSES, DocumentStatus
from pipelines.hocr import write_hocr
from pipelines.markdown import document_markdown
from pipelines.types import Block, PageResult
from storage import jobs
from storage import repository as repo
from storage.image_crops import crop_png
from storage.tables import Document
from workers.celery.queues import INTERACTIVE
from workers.views import parse_metadata

# the largest number a query or path takes: beyond it the databases' 64-bit integers overflow
MAX_INT = 2**31 - 1
PageNumber = Annotated[int, Path(ge=1, le=MAX_INT, description="page number, from 1")]

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=errors(401, 422))

log = get_logger("api")

EVENT_POLL_SECONDS = 0.25
EVENT_HEARTBEAT_SECONDS = 15.0


def _owned(session: Any, document_id: str, tenant: str) -> Document:
    """The tenant's document; 404 for another tenant's, exactly as for a missing one."""
    document = repo.get_document(session, document_id=document_id, tenant=tenant)
    if document is None:
        raise not_found("document")
    return document


def _done(document: Document) -> None:
    if document.status != DocumentStatus.DONE:
        raise ApiError(
            "document_not_ready",
            f"the document is {document.status} ({document.pages_done}/"
            f"{document.page_count or '?'} pages read)",
            409,
        )


def _accept_and_answer(
    state: ApiState,
    form: UploadForm,
    *,
    tenant: str,
    meta: dict[str, Any],
    callback_url: str | None,
    queue: str,
    idempotency_key: str | None,
    holder: str = "",
) -> tuple[int, dict[str, Any]]:
    """``accept`` the form, build the response and keep it for ``idempotency_key`` (claimed
    by the caller as ``holder``): the blocking part of an upload, run in one thread hop. A
    failed request gives its key up again."""
    try:
        accepted = accept(
            state, form, tenant=tenant, meta=meta, callback_url=callback_url, queue=queue
        )
    except BaseException:
        if idempotency_key:
            _release(state, tenant, idempotency_key, holder)
        raise
    documents = [
        UploadedDocument(**DocumentPublic.fields_of(s.document), created=s.created)
        for s in accepted
    ]
    # 202 when anything was queued: new, or a failed document retried (created false, queued)
    status = 202 if any(s.queued for s in accepted) else 200
    body = UploadResponse(documents=documents).model_dump(mode="json")
    if idempotency_key:
        with state.writing(), state.sessions.begin() as session:
            jobs.save_response(
                session,
                tenant=tenant,
                key=idempotency_key,
                holder=holder,
                status_code=status,
                response=body,
            )
    return status, body


def _release(state: ApiState, tenant: str, key: str, holder: str) -> None:
    try:
        with state.writing(), state.sessions.begin() as session:
            jobs.release_key(session, tenant=tenant, key=key, holder=holder)
    except Exception as exc:  # the request's own error matters more; the lease runs out anyway
        log.warning("cannot release an idempotency key", extra={"error": str(exc)[:200]})


class Replay(NamedTuple):
    """The saved answer to an earlier request with the same ``Idempotency-Key``."""

    status: int
    body: dict[str, Any]


def _claim(state: ApiState, tenant: str, key: str, fingerprint: str, holder: str) -> Replay | None:
    """Claim ``key`` for this request as ``holder`` (None), or the saved answer to replay;
    raises 422 for the key reused with another request and 409 while its first request is
    still answered by a live process (its lease is renewed: ``_holding``)."""
    with state.writing(), state.sessions.begin() as session:
        held = jobs.claim_key(
            session,
            tenant=tenant,
            key=key,
            fingerprint=fingerprint,
            holder=holder,
            lease_seconds=state.settings.service.idempotency_lease,
        )
        if held is None:
            return None
        if held.fingerprint is not None and held.fingerprint != fingerprint:
            raise ApiError(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request (other files or fields)",
                422,
            )
        if held.status_code == jobs.PENDING:
            raise ApiError(
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being answered: retry shortly",
                409,
            )
        return Replay(held.status_code, held.response)


@asynccontextmanager
async def _holding(
    state: ApiState, tenant: str, key: str | None, holder: str
) -> AsyncIterator[None]:
    """Renew ``holder``'s lease on ``key`` every third of the lease while the body runs, so a
    long request (a large PDF being opened) keeps its claim and a dead process's runs out."""
    if not key:
        yield
        return
    lease = state.settings.service.idempotency_lease

    def renew() -> bool:
        with state.writing(), state.sessions.begin() as session:
            return jobs.renew_key(
                session, tenant=tenant, key=key, holder=holder, lease_seconds=lease
            )

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await run_in_threadpool(renew):
                    return  # answered, or taken over after this process stalled past its lease
            except Exception as exc:  # a busy database: try again at the next beat
                log.warning("cannot renew an idempotency key", extra={"error": str(exc)[:200]})

    beat = asyncio.create_task(keep())
    try:
        yield
    finally:
        beat.cancel()


async def upload_files(
    request: Request, state: ApiState, tenant: str, idempotency_key: str | None, queue: str
) -> tuple[int, dict[str, Any], UploadForm, bool]:
    """Receive, check and accept an upload; returns (status, body, form, replayed)."""
    form = await receive_upload(request, state.blobs, max_bytes=state.settings.limits.max_bytes)
    try:
        meta = parse_metadata(form.fields.get("metadata"))
        callback_url = parse_callback_url(
            form.fields.get("callback_url"), state.settings.service.webhook_allowed
        )
        holder = state.claim_holder() if idempotency_key else ""
        if idempotency_key:
            replay = await run_in_threadpool(
                _claim, state, tenant, idempotency_key, form.fingerprint(), holder
            )
            if replay is not None:
                form.discard()
                return replay.status, replay.body, form, True
        async with _holding(state, tenant, idempotency_key, holder):
            status, body = await run_in_threadpool(
                _accept_and_answer,
                state,
                form,
                tenant=tenant,
                meta=meta,
                callback_url=callback_url,
                queue=queue,
                idempotency_key=idempotency_key,
                holder=holder,
            )
    except BaseException:
        form.discard()
        raise
    return status, body, form, False


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
    return DocumentPublic.of(_owned(session, document_id, tenant))


@router.get(
    "/{document_id}/text",
    response_class=PlainTextResponse,
    responses=errors(404, 409),
    summary="Plain text",
)
def document_text(document_id: str, session: SessionDep, tenant: TenantDep) -> str:
    """The text of every page in reading order; pages end with a form feed line."""
    document = _owned(session, document_id, tenant)
    _done(document)
    return "".join(p.text + "\n\f\n" for p in repo.document_pages(session, document_id=document.id))


def _page(session: Any, document: Document, number: int) -> Any:
    page = repo.get_page(session, document_id=document.id, number=number)
    if page is None:
        raise ApiError(
            "page_not_found",
            f"no page {number}: the document has {document.pages_done} pages stored",
        )
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
    document = _owned(session, document_id, tenant)
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
    page = _page(session, _owned(session, document_id, tenant), number)
    if page.image_key is None or not state.blobs.exists(page.image_key):
        raise ApiError("page_not_found", "the page has no stored image", 404)
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
    document = _owned(session, document_id, tenant)
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
    document = _owned(session, document_id, tenant)
    _done(document)
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
    document = _owned(session, document_id, tenant)
    _done(document)
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
    document = _owned(session, document_id, tenant)
    unused = repo.delete_document(session, document_id=document.id)
    session.commit()
    for key in unused:
        state.blobs.delete(key)
    return Response(status_code=204)
