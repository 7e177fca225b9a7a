"""A search as every edge runs it (the API, ``scanrag search``): the query and/or image embedded
by the configured encoders, the index checked to hold their vectors, the legs fused.

A text query runs the full-text leg, the text encoder's dense leg and, with an image model that
has a text tower, a ``text_to_image`` leg over page and figure vectors; an image query runs the
``image`` leg over them. Both together run every leg.

Each chunk hit comes back with the text of each of its line boxes, read from its page's stored
layout (``pipelines.citing``), so its view can cite the lines that hold the matched sentence,
and with the page's lines just before and after it, so a sentence cut by the chunk's edge is
cited whole.
"""

from __future__ import annotations

from dataclasses import replace

from PIL import Image
from sqlalchemy.orm import Session

from core.errors import InvalidRequest
from pipelines.citing import line_texts, neighbour_lines
from pipelines.embed import embed_query
from pipelines.encode import ModelNotConfigured
from storage.page_lines import page_lines
from storage.search import SearchHit, VectorLeg, hybrid_search
from workers.documents import registered
from workers.runtime import Runtime

# what a search by image without an image model answers (ModelNotConfigured)
NO_IMAGE_MODEL = (
    "searching by image needs an image model: set SCANRAG_EMBED__IMAGE_MODEL to a local"
    " CLIP- or SigLIP-style model folder and run `scanrag reindex`"
)


def search(
    runtime: Runtime,
    session: Session,
    *,
    query: str | None = None,
    image: Image.Image | None = None,
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
) -> list[SearchHit]:
    """The ``k`` best chunks and image regions for ``query`` and/or ``image``.

    Raises IndexMismatch when the index holds vectors of another model than a configured one
    (the message names the reindex to run) and ModelNotConfigured for an image without an
    image model. Registers a configured encoder on first use (commits ``session``).
    """
    if not query and image is None:
        raise InvalidRequest("give a query, an image, or both")
    image_encoder = runtime.image_encoder
    if image is not None and image_encoder is None:
        raise ModelNotConfigured(NO_IMAGE_MODEL)
    options = runtime.search
    target = query_vector = None
    if query:
        embedder = runtime.embedder
        # a query embedded by another model than the index's would find nonsense
        target = registered(session, embedder.identity)
        query_vector = embed_query(query, embedder)
    legs: list[VectorLeg] = []
    if image_encoder is not None:
        image_target = registered(session, image_encoder.identity)
        if query and image_encoder.has_text_tower:
            vector = image_encoder.embed_texts([query])[0]
            legs.append(VectorLeg("text_to_image", image_target, vector, options["image_weight"]))
        if image is not None:
            vector = image_encoder.embed_images([image])[0]
            legs.append(VectorLeg("image", image_target, vector, options["image_weight"]))
    session.commit()
    hits = hybrid_search(
        session,
        query=query,
        query_vector=query_vector,
        target=target,
        image_legs=legs,
        k=k,
        document_ids=document_ids,
        metadata=metadata,
        tenant=tenant,
        rrf_k=options["rrf_k"],
        lexical_weight=options["lexical_weight"],
        candidates=options["candidates"],
        min_cosine=options["min_cosine"],
        min_cosine_worded=options["min_cosine_worded"],
    )
    return with_line_texts(session, hits)


def with_line_texts(session: Session, hits: list[SearchHit]) -> list[SearchHit]:
    """``hits`` with the text of each chunk hit's line boxes, from its page's lines (a hit
    whose boxes are not all on its page, or an image region, keeps None), and the page's
    lines just before and after the chunk's (``pipelines.citing.neighbour_lines``)."""
    lined = [h for h in hits if h.chunk_id is not None and h.line_boxes]
    pages = page_lines(session, [(h.document_id, h.page_number) for h in lined])
    out = []
    for hit in hits:
        lines = pages.get((hit.document_id, hit.page_number))
        if hit.chunk_id is not None and hit.line_boxes and lines is not None:
            texts = line_texts(lines, hit.line_boxes)
            before, after = neighbour_lines(lines, hit.line_boxes) if texts else ((), ())
            hit = replace(hit, line_texts=texts, lines_before=before, lines_after=after)
        out.append(hit)
    return out
