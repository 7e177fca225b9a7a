"""Exact cosine search on SQLite over vectors held in memory: one cache per engine and
vector target (the chunks' or the image vectors' table, one encoder's rows).

The Python build this project runs on cannot load SQLite extensions (no sqlite-vec), and a
matrix-vector product over 200k x 384 float32 takes a few tens of milliseconds, so the vectors
are read once into a normalised float32 matrix and kept in step with the table:

- ids come from AUTOINCREMENT and are never reused, so rows with an id above the largest id
  seen (``sqlite_sequence``) are exactly the new ones, and the encoder's among them are
  appended;
- if the table's ``count(*)`` is not the last one seen plus the rows added since, rows were
  deleted: the encoder's id list is re-read and the missing rows dropped.

The check before each search is the table's own sequence and ``count(*)`` (which SQLite answers
from its smallest index); a count of the encoder's rows alone costs a scan of its index entries
(+25 ms a search at 200k chunks, measured), so it is done only when rows were deleted.

Rows are never updated in place (the repository deletes and re-inserts), which this relies on.
Memory: 1.5 KiB per 384-wide vector (300 MiB at 200k chunks).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from storage.encoders import VectorTarget

_BATCH = 10_000


@dataclass(frozen=True)
class VectorSnapshot:
    """An unchanging view of the cached rows, safe to search while the cache grows."""

    ids: npt.NDArray[np.int64]
    doc_codes: npt.NDArray[np.int32]
    vectors: npt.NDArray[np.float32]  # unit rows; all-zero where the chunk has no embedding
    has_vector: npt.NDArray[np.bool_]
    doc_code: dict[str, int]

    def top(
        self, query: npt.NDArray[np.float32], n: int, allowed_documents: set[str] | None
    ) -> list[tuple[int, float]]:
        """The ``n`` most cosine-similar chunk ids with their similarity, best first."""
        if len(self.ids) == 0 or n <= 0:
            return []
        norm = float(np.linalg.norm(query))
        if norm == 0.0:
            return []
        sims = self.vectors @ (query.astype(np.float32) / norm)
        keep = self.has_vector
        if allowed_documents is not None:
            codes = [self.doc_code[d] for d in allowed_documents if d in self.doc_code]
            keep = keep & np.isin(self.doc_codes, np.asarray(codes, dtype=np.int32))
        kept = int(np.count_nonzero(keep))
        if kept < len(sims):
            sims[~keep] = -np.inf
        n = min(n, kept)
        if n == 0:
            return []
        best = np.argpartition(sims, len(sims) - n)[len(sims) - n :]
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(int(self.ids[i]), float(sims[i])) for i in best]


class SqliteVectorCache:
    """One encoder's vectors in one table of a SQLite database, refreshed from the table before
    each use."""

    def __init__(self, target: VectorTarget) -> None:
        self._dim = target.dim
        table, encoder = target.table, int(target.encoder_id)
        # the table name is one of two constants and the id an integer: no input reaches SQL
        self._signature = text(
            f"SELECT (SELECT seq FROM sqlite_sequence WHERE name = '{table}'),"
            f" (SELECT count(*) FROM {table})"
        )
        self._count_after = text(f"SELECT count(*) FROM {table} WHERE id > :after")
        self._rows_after = text(
            f"SELECT id, document_id, embedding FROM {table}"
            f" WHERE id > :after AND encoder_id = {encoder} ORDER BY id"
        )
        self._all_ids = text(f"SELECT id FROM {table} WHERE encoder_id = {encoder}")
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._seq = 0
        self._total = 0  # the table's count(*) when last seen (every encoder's rows)
        self._n = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._doc_codes = np.zeros(0, dtype=np.int32)
        self._vectors = np.zeros((0, self._dim), dtype=np.float32)
        self._has_vector = np.zeros(0, dtype=np.bool_)
        self._doc_code: dict[str, int] = {}

    def snapshot(self, session: Session) -> VectorSnapshot:
        """The rows as the table holds them now (new rows appended, deleted rows dropped)."""
        with self._lock:
            seq, total = session.execute(self._signature).one()
            seq, total = int(seq or 0), int(total)
            if seq < self._seq:
                self._reset()  # the table was emptied and recreated
            if seq != self._seq or total != self._total:
                added = 0
                if seq != self._seq:
                    added = int(
                        session.execute(self._count_after, {"after": self._seq}).scalar_one()
                    )
                self._append(session)
                if total != self._total + added:
                    self._drop_deleted(session)
                self._seq = max(self._seq, seq)
                self._total = total
            n = self._n
            return VectorSnapshot(
                ids=self._ids[:n],
                doc_codes=self._doc_codes[:n],
                vectors=self._vectors[:n],
                has_vector=self._has_vector[:n],
                doc_code=dict(self._doc_code),
            )

    def _append(self, session: Session) -> None:
        # Read in batches so the first load of a large table never holds every row twice.
        result = session.execute(self._rows_after, {"after": self._seq})
        for rows in result.partitions(_BATCH):
            self._append_rows(rows)

    def _append_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        m = len(rows)
        self._grow(self._n + m)
        lo, hi = self._n, self._n + m
        self._ids[lo:hi] = [row[0] for row in rows]
        self._doc_codes[lo:hi] = [
            self._doc_code.setdefault(row[1], len(self._doc_code)) for row in rows
        ]
        present = np.array([row[2] is not None for row in rows], dtype=np.bool_)
        block = np.zeros((m, self._dim), dtype=np.float32)
        if present.any():
            raw = b"".join(row[2] for row in rows if row[2] is not None)
            block[present] = np.frombuffer(raw, dtype="<f4").reshape(-1, self._dim)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            block = np.divide(block, norms, out=np.zeros_like(block), where=norms > 0)
        self._vectors[lo:hi] = block
        self._has_vector[lo:hi] = present
        self._n = hi
        self._seq = max(self._seq, int(rows[-1][0]))

    def _grow(self, need: int) -> None:
        # Rows already handed out in snapshots are never rewritten: growing copies to new arrays.
        if need <= len(self._ids):
            return
        cap = max(need, len(self._ids) * 5 // 4, 1024)
        ids = np.zeros(cap, dtype=np.int64)
        doc_codes = np.zeros(cap, dtype=np.int32)
        vectors = np.zeros((cap, self._dim), dtype=np.float32)
        has_vector = np.zeros(cap, dtype=np.bool_)
        n = self._n
        ids[:n], doc_codes[:n] = self._ids[:n], self._doc_codes[:n]
        vectors[:n], has_vector[:n] = self._vectors[:n], self._has_vector[:n]
        self._ids, self._doc_codes, self._vectors, self._has_vector = (
            ids,
            doc_codes,
            vectors,
            has_vector,
        )

    def _drop_deleted(self, session: Session) -> None:
        present = np.fromiter((row[0] for row in session.execute(self._all_ids)), dtype=np.int64)
        n = self._n
        keep = np.isin(self._ids[:n], present)
        # New arrays (not compaction in place) so earlier snapshots stay intact.
        self._ids = self._ids[:n][keep].copy()
        self._doc_codes = self._doc_codes[:n][keep].copy()
        self._vectors = self._vectors[:n][keep].copy()
        self._has_vector = self._has_vector[:n][keep].copy()
        self._n = len(self._ids)


_caches: weakref.WeakKeyDictionary[Engine, dict[VectorTarget, SqliteVectorCache]] = (
    weakref.WeakKeyDictionary()
)
_caches_lock = threading.Lock()


def vector_cache(engine: Engine, target: VectorTarget) -> SqliteVectorCache:
    """The cache of ``target``'s vectors in ``engine``'s database, made on first use."""
    with _caches_lock:
        caches = _caches.setdefault(engine, {})
        cache = caches.get(target)
        if cache is None:
            cache = caches[target] = SqliteVectorCache(target)
        return cache
