"""Hybrid search over the tenant's documents."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter

from api.deps import SessionDep, StateDep, TenantDep
from api.schemas import SearchHitPublic, SearchRequest, SearchResponse, errors
from pipelines.embed import embed_query
from storage import repository as repo
from storage.search import SearchHit, hybrid_search
from workers.views import hit_view

router = APIRouter(prefix="/v1", tags=["search"], responses=errors(401, 413, 422))


@router.post("/search", response_model=SearchResponse, summary="Hybrid search")
def search(
    body: SearchRequest, session: SessionDep, state: StateDep, tenant: TenantDep
) -> SearchResponse:
    """The ``k`` passages that best match the query by its words and its meaning, each with its
    document, page, box, text, score, a ``snippet`` of the text that shows why it matched
    (with the matched words' offsets in ``highlights``), and a ``crop_url`` showing the region
    of the page."""
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
        **state.search,
    )
    return SearchResponse(
        query=body.query,
        hits=[
            SearchHitPublic(**hit_view(hit, body.query), crop_url=_crop_url(hit)) for hit in hits
        ],
    )


def _crop_url(hit: SearchHit) -> str:
    """The API URL of the hit's region of its page image."""
    box = quote(",".join(f"{v:.0f}" for v in hit.bbox))
    return f"/v1/documents/{hit.document_id}/pages/{hit.page_number}/crop?bbox={box}"
