"""The search legs on PostgreSQL.

Dense by ``embedding::vector(dim) <=> q`` on the encoder's HNSW index (``hnsw.ef_search`` =
2 x candidates, at least 100), lexical on the ``text_tsv`` GIN index, ranked by ``ts_rank_cd``
over every query word but matching on the rarer ones only (``storage.lexeme_stats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgvector.sqlalchemy import Vector as PgVector
from sqlalchemy import ColumnElement, Float, cast, func, literal_column, select
from sqlalchemy.orm import Session

from storage.encoders import VectorTarget
from storage.lexeme_stats import lexeme_stats, matching_lexemes
from storage.search_backend import Filters, Ranked, Vector
from storage.tables import Chunk, ImageVector


def _tsquery(lexemes: list[str]) -> ColumnElement[Any]:
    """An OR of already-normalised lexemes, each quoted (so never tsquery syntax)."""
    quoted = " | ".join("'" + lexeme.replace("'", "''") + "'" for lexeme in lexemes)
    return func.to_tsquery("simple", quoted)


@dataclass(frozen=True)
class PostgresSearch:
    """``SearchBackend`` on PostgreSQL (pgvector HNSW and a tsvector GIN index)."""

    lexical_row_budget: float  # expected rows the lexical leg matches on

    def dense(
        self, session: Session, target: VectorTarget, vector: Vector, n: int, filters: Filters
    ) -> Ranked:
        # ef_search bounds what HNSW can return (pgvector's maximum is 1000); filters drop rows
        # after the graph walk, so a filtered search walks further. At least 100: on the
        # per-encoder partial index a top 10 found 0.755 of the exact top 10 at 40 and 0.847 at
        # 100 (0.81 on the former full-table index at 40), for +1 ms (bench/search.py, 200k
        # chunks); the hybrid search's 50 candidates walk 100 anyway.
        ef_search = min(max((4 if filters.active else 2) * n, 100), 1000)
        session.execute(select(func.set_config("hnsw.ef_search", str(ef_search), True)))
        rows_of = Chunk if target.table == "chunks" else ImageVector
        # the encoder's own HNSW index is over embedding::vector(dim) of its rows: the query
        # spells the same expression and the encoder id as a literal (storage.encoders)
        embedding = cast(rows_of.embedding, PgVector(target.dim))
        own = rows_of.encoder_id == literal_column(str(int(target.encoder_id)))
        conditions = [own, *filters.chunk_conditions(rows_of.document_id)]
        distance = embedding.op("<=>", return_type=Float)(vector)
        stmt = select(rows_of.id, distance).where(*conditions).order_by(distance).limit(n)
        rows = session.execute(stmt).all()
        if filters.active and len(rows) < n:
            # HNSW filters after the graph walk, so a selective filter can leave few rows; an
            # exact scan of just the filtered rows (small when the filter is selective) fills
            # the list.
            subset = (
                select(rows_of.id, embedding.label("embedding"))
                .where(*conditions)
                .cte("filtered")
                .prefix_with("MATERIALIZED")
            )
            exact = subset.c.embedding.op("<=>", return_type=Float)(vector)
            rows = session.execute(select(subset.c.id, exact).order_by(exact).limit(n)).all()
        return [(int(chunk_id), 1.0 - float(dist)) for chunk_id, dist in rows]

    def lexical(self, session: Session, tokens: list[str], n: int, filters: Filters) -> Ranked:
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
        # large share of the table costs most of the time; match on the rarer words within a
        # row budget and let every word count in the ranking.
        matched = matching_lexemes(lexemes, lexeme_stats(session), self.lexical_row_budget)
        tsv: ColumnElement[Any] = literal_column("chunks.text_tsv")
        rank = func.ts_rank_cd(tsv, _tsquery(lexemes))
        stmt = (
            select(Chunk.id, rank)
            .where(tsv.op("@@")(_tsquery(matched)), *filters.chunk_conditions())
            .order_by(rank.desc(), Chunk.id)
            .limit(n)
        )
        return [(int(chunk_id), float(score)) for chunk_id, score in session.execute(stmt)]

    def warm_up(self, session: Session, targets: tuple[VectorTarget, ...] = ()) -> None:
        """Nothing to load: both legs read indexes the database keeps."""
