"""Hybrid search over chunks and image regions: dense (cosine) and lexical (full text) legs over
chunks, and image legs over the image vectors of pages and figures, fused by reciprocal rank.

Each database has its own backend for both legs (``storage.search_backend.SearchBackend``):
``storage.search_postgres`` (HNSW and ``ts_rank_cd``) and ``storage.search_sqlite`` (cached
vectors and FTS5 bm25), picked once per call by the session's dialect.
Both backends match any of the query's (content) words, so a long question still finds chunks
that share only some of its words. The legs are fused by weighted reciprocal rank (RRF_K,
LEXICAL_WEIGHT).
Filters (document ids, tenant, metadata key == value) apply inside every leg.

A score floor decides whether a query has an answer among the chunks at all, so a query with
no matching word and no close meaning ("xyzzy quantum zebra") finds nothing: a chunk passes
with a cosine (MiniLM) with the query of at least ``MIN_COSINE``, or of at least
``MIN_COSINE_WORDED`` when the lexical leg found it (it holds a query word). When no chunk
passes, no chunk is a hit; when one does, the ranking stands whole (a weak chunk may still be
the answer: dropping each one that failed cost SQuAD dev questions their gold page). A
one-word match alone is no reason ("What is the offside rule in ice hockey?" finds "rule" in a
history), but with some closeness of meaning it is (names and numbers). A worded chunk beyond the
dense leg's candidates has a cosine below the last candidate's: it passes unless that is below
the floor.
Both are calibrated by bench/citing.py on the SQuAD dev questions and questions whose answer is
absent (bench/data/absent_questions.jsonl); hits of the image legs have no floor.

A dense leg reads the vectors of one encoder (``storage.encoders.VectorTarget``): the text
encoder's over chunks, or the image encoder's over page and figure regions (reached by a text
query through the image model's text tower, ``text_to_image``, or by an image, ``image``).
A hit is a chunk or an image region; it says which legs found it and at what rank.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.vocab import BBox, HitKind, HitSource, LegName, as_bbox
from storage.db import backend
from storage.encoders import VectorTarget
from storage.search_backend import Filters, Ranked, SearchBackend
from storage.search_postgres import PostgresSearch
from storage.search_sqlite import SqliteSearch
from storage.stop_words import STOP_WORDS
from storage.tables import Chunk, Document, ImageVector

__all__ = [
    "LEXICAL_WEIGHT",
    "MAX_QUERY_TOKENS",
    "MIN_COSINE",
    "MIN_COSINE_WORDED",
    "PG_LEXICAL_ROW_BUDGET",
    "RRF_K",
    "SQLITE_LEXICAL_ROW_BUDGET",
    "STOP_WORDS",
    "SearchHit",
    "VectorLeg",
    "dense_search",
    "hybrid_search",
    "lexical_search",
    "query_tokens",
    "reciprocal_rank_fusion",
    "warm_up",
]

# Fusion, tuned on the dev split of bench/rag.py (bench/tuning/rag_tune.py): a small k, so first
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
# The score floor (module doc): the cosine (MiniLM) a chunk needs with the query, and the
# lower one a chunk holding a query word needs; bench/citing.py. Settings.
MIN_COSINE = 0.3
MIN_COSINE_WORDED = 0.15
_TOKEN = re.compile(r"\w+")

Key = tuple[HitSource, int]  # what a leg ranks: a chunk or an image region


@dataclass(frozen=True)
class VectorLeg:
    """One dense leg: ``vector`` against ``target``'s vectors, weighted in the fusion."""

    name: LegName
    target: VectorTarget
    vector: npt.NDArray[np.float32]
    weight: float = 1.0


