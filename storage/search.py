"""Hybrid search over chunks: dense (cosine) and lexical (full text), fused by reciprocal rank.

Each database has its own backend for both legs (``storage.search_backend.SearchBackend``):
``storage.search_postgres`` (HNSW and ``ts_rank_cd``) and ``storage.search_sqlite`` (cached
vectors and FTS5 bm25), picked once per call by the session's dialect.
Both backends match any of the query's (content) words, so a long question still finds chunks
that share only some of its words. The legs are fused by weighted reciprocal rank (RRF_K,
LEXICAL_WEIGHT).
Filters (document ids, tenant, metadata key == value) apply inside both legs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.vocab import BBox, ChunkKind, as_bbox
from storage.db import backend
from storage.search_backend import Filters, Ranked, SearchBackend
from storage.search_postgres import PostgresSearch
from storage.search_sqlite import SqliteSearch
from storage.stop_words import STOP_WORDS
from storage.tables import EMBEDDING_DIM, Chunk, Document

__all__ = [
    "LEXICAL_WEIGHT",
    "MAX_QUERY_TOKENS",
    "PG_LEXICAL_ROW_BUDGET",
    "RRF_K",
    "SQLITE_LEXICAL_ROW_BUDGET",
    "STOP_WORDS",
    "SearchHit",
    "dense_search",
    "hybrid_search",
    "lexical_search",
    "query_tokens",
    "reciprocal_rank_fusion",
    "warm_up",
]

# Fusion, tuned on the dev split of bench/rag.py (bench/rag_tune.py): a small k, so first
# places count much more than tenth ones, and the lexical leg weighted 3x the dense one (on
# scanned SQuAD articles full text alone beats MiniLM alone by 16 points of Recall@1; the dense
# leg still adds recall at 5 and 10). Both are settings (SCANRAG_SEARCH__...).
RRF_K = 10
LEXICAL_WEIGHT = 3.0
# Rows the lexical leg matches on (and ranks), by expected counts, tuned on bench/search.py at
# 200k chunks: the most that keeps the p95 target, and no worse answer recall than matching all
# words (ts_rank_cd has no IDF, so pruning helps it; FTS5's bm25 loses from 3,000 down).
# Read at each search (tests and bench/search.py set them on this module).
PG_LEXICAL_ROW_BUDGET = 3000.0
SQLITE_LEXICAL_ROW_BUDGET = 10000.0
MAX_QUERY_TOKENS = 32
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchHit:
    """One chunk found: where it is, its text, and how it ranked.

    ``score`` is the fused RRF score in ``hybrid_search``, the cosine similarity in
    ``dense_search`` and the full-text relevance (higher is better) in ``lexical_search``.
    Ranks are 1-based; None where the chunk was not among that leg's candidates.
    """

    document_id: str
    filename: str
    page_number: int
    bbox: BBox
    text: str
    score: float
    line_boxes: tuple[BBox, ...]
    chunk_id: int
    kind: ChunkKind
    title: str | None  # the heading of the chunk's section
    dense_rank: int | None
    lexical_rank: int | None


def query_tokens(query: str) -> list[str]:
    """The query's distinct content words, lowercased, in order (at most ``MAX_QUERY_TOKENS``).

    Stop words are dropped unless the query has nothing else.
    """
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        seen.setdefault(token, None)
    words = [w for w in seen if w not in STOP_WORDS] or list(seen)
    return words[:MAX_QUERY_TOKENS]


def _query_vector(query_vector: Any) -> npt.NDArray[np.float32]:
    vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if vector.shape != (EMBEDDING_DIM,):
        raise ValueError(f"query vector has {vector.size} values, expected {EMBEDDING_DIM}")
    return vector


def _search_backend(session: Session) -> SearchBackend:
    """The backend for the database ``session`` talks to."""
    if backend(session.get_bind().engine) == "postgresql":
        return PostgresSearch(lexical_row_budget=PG_LEXICAL_ROW_BUDGET)
    return SqliteSearch(lexical_row_budget=SQLITE_LEXICAL_ROW_BUDGET)


def _lexical(
    search: SearchBackend, session: Session, query: str, n: int, filters: Filters
) -> Ranked:
    tokens = query_tokens(query)
    if not tokens or n <= 0:
        return []
    return search.lexical(session, tokens, n, filters)


def _hits(
    session: Session,
    scored: list[tuple[int, float]],
    dense_rank: dict[int, int],
    lexical_rank: dict[int, int],
) -> list[SearchHit]:
    if not scored:
        return []
    stmt = (
        select(
            Chunk.id,
            Chunk.document_id,
            Document.filename,
            Chunk.page_number,
            Chunk.bbox,
            Chunk.text,
            Chunk.line_boxes,
            Chunk.kind,
            Chunk.title,
        )
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_([chunk_id for chunk_id, _ in scored]))
    )
    rows = {row.id: row for row in session.execute(stmt)}
    hits = []
    for chunk_id, score in scored:
        row = rows.get(chunk_id)
        if row is None:  # deleted between ranking and reading
            continue
        hits.append(
            SearchHit(
                document_id=row.document_id,
                filename=row.filename,
                page_number=row.page_number,
                bbox=as_bbox(row.bbox),
                text=row.text,
                score=score,
                line_boxes=tuple(as_bbox(box) for box in row.line_boxes),
                chunk_id=chunk_id,
                kind=row.kind,
                title=row.title,
                dense_rank=dense_rank.get(chunk_id),
                lexical_rank=lexical_rank.get(chunk_id),
            )
        )
    return hits


def _ranks(ranked: Ranked) -> dict[int, int]:
    return {chunk_id: rank for rank, (chunk_id, _) in enumerate(ranked, start=1)}


def warm_up(session: Session) -> None:
    """Load now what the first search would load (SQLite: the chunk vectors; PostgreSQL: none)."""
    _search_backend(session).warm_up(session)


def reciprocal_rank_fusion(
    *rankings: Ranked, k: float = RRF_K, weights: tuple[float, ...] | None = None
) -> list[tuple[int, float]]:
    """Chunk ids by the sum over rankings of ``weight / (k + rank)``, best first (ties by id);
    weights default to 1."""
    fused: dict[int, float] = {}
    for i, ranked in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def hybrid_search(
    session: Session,
    *,
    query: str,
    query_vector: Any,
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
    candidates: int = 50,
    rrf_k: float = RRF_K,
    lexical_weight: float = LEXICAL_WEIGHT,
) -> list[SearchHit]:
    """The ``k`` best chunks for a query by both its words and its embedding: weighted
    reciprocal rank fusion (dense 1, lexical ``lexical_weight``, constant ``rrf_k``).

    Each leg takes its top ``candidates`` under the filters; ``query_vector`` is the query's
    ``EMBEDDING_DIM``-wide embedding.
    """
    filters = Filters.of(document_ids, metadata, tenant)
    vector = _query_vector(query_vector)
    search = _search_backend(session)
    dense = search.dense(session, vector, candidates, filters)
    lexical = _lexical(search, session, query, candidates, filters)
    fused = reciprocal_rank_fusion(dense, lexical, k=rrf_k, weights=(1.0, lexical_weight))[:k]
    return _hits(session, fused, _ranks(dense), _ranks(lexical))


def dense_search(
    session: Session,
    *,
    query_vector: Any,
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks whose embeddings are most cosine-similar to ``query_vector``."""
    filters = Filters.of(document_ids, metadata, tenant)
    vector = _query_vector(query_vector)
    dense = _search_backend(session).dense(session, vector, k, filters)
    return _hits(session, dense, _ranks(dense), {})


def lexical_search(
    session: Session,
    *,
    query: str,
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks that best match any of the query's words (full-text relevance)."""
    filters = Filters.of(document_ids, metadata, tenant)
    lexical = _lexical(_search_backend(session), session, query, k, filters)
    return _hits(session, lexical, {}, _ranks(lexical))
