"""Hybrid search over the tenant's documents."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter

from api.deps import SessionDep, StateDep, TenantDep
from api.schemas import DocumentRef, SearchHitPublic, SearchRequest, SearchResponse, errors
from pipelines.embed import embed_query
from storage import repository as repo
from storage.search import hybrid_search
from workers.context import search_options

router = APIRouter(prefix="/v1", tags=["search"], responses=errors(401, 413, 422))


@router.post("/search", response_model=SearchResponse, summary="Hybrid search")
def search(
    body: SearchRequest, session: SessionDep, state: StateDep, tenant: TenantDep
) -> SearchResponse:
    """The ``k`` passages that best match the query by its words and its meaning, each with its
    document, page, box, text, score, and a ``crop_url`` showing the region of the page."""
    embedder = state.embedder
    repo.check_index_model(session, name=embedder.name, dim=embedder.dim)
    session.commit()
    hits = hybrid_search(
        session,
        query=body.query,
        query_vector=embed_query(body.query, embedder),
        k=body.k,
        document_ids=body.filters.document_ids,
        metadata=body.filters.metadata,
        tenant=tenant,
        **search_options(state.settings),
    )
    return SearchResponse(
        query=body.query,
        hits=[
            SearchHitPublic(
                document=DocumentRef(id=hit.document_id, filename=hit.filename),
                page=hit.page_number,
                bbox=list(hit.bbox),
                text=hit.text,
                score=round(hit.score, 6),
                line_boxes=[list(box) for box in hit.line_boxes],
                kind=hit.kind,
                title=hit.title,
                crop_url=(
                    f"/v1/documents/{hit.document_id}/pages/{hit.page_number}/crop?bbox="
                    + quote(",".join(f"{v:.0f}" for v in hit.bbox))
                ),
            )
            for hit in hits
        ],
    )