@dataclass(frozen=True)
class SearchHit:
    """One chunk or image region found: where it is, its text, and how it ranked.

    ``score`` is the fused RRF score in ``hybrid_search``, the cosine similarity in
    ``dense_search`` and the full-text relevance (higher is better) in ``lexical_search``.
    ``ranks`` maps each leg that found the hit to its 1-based rank there; ``cosine`` is its
    similarity to the query in the text encoder's dense leg (None: not among its candidates).
    ``line_texts``, when known (``workers.searching`` reads them from the page's layout), is
    the text of each of ``line_boxes``; ``lines_before``/``lines_after``, the text and box of the
    page's lines just before and after the chunk's in reading order (a few), so a hit can cite
    a sentence the chunk's edge cut whole (``pipelines.citing``). An image region
    (``kind`` page or figure, ``region_id`` set) has no chunk id and no line boxes. A table
    chunk has its ``cells`` (JSON values: row, col, spans, bbox, text, header) and its table's
    0-based index in the document (``table_index``); other hits have None.
    """

    document_id: str
    filename: str
    page_number: int
    bbox: BBox
    text: str
    score: float
    line_boxes: tuple[BBox, ...]
    chunk_id: int | None
    kind: HitKind
    title: str | None  # the heading of the chunk's section
    ranks: dict[str, int] = field(default_factory=dict)
    region_id: int | None = None
    cells: tuple[dict[str, Any], ...] | None = None
    table_index: int | None = None
    cosine: float | None = None
    line_texts: tuple[str, ...] | None = None
    lines_before: tuple[tuple[str, BBox], ...] = ()
    lines_after: tuple[tuple[str, BBox], ...] = ()

    @property
    def dense_rank(self) -> int | None:
        """The rank in the text encoder's dense leg (None: not among its candidates)."""
        return self.ranks.get("dense")

    @property
    def lexical_rank(self) -> int | None:
        """The rank in the full-text leg (None: not among its candidates)."""
        return self.ranks.get("lexical")

    @property
    def found_by(self) -> list[str]:
        """The legs that found the hit, best rank first."""
        return sorted(self.ranks, key=lambda leg: (self.ranks[leg], leg))


def query_tokens(query: str) -> list[str]:
    """The query's distinct content words, lowercased, in order (at most ``MAX_QUERY_TOKENS``).

    Stop words are dropped unless the query has nothing else.
    """
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        seen.setdefault(token, None)
    words = [w for w in seen if w not in STOP_WORDS] or list(seen)
    return words[:MAX_QUERY_TOKENS]


def _query_vector(query_vector: Any, target: VectorTarget) -> npt.NDArray[np.float32]:
    vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    if vector.shape != (target.dim,):
        raise ValueError(f"query vector has {vector.size} values, expected {target.dim}")
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
    scored: list[tuple[Key, float]],
    ranks: dict[str, dict[Key, int]],
    cosines: dict[Key, float] | None = None,
) -> list[SearchHit]:
    if not scored:
        return []
    chunk_ids = [row_id for (source, row_id), _ in scored if source == "chunk"]
    region_ids = [row_id for (source, row_id), _ in scored if source == "image"]
    rows: dict[Key, Any] = {}
    if chunk_ids:
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
                Chunk.cells,
                Chunk.table_index,
            )
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.id.in_(chunk_ids))
        )
        rows.update({("chunk", row.id): row for row in session.execute(stmt)})
    if region_ids:
        regions = (
            select(
                ImageVector.id,
                ImageVector.document_id,
                Document.filename,
                ImageVector.page_number,
                ImageVector.bbox,
                ImageVector.text,
                ImageVector.region.label("kind"),
            )
            .join(Document, Document.id == ImageVector.document_id)
            .where(ImageVector.id.in_(region_ids))
        )
        rows.update({("image", row.id): row for row in session.execute(regions)})
    hits = []
    for key, score in scored:
        row = rows.get(key)
        if row is None:  # deleted between ranking and reading
            continue
        chunk = key[0] == "chunk"
        hits.append(
            SearchHit(
                document_id=row.document_id,
                filename=row.filename,
                page_number=row.page_number,
                bbox=as_bbox(row.bbox),
                text=row.text,
                score=score,
                line_boxes=tuple(as_bbox(box) for box in row.line_boxes) if chunk else (),
                chunk_id=key[1] if chunk else None,
                kind=row.kind,
                title=row.title if chunk else None,
                ranks={leg: by_key[key] for leg, by_key in ranks.items() if key in by_key},
                region_id=None if chunk else key[1],
                cells=tuple(row.cells) if chunk and row.cells is not None else None,
                table_index=row.table_index if chunk else None,
                cosine=None if cosines is None else cosines.get(key),
            )
        )
    return hits


def _keyed(ranked: Ranked, source: HitSource) -> list[tuple[Key, float]]:
    return [((source, row_id), score) for row_id, score in ranked]


def _ranks(ranked: Sequence[tuple[Key, float]]) -> dict[Key, int]:
    return {key: rank for rank, (key, _) in enumerate(ranked, start=1)}


def warm_up(session: Session, targets: tuple[VectorTarget, ...] = ()) -> None:
    """Load now what the first search of ``targets`` would load (SQLite: their vectors;
    PostgreSQL: nothing)."""
    _search_backend(session).warm_up(session, targets)


K = TypeVar("K", int, Key)


