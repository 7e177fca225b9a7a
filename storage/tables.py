"""The database tables: documents, their pages, chunks and image vectors, and the encoders whose
vectors the index holds.

The schema itself is created by the Alembic migrations in ``storage/migrations``; these classes
are how Python code reads and writes it. Two things exist only in the migrations because they
are backend-specific: the PostgreSQL ``chunks.text_tsv`` generated column with its GIN index, the
HNSW indexes (one per encoder, made when the encoder is registered: ``storage.encoders``), and
the SQLite ``chunks_fts`` FTS5 table with its sync triggers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from core.status import BatchStatus, DocumentStatus

# the width of the built-in text encoder's vectors (all-MiniLM-L6-v2); a configured encoder's
# own width is recorded in ``encoders``
EMBEDDING_DIM = 384

Vector32 = npt.NDArray[np.float32]

# Integer primary keys: BIGINT on PostgreSQL, but INTEGER on SQLite so the column is the rowid
# (which the FTS5 table points at).
RowId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_document_id() -> str:
    """A fresh document id: a uuid4 as 32 hex characters."""
    return uuid.uuid4().hex


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Embedding(TypeDecorator[Vector32]):
    """A float32 vector of any length: pgvector ``vector`` on PostgreSQL (its length is the
    encoder's, checked where rows are written), a little-endian float32 BLOB on SQLite."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Vector())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"an embedding is one non-empty row, not shape {arr.shape}")
        if dialect.name == "postgresql":
            return arr
        return arr.astype("<f4", copy=False).tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> Vector32 | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return np.asarray(value, dtype=np.float32)
        return np.frombuffer(value, dtype="<f4").astype(np.float32)


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations can refer to them."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Document(Base):
    """One uploaded file and where its processing stands."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("tenant", "sha256"),
        CheckConstraint(
            "status IN ('queued', 'processing', 'done', 'failed')", name="status_known"
        ),
        Index("ix_documents_tenant_created_at", "tenant", "created_at"),
        Index("ix_documents_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_document_id)
    tenant: Mapped[str] = mapped_column(String(64), default="default")
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(512))
    media_type: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int | None] = mapped_column(Integer)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.QUEUED.value)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDoc, default=dict)
    blob_key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    queue: Mapped[str | None] = mapped_column(String(32))  # the worker queue it was sent to
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Page(Base):
    """One page of a document: its size, text, and layout (the ``PageResult.to_dict()`` shape)."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dpi: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    layout: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    image_key: Mapped[str | None] = mapped_column(String(80))


class Chunk(Base):
    """A retrievable piece of a page: its text, boxes and embedding."""

    __tablename__ = "chunks"
    # The unique (document_id, ordinal) index also serves lookups and cascades by document_id.
    # AUTOINCREMENT on SQLite: ids are never reused, which the in-memory vector cache relies on.
    __table_args__ = (
        UniqueConstraint("document_id", "ordinal"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_number: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    bbox: Mapped[list[float]] = mapped_column(JSON)
    line_boxes: Mapped[list[list[float]]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(16), default="text", server_default="text")
    title: Mapped[str | None] = mapped_column(Text)  # the heading of the chunk's section
    # a table chunk's cells ({"row", "col", "row_span", "col_span", "bbox", "text", "header"})
    # and its table's 0-based index in the document; SQL NULL for other chunks
    cells: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    table_index: Mapped[int | None] = mapped_column(Integer)
    embedding: Mapped[Vector32 | None] = mapped_column(Embedding())
    # the encoder that made the embedding (None without one): vectors of two models never mix
    encoder_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ImageVector(Base):
    """The image encoder's vector of a page image (ordinal 0) or of a figure region on it."""

    __tablename__ = "image_vectors"
    __table_args__ = (
        UniqueConstraint("document_id", "page_number", "ordinal"),
        {"sqlite_autoincrement": True},  # ids never reused: the SQLite vector cache relies on it
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_number: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)  # 0: the whole page; 1, 2...: its figures
    region: Mapped[str] = mapped_column(String(16))  # page or figure
    bbox: Mapped[list[float]] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text, default="")  # the words on or around the region
    embedding: Mapped[Vector32] = mapped_column(Embedding())
    encoder_id: Mapped[int] = mapped_column(Integer, index=True)


class Encoder(Base):
    """A model whose vectors the index holds, by name and the sha256 of its weights."""

    __tablename__ = "encoders"
    __table_args__ = (
        UniqueConstraint("kind", "name", "sha256", "dim"),
        CheckConstraint("kind IN ('text', 'image')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Tenant(Base):
    """A tenant of the service: the owner of documents, and its webhook signing secret."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    """An API key of a tenant, stored as the SHA-256 of the key (the key itself is never kept)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_document_id)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IdempotentRequest(Base):
    """The response once given to a request with an ``Idempotency-Key``, replayed on repeats."""

    __tablename__ = "idempotent_requests"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    status_code: Mapped[int] = mapped_column(Integer)  # 0 while the first request is answered
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # what the first request asked
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Batch(Base):
    """A batch ingestion: a folder under the import root, or a set of uploaded files."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_document_id)
    tenant: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)  # the folder, or "upload"
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.LISTING.value)
    files_total: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BatchItem(Base):
    """One file of a batch: its path and the document it became (None: refused before that)."""

    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "path"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    document_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)


class TaskDelivery(Base):
    """How many times one task message was delivered to a worker (the poison-message guard)."""

    __tablename__ = "task_deliveries"

    task_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    document_id: Mapped[str | None] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One attempt to POST a document's outcome to its ``callback_url``."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceState(Base):
    """Small facts the workers share, by name (e.g. the broker run id last seen)."""

    __tablename__ = "service_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
