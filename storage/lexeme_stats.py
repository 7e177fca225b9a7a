"""How common each query word is in the full-text index, so the lexical leg can match on the
rarer words only.

PostgreSQL: from the planner's own statistics.
``ANALYZE`` (autovacuum runs it) keeps, for a tsvector column, its most common lexemes and the
fraction of rows holding each (``pg_stats.most_common_elems`` / ``most_common_elem_freqs``; the
freqs array ends with the minimum and maximum frequency and the null fraction). A lexeme not in
the list is rarer than the least common listed one. The lexical search uses these to leave the
commonest query words out of *matching* (they would make it rank a large share of the table)
while still using them for *ranking* the rows the rarer words match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

REFRESH_SECONDS = 300.0


@dataclass(frozen=True)
class LexemeStats:
    """Row-fraction of the most common lexemes, the ceiling for the rest, and the row count."""

    frequency: dict[str, float]
    floor: float  # frequency of the least common listed lexeme: an upper bound for the others
    rows: float

    def expected_rows(self, lexeme: str) -> float:
        """About how many rows hold ``lexeme`` (an overestimate for rare ones)."""
        return self.frequency.get(lexeme, self.floor) * self.rows


_cache: dict[Engine, tuple[float, LexemeStats | None]] = {}
_lock = threading.Lock()


def lexeme_stats(session: Session) -> LexemeStats | None:
    """The statistics of ``chunks.text_tsv`` (None before the first ANALYZE), cached a while."""
    engine = session.get_bind().engine
    now = time.monotonic()
    with _lock:
        cached = _cache.get(engine)
    if cached is not None and now - cached[0] < REFRESH_SECONDS:
        return cached[1]
    row = session.execute(
        text(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
            "FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
            "WHERE s.tablename = 'chunks' AND s.attname = 'text_tsv' "
            "AND s.schemaname = current_schema()"
        )
    ).first()
    stats = None
    if row is not None and row[0] and row[1] and row[2] and row[2] > 0:
        lexemes, freqs, rows = list(row[0]), list(row[1]), float(row[2])
        stats = LexemeStats(
            frequency=dict(zip(lexemes, freqs[: len(lexemes)], strict=True)),
            floor=float(freqs[len(lexemes)]),  # the minimum listed frequency
            rows=rows,
        )
    with _lock:
        _cache[engine] = (now, stats)
    return stats


class SqliteTermCounts:
    """How many chunks hold each query word, counted by FTS5 itself (so with its stemming) on
    first use and remembered a while: counting a word's matches costs far less than ranking
    them, and a word's count changes slowly."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def expected_rows(self, session: Session, tokens: list[str]) -> dict[str, float]:
        """Chunks matching each token (a token FTS5 drops entirely counts 0)."""
        now = time.monotonic()
        out: dict[str, float] = {}
        for token in tokens:
            with self._lock:
                cached = self._counts.get(token)
            if cached is not None and now - cached[0] < REFRESH_SECONDS:
                out[token] = cached[1]
                continue
            count = session.execute(
                text("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH :q"),
                {"q": '"' + token.replace('"', '""') + '"'},
            ).scalar_one()
            with self._lock:
                if len(self._counts) > 100_000:
                    self._counts.clear()
                self._counts[token] = (now, float(count))
            out[token] = float(count)
        return out


_term_counts: dict[Engine, SqliteTermCounts] = {}


def sqlite_term_counts(session: Session) -> SqliteTermCounts:
    """The term counter of the session's SQLite database."""
    engine = session.get_bind().engine
    with _lock:
        return _term_counts.setdefault(engine, SqliteTermCounts())


def matching_lexemes(lexemes: list[str], stats: LexemeStats | None, budget: float) -> list[str]:
    """The query lexemes to match on: rarest first, while the rows they match stay within
    ``budget`` (always at least the rarest one); all of them when there are no statistics."""
    if stats is None or not lexemes:
        return lexemes
    return within_budget(lexemes, stats.expected_rows, budget)


def within_budget(
    terms: list[str], expected_rows: Callable[[str], float], budget: float
) -> list[str]:
    """Rarest first, the terms whose expected matching rows add up to at most ``budget``
    (always at least the rarest one)."""
    chosen: list[str] = []
    total = 0.0
    for lexeme in sorted(terms, key=expected_rows):
        rows = expected_rows(lexeme)
        if chosen and total + rows > budget:
            break
        chosen.append(lexeme)
        total += rows
    return chosen
