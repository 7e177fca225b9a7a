"""Hybrid search over chunks: dense (cosine) and lexical (full text), fused by reciprocal rank.

PostgreSQL: dense by ``embedding <=> q`` on the HNSW index (``hnsw.ef_search`` = 2 x candidates),
lexical on the ``text_tsv`` GIN index, ranked by ``ts_rank_cd`` over every query word but
matching on the rarer ones only (``storage.lexeme_stats``). SQLite: dense by exact search over
the in-memory vectors of ``storage.vector_cache``, lexical by FTS5 ``MATCH`` ranked by bm25
over every query word, matching on the rarer ones only (counted by FTS5 itself).
Both backends match any of the query's (content) words, so a long question still finds chunks
that share only some of its words. The legs are fused by weighted reciprocal rank (RRF_K,
LEXICAL_WEIGHT).
Filters (document ids, tenant, metadata key == value) apply inside both legs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    column,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.orm import Session

from core.vocab import BBox, as_bbox
from storage.db import backend
from storage.lexeme_stats import (
    lexeme_stats,
    matching_lexemes,
    sqlite_term_counts,
    within_budget,
)
from storage.tables import EMBEDDING_DIM, Chunk, Document
from storage.vector_cache import vector_cache

# Fusion, tuned on the dev split of bench/rag.py (bench/rag_tune.py): a small k, so first
# places count much more than tenth ones, and the lexical leg weighted 3x the dense one (on
# scanned SQuAD articles full text alone beats MiniLM alone by 16 points of Recall@1; the dense
# leg still adds recall at 5 and 10). Both are settings (SCANRAG_SEARCH__...).
RRF_K = 10
LEXICAL_WEIGHT = 3.0
# Rows the lexical leg matches on (and ranks), by expected counts, tuned on bench/search.py at
# 200k chunks: the most that keeps the p95 target, and no worse answer recall than matching all
# words (ts_rank_cd has no IDF, so pruning helps it; FTS5's bm25 loses from 3,000 down).
PG_LEXICAL_ROW_BUDGET = 3000.0
SQLITE_LEXICAL_ROW_BUDGET = 10000.0
MAX_QUERY_TOKENS = 32
_TOKEN = re.compile(r"\w+")

Ranked = list[tuple[int, float]]  # (chunk id, leg score), best first


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
    kind: str  # text, table or figure
    title: str | None  # the heading of the chunk's section
    dense_rank: int | None
    lexical_rank: int | None


@dataclass(frozen=True)
class _Filters:
    document_ids: tuple[str, ...] | None
    metadata: tuple[tuple[str, str], ...]
    tenant: str | None

    @classmethod
    def of(
        cls,
        document_ids: Iterable[str] | None,
        metadata: dict[str, str] | None,
        tenant: str | None,
    ) -> _Filters:
        return cls(
            document_ids=None if document_ids is None else tuple(document_ids),
            metadata=tuple(sorted((metadata or {}).items())),
            tenant=tenant,
        )

    @property
    def active(self) -> bool:
        return self.document_ids is not None or bool(self.metadata) or self.tenant is not None

    def document_conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.tenant is not None:
            conditions.append(Document.tenant == self.tenant)
        for key, value in self.metadata:
            conditions.append(Document.meta[key].as_string() == value)
        return conditions

    def chunk_conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.document_ids is not None:
            conditions.append(Chunk.document_id.in_(self.document_ids))
        document_conditions = self.document_conditions()
        if document_conditions:
            conditions.append(
                Chunk.document_id.in_(select(Document.id).where(*document_conditions))
            )
        return conditions

    def allowed_documents(self, session: Session) -> set[str] | None:
        """The ids of the documents these filters allow (None: all of them)."""
        allowed = None if self.document_ids is None else set(self.document_ids)
        document_conditions = self.document_conditions()
        if document_conditions:
            stmt = select(Document.id).where(*document_conditions)
            if allowed is not None:
                stmt = stmt.where(Document.id.in_(allowed))
            allowed = set(session.scalars(stmt))
        return allowed


# English function words: in an OR query they match nearly every chunk, which costs ranking
# time (bm25 over the whole table) and adds nothing to relevance.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


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


def _dense_postgres(
    session: Session, vector: npt.NDArray[np.float32], n: int, filters: _Filters
) -> Ranked:
    # ef_search bounds what HNSW can return (pgvector's maximum is 1000); filters drop rows
    # after the graph walk, so a filtered search walks further.
    ef_search = min(max((4 if filters.active else 2) * n, 40), 1000)
    session.execute(select(func.set_config("hnsw.ef_search", str(ef_search), True)))
    distance = Chunk.embedding.op("<=>", return_type=Float)(vector)
    stmt = (
        select(Chunk.id, distance)
        .where(Chunk.embedding.is_not(None), *filters.chunk_conditions())
        .order_by(distance)
        .limit(n)
    )
    rows = session.execute(stmt).all()
    if filters.active and len(rows) < n:
        # HNSW filters after the graph walk, so a selective filter can leave few rows; an exact
        # scan of just the filtered chunks (small when the filter is selective) fills the list.
        subset = (
            select(Chunk.id, Chunk.embedding)
            .where(Chunk.embedding.is_not(None), *filters.chunk_conditions())
            .cte("filtered")
            .prefix_with("MATERIALIZED")
        )
        exact = subset.c.embedding.op("<=>", return_type=Float)(vector)
        rows = session.execute(select(subset.c.id, exact).order_by(exact).limit(n)).all()
    return [(int(chunk_id), 1.0 - float(dist)) for chunk_id, dist in rows]


def _dense_sqlite(
    session: Session, vector: npt.NDArray[np.float32], n: int, filters: _Filters
) -> Ranked:
    engine = session.get_bind().engine
    snapshot = vector_cache(engine).snapshot(session)
    return snapshot.top(vector, n, filters.allowed_documents(session))


def _dense(session: Session, vector: npt.NDArray[np.float32], n: int, filters: _Filters) -> Ranked:
    if backend(session.get_bind().engine) == "postgresql":
        return _dense_postgres(session, vector, n, filters)
    return _dense_sqlite(session, vector, n, filters)


def _tsquery(lexemes: list[str]) -> ColumnElement[Any]:
    """An OR of already-normalised lexemes, each quoted (so never tsquery syntax)."""
    quoted = " | ".join("'" + lexeme.replace("'", "''") + "'" for lexeme in lexemes)
    return func.to_tsquery("simple", quoted)


def _lexical_postgres(session: Session, tokens: list[str], n: int, filters: _Filters) -> Ranked:
    # The query's lexemes as the column has them (english stemming, stop words dropped).
    lexemes = list(
        dict.fromkeys(
            session.scalars(
                select(
                    func.unnest(
                        func.tsvector_to_array(func.to_tsvector("english", " ".join(tokens)))
                    )
                )
            )
        )
    )
    if not lexemes:
        return []
    # ts_rank_cd reads the tsvector of every row matched, so matching on a word held by a
    # large share of the table costs most of the time; match on the rarer words within a row
    # budget and let every word count in the ranking.
    matched = matching_lexemes(lexemes, lexeme_stats(session), PG_LEXICAL_ROW_BUDGET)
    tsv: ColumnElement[Any] = literal_column("chunks.text_tsv")
    rank = func.ts_rank_cd(tsv, _tsquery(lexemes))
    stmt = (
        select(Chunk.id, rank)
        .where(tsv.op("@@")(_tsquery(matched)), *filters.chunk_conditions())
        .order_by(rank.desc(), Chunk.id)
        .limit(n)
    )
    return [(int(chunk_id), float(score)) for chunk_id, score in session.execute(stmt)]


_FTS = table("chunks_fts", column("rowid"), column("rank"))


def _fts_or(tokens: list[str]) -> str:
    return " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)


def _lexical_sqlite(session: Session, tokens: list[str], n: int, filters: _Filters) -> Ranked:
    # As on PostgreSQL, bm25 over every match of a common word is the slow part: match on the
    # rarer words within the row budget (bm25 weighs common words little anyway).
    counts = sqlite_term_counts(session).expected_rows(session, tokens)
    present = [t for t in tokens if counts[t] > 0]
    if not present:
        return []
    matched = within_budget(present, counts.__getitem__, SQLITE_LEXICAL_ROW_BUDGET)
    # Every word quoted is an FTS5 string, never syntax: the query cannot fail to parse.
    match = _fts_or(matched)
    if len(matched) < len(present):
        # rows holding a rare word, ranked by bm25 over every word: the AND adds no rows, but
        # puts the common words in the expression bm25 scores
        match = f"({match}) AND ({_fts_or(present)})"
    stmt: Select[Any] = (
        select(_FTS.c.rowid, _FTS.c.rank)
        .select_from(_FTS)
        .where(literal_column("chunks_fts").op("MATCH")(match))
    )
    conditions = filters.chunk_conditions()
    if conditions:
        stmt = stmt.join(Chunk, Chunk.id == _FTS.c.rowid).where(*conditions)
    stmt = stmt.order_by(_FTS.c.rank).limit(n)
    # bm25 is lower-is-better; negate so every score in scanrag is higher-is-better.
    return [(int(chunk_id), -float(rank)) for chunk_id, rank in session.execute(stmt)]


def _lexical(session: Session, query: str, n: int, filters: _Filters) -> Ranked:
    tokens = query_tokens(query)
    if not tokens or n <= 0:
        return []
    if backend(session.get_bind().engine) == "postgresql":
        return _lexical_postgres(session, tokens, n, filters)
    return _lexical_sqlite(session, tokens, n, filters)


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
    engine = session.get_bind().engine
    if backend(engine) == "sqlite":
        vector_cache(engine).snapshot(session)


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
    filters = _Filters.of(document_ids, metadata, tenant)
    dense = _dense(session, _query_vector(query_vector), candidates, filters)
    lexical = _lexical(session, query, candidates, filters)
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
    filters = _Filters.of(document_ids, metadata, tenant)
    dense = _dense(session, _query_vector(query_vector), k, filters)
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
    filters = _Filters.of(document_ids, metadata, tenant)
    lexical = _lexical(session, query, k, filters)
    return _hits(session, lexical, {}, _ranks(lexical))
