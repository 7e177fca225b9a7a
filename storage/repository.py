"""Reading and writing documents, pages and chunks: keyword-only functions taking a Session.

The caller owns the transaction: these functions flush but never commit, so several of them can
make one atomic change (``with session_factory(engine).begin() as session: ...``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Select, bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from core.status import FINAL, UNFINISHED, DocumentStatus, sources
from core.vocab import BBox, ChunkKind, RegionKind
from storage.db import backend, dialect_insert
from storage.errors import DocumentNotFound
from storage.tables import (
    Chunk,
    Document,
    ImageVector,
    Page,
    new_document_id,
    utcnow,
)


@dataclass(frozen=True)
class ChunkRow:
    """One chunk to store: where it is (page, boxes in page pixels), its order and text."""

    page_number: int
    ordinal: int
    text: str
    bbox: BBox
    line_boxes: tuple[BBox, ...] = ()
    kind: ChunkKind = "text"
    title: str | None = None  # the heading of the section it sits in
    cells: tuple[dict[str, Any], ...] | None = None  # a table chunk's cells, as JSON values
    table_index: int | None = None  # a table chunk's table, 0-based in the document


@dataclass(frozen=True)
class ImageVectorRow:
    """One image vector to store: a whole page (ordinal 0) or a figure region on it."""

    page_number: int
    ordinal: int
    region: RegionKind
    bbox: BBox
    text: str
    embedding: np.ndarray


@dataclass(frozen=True)
class PageRow:
    """One read page to store: its number, size, orientation, text, full layout and page image."""

    number: int
    width: int
    height: int
    text: str
    layout: dict[str, Any]  # the page as read (``PageResult.to_dict()``), kept whole
    dpi: int | None = None
    rotation: int = 0  # degrees (clockwise) the page was turned to make it upright
    image_key: str | None = None  # the stored page image's blob key


# Statements built once and run with parameters: building one per call (values, where clauses,
# their cache keys) cost more than running it. Keyed by dialect name and table.
_INSERT_IGNORING: dict[tuple[str, str], Any] = {}
_DOCUMENT_BY_HASH = select(Document).where(
    Document.tenant == bindparam("tenant"), Document.sha256 == bindparam("sha256")
)


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted."""
    dialect = backend(session.get_bind().engine)
    stmt = _INSERT_IGNORING.get((dialect, table.name))
    if stmt is None:
        built = dialect_insert(session, table)
        # RETURNING says whether a row was written (rowcount is -1 under psycopg 3).
        stmt = built.on_conflict_do_nothing().returning(*table.primary_key.columns)
        _INSERT_IGNORING[(dialect, table.name)] = stmt
    # Starting with the write matters on SQLite: it takes the write lock before reading, so a
    # concurrent insert of the same row is seen (no stale snapshot), and on PostgreSQL the
    # conflict check waits for the other transaction; neither side ever raises IntegrityError.
    # The columns inserted are the keys of ``values`` (the others get their defaults).
    return session.execute(stmt, values).first() is not None


class StoredDocument(NamedTuple):
    """A file's document as ``store_document`` left it."""

    document: Document
    created: bool  # this call made the row
    retried: bool  # the document had failed: this call queued it again (same id)

    @property
    def queued(self) -> bool:
        """Whether this call queued the document (new, or retried): its task is to be sent."""
        return self.created or self.retried


def store_document(
    session: Session,
    *,
    tenant: str,
    sha256: str,
    filename: str,
    media_type: str,
    size_bytes: int,
    blob_key: str,
    meta: dict[str, Any] | None = None,
    callback_url: str | None = None,
    queue: str | None = None,
) -> StoredDocument:
    """The tenant's document with this content hash, created (status "queued") if new, or
    queued again if it had failed (``retry_document``): the same file sent again is a new
    attempt. Concurrent calls for the same content return the same row, and at most one of
    them creates or retries it.
    """
    now = utcnow()
    created = insert_ignoring_conflict(
        session,
        Document.__table__,
        {
            "id": new_document_id(),
            "tenant": tenant,
            "sha256": sha256,
            "filename": filename,
            "media_type": media_type,
            "size_bytes": size_bytes,
            "pages_done": 0,
            "status": DocumentStatus.QUEUED,
            "metadata": meta or {},
            "blob_key": blob_key,
            "callback_url": callback_url,
            "queue": queue,
            "created_at": now,
            "updated_at": now,
        },
    )
    document = session.scalars(_DOCUMENT_BY_HASH, {"tenant": tenant, "sha256": sha256}).one()
    retried = False
    if not created and document.status == DocumentStatus.FAILED:
        retried = retry_document(session, document_id=document.id, queue=queue)
        if retried:
            session.refresh(document)
    return StoredDocument(document, created, retried)


