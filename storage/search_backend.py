"""What a search backend does (``SearchBackend``) and what its legs share: the filters and the
ranked list each leg returns.

One backend per database: ``storage.search_postgres`` and ``storage.search_sqlite``;
``storage.search`` picks one by the session's dialect and fuses the legs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.encoders import VectorTarget
from storage.tables import Chunk, Document

Ranked = list[tuple[int, float]]  # (row id, leg score), best first
Vector = npt.NDArray[np.float32]  # a query embedding, as wide as its target's encoder


@dataclass(frozen=True)
class Filters:
    """Which chunks a search may return: of these documents, of this tenant, with these
    metadata key == value pairs (None or empty: no restriction)."""

    document_ids: tuple[str, ...] | None
    metadata: tuple[tuple[str, str], ...]
    tenant: str | None

    @classmethod
    def of(
        cls,
        document_ids: Iterable[str] | None,
        metadata: dict[str, str] | None,
        tenant: str | None,
    ) -> Filters:
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

    def chunk_conditions(
        self, document_id: InstrumentedAttribute[str] = Chunk.document_id
    ) -> list[ColumnElement[bool]]:
        """Conditions on rows whose document is ``document_id`` (a chunk's by default)."""
        conditions: list[ColumnElement[bool]] = []
        if self.document_ids is not None:
            conditions.append(document_id.in_(self.document_ids))
        document_conditions = self.document_conditions()
        if document_conditions:
            conditions.append(document_id.in_(select(Document.id).where(*document_conditions)))
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


class SearchBackend(Protocol):
    """The two kinds of leg of the search on one database, each the top ``n`` row ids under
    ``filters`` with higher-is-better scores, and what to load before the first search."""

    def dense(
        self, session: Session, target: VectorTarget, vector: Vector, n: int, filters: Filters
    ) -> Ranked:
        """``target``'s rows by cosine similarity (the score) to ``vector``."""
        ...

    def lexical(self, session: Session, tokens: list[str], n: int, filters: Filters) -> Ranked:
        """By full-text relevance to any of ``tokens`` (non-empty, from ``query_tokens``)."""
        ...

    def warm_up(self, session: Session, targets: tuple[VectorTarget, ...] = ()) -> None:
        """Load now what the first search of ``targets`` would load."""
        ...
