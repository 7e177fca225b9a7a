"""The search legs on SQLite.

Dense by exact search over the in-memory vectors of ``storage.vector_cache``, lexical by FTS5
``MATCH`` ranked by bm25 over every query word, matching on the rarer ones only (counted by
FTS5 itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, column, literal_column, select, table
from sqlalchemy.orm import Session

from storage.encoders import VectorTarget
from storage.lexeme_stats import sqlite_term_counts, within_budget
from storage.search_backend import Filters, Ranked, Vector
from storage.tables import Chunk
from storage.vector_cache import vector_cache

_FTS = table("chunks_fts", column("rowid"), column("rank"))


def _fts_or(tokens: list[str]) -> str:
    return " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)


@dataclass(frozen=True)
class SqliteSearch:
    """``SearchBackend`` on SQLite (cached vectors and an FTS5 table)."""

    lexical_row_budget: float  # expected rows the lexical leg matches on

    def dense(
        self, session: Session, target: VectorTarget, vector: Vector, n: int, filters: Filters
    ) -> Ranked:
        engine = session.get_bind().engine
        snapshot = vector_cache(engine, target).snapshot(session)
        return snapshot.top(vector, n, filters.allowed_documents(session))

    def lexical(self, session: Session, tokens: list[str], n: int, filters: Filters) -> Ranked:
        # As on PostgreSQL, bm25 over every match of a common word is the slow part: match on
        # the rarer words within the row budget (bm25 weighs common words little anyway).
        counts = sqlite_term_counts(session).expected_rows(session, tokens)
        present = [t for t in tokens if counts[t] > 0]
        if not present:
            return []
        matched = within_budget(present, counts.__getitem__, self.lexical_row_budget)
        # Every word quoted is an FTS5 string, never syntax: the query cannot fail to parse.
        match = _fts_or(matched)
        if len(matched) < len(present):
            # rows holding a rare word, ranked by bm25 over every word: the AND adds no rows,
            # but puts the common words in the expression bm25 scores
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

    def warm_up(self, session: Session, targets: tuple[VectorTarget, ...] = ()) -> None:
        """Load the targets' vectors into the caches the dense legs search."""
        for target in targets:
            vector_cache(session.get_bind().engine, target).snapshot(session)