def get_or_create_document(session: Session, **fields: Any) -> tuple[Document, bool]:
    """``store_document(session, **fields)``: the row and whether this call queued it (created
    it, or queued it again after it had failed), i.e. whether the caller sends its task."""
    stored = store_document(session, **fields)
    return stored.document, stored.queued


def retry_document(session: Session, *, document_id: str, queue: str | None = None) -> bool:
    """Queue a failed document again (a new attempt, the same id): its error and times are
    cleared, its queue set when given; the pages its failed attempt stored are kept (each is
    complete; the tasks read only the missing ones and replace the chunks). True when this
    call moved it (of concurrent retries, one does)."""
    values: dict[str, Any] = {
        "error_code": None,
        "error_message": None,
        "started_at": None,
        "finished_at": None,
    }
    if queue is not None:
        values["queue"] = queue
    return _move(session, document_id, DocumentStatus.QUEUED, values)


def get_document(
    session: Session, *, document_id: str, tenant: str | None = None
) -> Document | None:
    """The document with this id (in ``tenant`` when given), or None."""
    stmt = select(Document).where(Document.id == document_id)
    if tenant is not None:
        stmt = stmt.where(Document.tenant == tenant)
    return session.scalars(stmt).one_or_none()


def _document_filter(stmt: Select[Any], *, tenant: str | None, status: str | None) -> Select[Any]:
    if tenant is not None:
        stmt = stmt.where(Document.tenant == tenant)
    if status is not None:
        stmt = stmt.where(Document.status == status)
    return stmt


def list_documents(
    session: Session,
    *,
    tenant: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Document]:
    """Documents, newest first, optionally of one tenant and/or one status."""
    stmt = _document_filter(select(Document), tenant=tenant, status=status)
    stmt = stmt.order_by(Document.created_at.desc(), Document.id).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_documents(
    session: Session, *, tenant: str | None = None, status: str | None = None
) -> int:
    """How many documents ``list_documents`` would page through with the same filters."""
    stmt = _document_filter(select(func.count(Document.id)), tenant=tenant, status=status)
    return int(session.execute(stmt).scalar_one())


def _page_row(document_id: str, page: PageRow) -> dict[str, Any]:
    return {
        "document_id": document_id,
        "number": page.number,
        "width": page.width,
        "height": page.height,
        "dpi": page.dpi,
        "rotation": page.rotation,
        "text": page.text,
        "layout": page.layout,
        "image_key": page.image_key,
    }


def _lock_document(session: Session, document_id: str) -> None:
    # Locking the document row makes concurrent writers of one document take turns
    # (PostgreSQL; SQLite has a single writer anyway) instead of colliding on unique keys.
    locked = session.execute(
        select(Document.id).where(Document.id == document_id).with_for_update()
    ).scalar_one_or_none()
    if locked is None:
        raise DocumentNotFound()


def _touch(session: Session, document_id: str) -> None:
    session.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


def replace_pages(session: Session, *, document_id: str, pages: Sequence[PageRow]) -> None:
    """Store these pages of the document, replacing any stored pages with the same numbers.

    A worker storing its page range twice (a redelivered task) leaves one copy of each page.
    """
    _lock_document(session, document_id)
    numbers = [page.number for page in pages]
    if numbers:
        session.execute(
            delete(Page).where(Page.document_id == document_id, Page.number.in_(numbers))
        )
        session.execute(insert(Page), [_page_row(document_id, page) for page in pages])
    _touch(session, document_id)


