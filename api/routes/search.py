"""Hybrid search over the tenant's documents, by words, meaning and image; and the encoders of
the index, for clients that embed their own queries or items."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import StateDep, TenantDep
from api.schemas import (
    EncodeRequestBody,
    EncodeResponse,
    SearchHitPublic,
    SearchRequest,
    SearchResponse,
    errors,
    request_body,
)
from api.state import ApiState
from core import strict_json
from core.errors import InvalidRequest
from pipelines.encode import ModelNotConfigured, decode_image, encode, parse_request
from storage.search import SearchHit
from workers.context import image_limits
from workers.searching import NO_IMAGE_MODEL
from workers.searching import search as run_search
from workers.views import crop_bbox, hit_view

# 400: a body FastAPI cannot parse at all (nested beyond the parser, not UTF-8)
router = APIRouter(prefix="/v1", tags=["search"], responses=errors(400, 401, 413, 422))


@router.post(
    "/search", response_model=SearchResponse, summary="Hybrid search", responses=errors(409)
)
async def search(body: SearchRequest, state: StateDep, tenant: TenantDep) -> SearchResponse:
    """The ``k`` passages and image regions that best match the query by its words and its
    meaning, and/or the ``image`` by its look (with an image model configured), each with its
    document, page, box, text, score, a ``snippet`` of the text that shows why it matched
    (with the matched words' offsets in ``highlights``), the legs that found it
    (``found_by``) and a ``crop_url`` showing the region of the page (in a table: the
    ``cells`` the hit cites). 409 when the index
    holds vectors of another model than the configured one (the message names the reindex)."""
    # All the blocking work in one trip to a worker thread: a sync route with a session
    # dependency took four (session in, route, response check, session out), each waiting for
    # the loop or a thread to be scheduled again on busy cores. The response is checked on the
    # loop: an instance of the response model is passed as is.
    return await run_in_threadpool(_search, body, state, tenant)


def _search(body: SearchRequest, state: ApiState, tenant: str) -> SearchResponse:
    """The search of ``body`` for ``tenant`` as ``search`` answers it."""
    image = None
    if body.image is not None:
        if state.settings.embed.image_model is None:
            raise ModelNotConfigured(NO_IMAGE_MODEL)  # before decoding an image no model would read
        image = decode_image(body.image.model_dump(), image_limits(state.settings), "image")
    with state.sessions() as session:
        hits = run_search(
            state,
            session,
            query=body.query,
            image=image,
            k=body.k,
            document_ids=body.filters.document_ids,
            metadata=body.filters.metadata,
            tenant=tenant,
        )
    views = [hit_view(hit, body.query) for hit in hits]
    return SearchResponse(
        query=body.query,
        hits=[
            SearchHitPublic(**view, crop_url=_crop_url(hit, crop_bbox(view)))
            for hit, view in zip(hits, views, strict=True)
        ],
    )


@router.post(
    "/encode",
    response_model=EncodeResponse,
    summary="Vectors from the index's encoders",
    openapi_extra=request_body(("application/json", EncodeRequestBody.model_json_schema())),
)
async def encode_items(request: Request, state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    """``{"model": "text"|"image", "items": [{"text": ...} | {"image": {"data": <base64>,
    "format": "jpeg"|"png"}}]}`` -> ``{"model", "name", "dim", "vectors"}``: the vectors the
    index's encoders give (the same as stored at ingest), one per item in order. The image
    model reads texts through its text tower. Refused with a code: bad JSON or shape
    (``invalid_request``), ``unknown_model``, ``model_not_configured``, ``invalid_base64``,
    ``invalid_image``, ``too_many_items`` and images over their limits (``file_too_large``:
    bytes each, pixels together, read from the headers before any image is decoded)."""
    raw = await request.body()
    try:  # off the loop: a body of images is megabytes of JSON
        body = await run_in_threadpool(strict_json.loads, raw)
    except strict_json.JsonRefused as exc:
        raise InvalidRequest(f"the body is not usable JSON: {exc}") from exc
    limits = image_limits(state.settings)
    max_items = state.settings.embed.max_encode_items
    configured = state.settings.embed.image_model is not None
    parsed = await run_in_threadpool(parse_request, body, limits, max_items, image_model=configured)

    def run() -> dict[str, Any]:
        if parsed.model == "text":
            return encode(parsed, state.embedder, None)
        return encode(parsed, None, state.image_encoder)

    return await run_in_threadpool(run)


def _crop_url(hit: SearchHit, bbox: list[float]) -> str:
    """The API URL of ``bbox`` (the hit's region, or the table cells it cites) of its page."""
    box = quote(",".join(f"{v:.0f}" for v in bbox))
    return f"/v1/documents/{hit.document_id}/pages/{hit.page_number}/crop?bbox={box}"
