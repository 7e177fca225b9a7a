"""The encoders whose vectors the index holds, and the rule that keeps them apart.

Every vector row (``chunks.embedding``, ``image_vectors.embedding``) names the encoder that made
it (``encoder_id``: a row of ``encoders`` with the model's name, the sha256 of its weights and
its dimension). Searches read only the vectors of the configured encoder, and a table that holds
vectors of another encoder of the same kind is refused (``IndexMismatch``) with the
``scanrag reindex`` to run, so an index never answers with two models' vectors at once.

On PostgreSQL the vector column has no fixed length; each encoder gets its own HNSW index over
``embedding::vector(dim)`` limited to its rows (pgvector's way to keep several models in one
column), made when the encoder is first registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.vocab import EncoderKind
from storage.errors import IndexMismatch
from storage.repository import insert_ignoring_conflict
from storage.tables import Encoder, utcnow

VectorTable = Literal["chunks", "image_vectors"]
TABLE_OF: dict[EncoderKind, VectorTable] = {"text": "chunks", "image": "image_vectors"}


@dataclass(frozen=True)
class VectorTarget:
    """Which vectors a dense search reads: those of one encoder in one table."""

    table: VectorTable
    encoder_id: int
    dim: int


def hnsw_index_name(table: VectorTable, encoder_id: int) -> str:
    """The name of the PostgreSQL HNSW index over one encoder's vectors in ``table``."""
    return f"ix_{table}_embedding_hnsw_e{encoder_id}"


def register(
    session: Session, *, kind: EncoderKind, name: str, sha256: str, dim: int
) -> VectorTarget:
    """The encoder's row (made on first use, with its HNSW index on PostgreSQL) as the target
    its vectors are stored and searched under."""
    query = select(Encoder.id).where(
        Encoder.kind == kind, Encoder.name == name, Encoder.sha256 == sha256, Encoder.dim == dim
    )
    encoder_id = session.scalar(query)
    table = TABLE_OF[kind]
    if encoder_id is None:
        # written once, by the first ingest or search with this model; later calls only read
        insert_ignoring_conflict(
            session,
            Encoder.__table__,
            {"kind": kind, "name": name, "sha256": sha256, "dim": dim, "created_at": utcnow()},
        )
        encoder_id = session.scalars(query).one()
        if session.get_bind().dialect.name == "postgresql":
            # ids and dims are integers from this table: nothing here comes from a request
            session.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(table, encoder_id)} ON {table}"
                    f" USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops)"
                    " WITH (m = 16, ef_construction = 64)"
                    f" WHERE encoder_id = {int(encoder_id)}"
                )
            )
    return VectorTarget(table, int(encoder_id), dim)


def other_encoder(session: Session, target: VectorTarget) -> Encoder | None:
    """An encoder other than the target's whose vectors ``target.table`` still holds."""
    for condition in ("encoder_id < :id", "encoder_id > :id"):  # two index range scans
        found = session.scalar(
            text(f"SELECT encoder_id FROM {target.table} WHERE {condition} LIMIT 1"),
            {"id": target.encoder_id},
        )
        if found is not None:
            return session.get(Encoder, int(found))
    return None


def check_only(session: Session, target: VectorTarget, *, what: str, configured: str) -> None:
    """Raise IndexMismatch when ``target.table`` holds vectors of another encoder than the
    configured one (``what``: the setting's role, ``configured``: the model's description)."""
    other = other_encoder(session, target)
    if other is None:
        return
    held = f"{other.name!r} (sha256 {other.sha256[:12]}…, {other.dim} dims)"
    raise IndexMismatch(
        f"the index holds vectors of the {what} {held}, but the configured {what} is "
        f"{configured}: run `scanrag reindex` to embed every document again with it "
        f"(or configure {other.name!r} again)"
    )


def drop_unused_indexes(session: Session, keep: set[int]) -> list[str]:
    """Drop the PostgreSQL HNSW indexes of encoders that no vector names any more (after a
    reindex moved the index to another model), but those of the encoders in ``keep`` (the
    configured ones, whose index must be there for their first vectors); returns the names
    dropped."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    dropped = []
    for encoder in session.scalars(select(Encoder).where(Encoder.id.not_in(keep))):
        table = TABLE_OF[encoder.kind]  # type: ignore[index]
        held = session.scalar(
            text(f"SELECT 1 FROM {table} WHERE encoder_id = :id LIMIT 1"), {"id": encoder.id}
        )
        if held is None:
            name = hnsw_index_name(table, encoder.id)
            session.execute(text(f"DROP INDEX IF EXISTS {name}"))
            dropped.append(name)
    return dropped