def replace_chunks(
    session: Session,
    *,
    document_id: str,
    chunks: Sequence[ChunkRow],
    embeddings: np.ndarray | None,
    encoder_id: int | None = None,
) -> None:
    """Replace all of the document's chunks with these (delete, then insert).

    ``embeddings`` is one row per chunk (float32, the encoder's width) made by the encoder
    ``encoder_id`` (storage.encoders.register), or None.
    """
    if embeddings is not None and (embeddings.ndim != 2 or embeddings.shape[0] != len(chunks)):
        raise ValueError(f"embeddings have shape {embeddings.shape} for {len(chunks)} chunks")
    if embeddings is not None and encoder_id is None:
        raise ValueError("embeddings need the id of the encoder that made them")
    _lock_document(session, document_id)
    session.execute(delete(Chunk).where(Chunk.document_id == document_id))
    if chunks:
        vectors = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
        session.execute(
            insert(Chunk),
            [
                {
                    "document_id": document_id,
                    "page_number": row.page_number,
                    "ordinal": row.ordinal,
                    "text": row.text,
                    "bbox": [float(v) for v in row.bbox],
                    "line_boxes": [[float(v) for v in box] for box in row.line_boxes],
                    "kind": row.kind,
                    "title": row.title,
                    "cells": None if row.cells is None else list(row.cells),
                    "table_index": row.table_index,
                    "embedding": None if vectors is None else vectors[i],
                    "encoder_id": None if vectors is None else encoder_id,
                }
                for i, row in enumerate(chunks)
            ],
        )
    _touch(session, document_id)


def replace_image_vectors(
    session: Session, *, document_id: str, rows: Sequence[ImageVectorRow], encoder_id: int
) -> None:
    """Replace all of the document's image vectors with these, made by encoder ``encoder_id``."""
    _lock_document(session, document_id)
    session.execute(delete(ImageVector).where(ImageVector.document_id == document_id))
    if rows:
        session.execute(
            insert(ImageVector),
            [
                {
                    "document_id": document_id,
                    "page_number": row.page_number,
                    "ordinal": row.ordinal,
                    "region": row.region,
                    "bbox": [float(v) for v in row.bbox],
                    "text": row.text,
                    "embedding": np.asarray(row.embedding, dtype=np.float32),
                    "encoder_id": encoder_id,
                }
                for row in rows
            ],
        )


def documents_with_vectors(session: Session) -> set[str]:
    """The ids of the documents that hold any chunk vector or image vector."""
    chunks = select(Chunk.document_id).where(Chunk.encoder_id.is_not(None)).distinct()
    images = select(ImageVector.document_id).distinct()
    return set(session.scalars(chunks)) | set(session.scalars(images))


def image_vectors(session: Session, *, document_id: str) -> list[ImageVector]:
    """The document's image vectors, by page and ordinal."""
    stmt = (
        select(ImageVector)
        .where(ImageVector.document_id == document_id)
        .order_by(ImageVector.page_number, ImageVector.ordinal)
    )
    return list(session.scalars(stmt))


def replace_document_content(
    session: Session,
    *,
    document_id: str,
    pages: Sequence[PageRow],
    chunks: Sequence[ChunkRow],
    embeddings: np.ndarray | None,
    encoder_id: int | None = None,
) -> None:
    """Replace the document's pages and chunks with these (delete, then insert).

    ``embeddings`` is one row per chunk, made by encoder ``encoder_id``, or None. Running it
    again with the same input leaves the same rows, never duplicates.
    """
    _lock_document(session, document_id)
    session.execute(delete(Page).where(Page.document_id == document_id))
    replace_pages(session, document_id=document_id, pages=pages)
    replace_chunks(
        session,
        document_id=document_id,
        chunks=chunks,
        embeddings=embeddings,
        encoder_id=encoder_id,
    )


def stored_page_numbers(session: Session, *, document_id: str) -> set[int]:
    """The numbers of the document's stored pages."""
    return set(session.scalars(select(Page.number).where(Page.document_id == document_id)))