def reciprocal_rank_fusion(
    *rankings: Sequence[tuple[K, float]],
    k: float = RRF_K,
    weights: tuple[float, ...] | None = None,
) -> list[tuple[K, float]]:
    """Ids by the sum over rankings of ``weight / (k + rank)``, best first (ties by id);
    weights default to 1."""
    fused: dict[K, float] = {}
    for i, ranked in enumerate(rankings):
        weight = 1.0 if weights is None else weights[i]
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def hybrid_search(
    session: Session,
    *,
    query: str | None,
    query_vector: Any = None,
    target: VectorTarget | None = None,
    image_legs: Sequence[VectorLeg] = (),
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
    candidates: int = 50,
    rrf_k: float = RRF_K,
    lexical_weight: float = LEXICAL_WEIGHT,
    min_cosine: float | None = None,
    min_cosine_worded: float = MIN_COSINE_WORDED,
) -> list[SearchHit]:
    """The ``k`` best chunks and image regions by weighted reciprocal rank fusion (constant
    ``rrf_k``) of: the query's words (weight ``lexical_weight``), its text embedding
    ``query_vector`` against the chunks of the text encoder ``target`` (weight 1), and each
    of ``image_legs`` against the image vectors (their own weights).

    Each leg takes its top ``candidates`` under the filters; a leg without its input (no
    query, no query vector) is left out. The score floor (module doc): no chunk is a hit
    unless one has a cosine of ``min_cosine`` with the query, or of ``min_cosine_worded`` when
    the lexical leg found it (``min_cosine`` None, the default here, or no query vector: no
    floor; the service passes ``MIN_COSINE`` through its settings).
    """
    filters = Filters.of(document_ids, metadata, tenant)
    search = _search_backend(session)
    rankings: list[tuple[LegName, list[tuple[Key, float]], float]] = []
    cosines: dict[Key, float] = {}
    if query_vector is not None and target is not None:
        vector = _query_vector(query_vector, target)
        dense = _keyed(search.dense(session, target, vector, candidates, filters), "chunk")
        cosines = dict(dense)
        rankings.append(("dense", dense, 1.0))
    if query:
        lexical = _lexical(search, session, query, candidates, filters)
        rankings.append(("lexical", _keyed(lexical, "chunk"), lexical_weight))
    for leg in image_legs:
        vector = _query_vector(leg.vector, leg.target)
        found = search.dense(session, leg.target, vector, candidates, filters)
        rankings.append((leg.name, _keyed(found, "image"), leg.weight))
    fused = reciprocal_rank_fusion(
        *(ranked for _, ranked, _ in rankings),
        k=rrf_k,
        weights=tuple(weight for _, _, weight in rankings),
    )
    leg_ranks: dict[str, dict[Key, int]] = {name: _ranks(r) for name, r, _ in rankings}
    if min_cosine is not None and query_vector is not None and target is not None:
        # after the fusion, so the hits kept rank as without the floor
        worded = leg_ranks.get("lexical", {})
        # a chunk beyond the dense candidates is no closer than the last of them
        beyond = min(cosines.values(), default=-1.0) if len(cosines) >= candidates else -1.0

        def kept(key: Key) -> bool:
            cosine = cosines.get(key, beyond)
            return cosine >= (min_cosine_worded if key in worded else min_cosine)

        # The floor decides whether the query has an answer here, not which passages show:
        # when one chunk passes it the ranking stands whole (dropping a weak chunk that ranks
        # in the top k cost real questions their gold page: SQuAD dev R@5 0.970 -> 0.968);
        # when none does, no chunk is a hit.
        if not any(key[0] == "chunk" and kept(key) for key, _ in fused):
            fused = [(key, score) for key, score in fused if key[0] != "chunk"]
    return _hits(session, fused[:k], leg_ranks, cosines)


def dense_search(
    session: Session,
    *,
    query_vector: Any,
    target: VectorTarget,
    k: int = 10,
    document_ids: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    tenant: str | None = None,
) -> list[SearchHit]:
    """The ``k`` rows of ``target`` whose embeddings are most cosine-similar to
    ``query_vector`` (chunks, or image regions for an image encoder's target)."""
    filters = Filters.of(document_ids, metadata, tenant)
    vector = _query_vector(query_vector, target)
    source: HitSource = "chunk" if target.table == "chunks" else "image"
    dense = _keyed(_search_backend(session).dense(session, target, vector, k, filters), source)
    return _hits(session, dense, {"dense" if source == "chunk" else "image": _ranks(dense)})


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
    lexical = _keyed(_lexical(_search_backend(session), session, query, k, filters), "chunk")
    return _hits(session, lexical, {"lexical": _ranks(lexical)})
