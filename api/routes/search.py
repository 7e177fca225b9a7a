"""Hybrid search over the tenant's documents, by words, meaning and image; and the encoders of
the index, for clients that embed their own queries or items."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import SessionDep, StateDep, TenantDep
from api.errors import ApiError
from api.schemas import (
    EncodeRequestBody,
    EncodeResponse,
    SearchHitPublic,
    SearchRequest,
    SearchResponse,
    errors,
    request_body,
)
from pipelines.encode import decode_image, encode, parse_request
from storage.search import SearchHit
from workers.context import image_limits
from workers.searching import search as run_search
from workers.views import hit_view

router = APIRouter(prefix="/v1", tags=["search"], responses=errors(401, 413, 422))


@router.post(
    "/search", response_model=SearchResponse, summary="Hybrid search", responses=errors(409)
)
def search(
    body: SearchRequest, session: SessionDep, state: StateDep, tenant: TenantDep
) -> SearchResponse:
    """The ``k`` passages and image regions that best match the query by its words and its
    meaning, and/or the ``image`` by its look (with an image model configured), each with its
    document, page, box, text, score, a ``snippet`` of the text that shows why it matched
    (with the matched words' offsets in ``highlights``), the legs that found it
    (``found_by``) and a ``crop_url`` showing the region of the page. 409 when the index
    holds vectors of another model than the configured one (the message names the reindex)."""
    image = None
    if body.image is not None:
        image = decode_image(body.image.model_dump(), image_limits(state.settings), "image")
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
    return SearchResponse(
        query=body.query,
        hits=[
            SearchHitPublic(**hit_view(hit, body.query), crop_url=_crop_url(hit)) for hit in hits
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
    ``invalid_image``, ``too_many_items`` and an image over its limit (``file_too_large``)."""
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise ApiError("invalid_request", f"the body is not JSON ({exc})", 422) from exc
    limits = image_limits(state.settings)
    max_items = state.settings.embed.max_encode_items
    parsed = await run_in_threadpool(parse_request, body, limits, max_items)

    def run() -> dict[str, Any]:
        if parsed.model == "text":
            return encode(parsed, state.embedder, None)
        return encode(parsed, None, state.image_encoder)

    return await run_in_threadpool(run)


def _crop_url(hit: SearchHit) -> str:
    """The API URL of the hit's region of its page image."""
    box = quote(",".join(f"{v:.0f}" for v in hit.bbox))
    return f"/v1/documents/{hit.document_id}/pages/{hit.page_number}/crop?bbox={box}"