def _move(
    session: Session, document_id: str, status: DocumentStatus, values: dict[str, Any]
) -> bool:
    """Move the document to ``status`` (setting ``values`` too) if its lifecycle allows it from
    the status it is in (core.status.MOVES); True when this call moved it."""
    moved = session.execute(
        update(Document)
        .where(Document.id == document_id, Document.status.in_(sources(status)))
        .values(status=status, updated_at=utcnow(), **values)
        .returning(Document.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    return moved is not None


def mark_started(
    session: Session, *, document_id: str, page_count: int | None, queue: str | None = None
) -> bool:
    """Record that the document is being read: its start time, and its page count and queue
    where given (the first start is kept when a task runs again; a failed document taken up
    again starts afresh). False when it cannot be (done, or gone)."""
    now = utcnow()
    again = Document.status == DocumentStatus.FAILED
    values: dict[str, Any] = {
        "started_at": case((again, now), else_=func.coalesce(Document.started_at, now)),
        "finished_at": None,
        "error_code": None,
        "error_message": None,
    }
    if page_count is not None:
        values["page_count"] = page_count
    if queue is not None:
        values["queue"] = queue
    return _move(session, document_id, DocumentStatus.PROCESSING, values)


def finish(
    session: Session,
    *,
    document_id: str,
    status: DocumentStatus,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """Move the document to ``done`` (from processing) or ``failed`` (from queued or
    processing), with its finish time, unless it is already final.

    Returns True when this call made the change, so exactly one of several concurrent
    finishers sends the webhook.
    """
    if status not in FINAL:
        raise ValueError(f"not a final status: {status!r}")
    values: dict[str, Any] = {
        "error_code": error_code,
        "error_message": error_message,
        "finished_at": utcnow(),
    }
    if status == DocumentStatus.DONE:
        values["pages_done"] = Document.page_count
    return _move(session, document_id, status, values)


def update_pages_done(session: Session, *, document_id: str) -> int:
    """Set the document's ``pages_done`` to the count of its stored pages; returns it."""
    done = int(
        session.execute(
            select(func.count(Page.id)).where(Page.document_id == document_id)
        ).scalar_one()
    )
    session.execute(
        update(Document)
        .where(Document.id == document_id, Document.status == DocumentStatus.PROCESSING)
        .values(pages_done=done, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return done


def unfinished_documents(session: Session, *, limit: int = 10_000) -> list[tuple[str, str]]:
    """(id, queue) of documents queued or processing, oldest first."""
    stmt = (
        select(Document.id, Document.queue)
        .where(Document.status.in_(UNFINISHED))
        .order_by(Document.created_at)
        .limit(limit)
    )
    return [(row.id, row.queue or "") for row in session.execute(stmt)]


def document_pages(session: Session, *, document_id: str) -> list[Page]:
    """The document's pages in page order."""
    stmt = select(Page).where(Page.document_id == document_id).order_by(Page.number)
    return list(session.scalars(stmt))


def page_layouts(session: Session, *, document_id: str) -> Iterator[dict[str, Any]]:
    """The stored layout (the page as read) of each of the document's pages, in page order,
    fetched a few rows at a time: a long document's pages are never all in memory at once."""
    stmt = (
        select(Page.layout)
        .where(Page.document_id == document_id)
        .order_by(Page.number)
        .execution_options(yield_per=8)
    )
    yield from session.scalars(stmt)


def page_images(
    session: Session, *, document_id: str
) -> Iterator[tuple[int, str | None, str, dict[str, Any]]]:
    """(number, page image key, text, layout) of each of the document's pages, in page order,
    a few rows at a time."""
    stmt = (
        select(Page.number, Page.image_key, Page.text, Page.layout)
        .where(Page.document_id == document_id)
        .order_by(Page.number)
        .execution_options(yield_per=8)
    )
    for row in session.execute(stmt):
        yield row.number, row.image_key, row.text, row.layout


def get_page(session: Session, *, document_id: str, number: int) -> Page | None:
    """Page ``number`` (1-based) of the document, or None."""
    stmt = select(Page).where(Page.document_id == document_id, Page.number == number)
    return session.scalars(stmt).one_or_none()


def document_chunks(session: Session, *, document_id: str) -> list[Chunk]:
    """The document's chunks in reading order."""
    stmt = select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)
    return list(session.scalars(stmt))


def delete_document(session: Session, *, document_id: str) -> list[str]:
    """Delete the document, its pages and chunks; return the blob keys nothing uses any more.

    Blobs are content-addressed, so another document (another tenant's copy of the same file,
    or an identical page image) may share one: those keys are kept. Deleting a missing
    document returns ``[]``.
    """
    blob_key = session.scalar(select(Document.blob_key).where(Document.id == document_id))
    if blob_key is None:
        return []
    keys = {blob_key}
    keys.update(
        key
        for key in session.scalars(
            select(Page.image_key).where(
                Page.document_id == document_id, Page.image_key.is_not(None)
            )
        )
        if key is not None
    )
    session.execute(delete(Document).where(Document.id == document_id))
    return unused_blob_keys(session, keys)


def unused_blob_keys(session: Session, keys: set[str]) -> list[str]:
    """Those of ``keys`` that no document (original) or page (image) refers to."""
    still_used = set(session.scalars(select(Document.blob_key).where(Document.blob_key.in_(keys))))
    still_used.update(
        key
        for key in session.scalars(select(Page.image_key).where(Page.image_key.in_(keys)))
        if key is not None
    )
    return sorted(keys - still_used)
