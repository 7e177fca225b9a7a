"""Reindexing stored documents (``scanrag reindex``): lay out again the pages the layout model
has not seen and read the cells of tables read before the table model, from the stored page
images (workers/relayout.py), then rebuild their chunks and vectors (no OCR). When the
configured text or image model is not the one the index was built with, every document is
embedded again with it, and the old model's vector indexes are dropped once none holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from core.errors import ScanragError
from core.status import DocumentStatus
from storage import encoders
from storage import repository as repo
from storage.errors import IndexMismatch
from workers import documents
from workers.relayout import relayout_document
from workers.runtime import Runtime


class ReindexProgress(Protocol):
    """Told how many documents a run reindexes, then after each (cli.progress.DocumentBar)."""

    def add_total(self, documents: int) -> None: ...

    def document_done(self, document_id: str) -> None: ...


class NoReindexProgress:
    """A ReindexProgress that reports nothing."""

    def add_total(self, documents: int) -> None:
        return None

    def document_done(self, document_id: str) -> None:
        return None


@dataclass(frozen=True)
class ReindexOutcome:
    """What a run did: documents reindexed, chunks written, pages laid out again, pages whose
    tables were read, pages that need a re-read (no stored image); whether it embedded every
    document with a newly configured model, and why, if so, some still hold the old one's
    vectors (documents that are not done)."""

    documents: int
    chunks: int
    relaid: int
    tables_read: int
    need_reread: int
    switched: bool
    left: str | None


def configured_targets(runtime: Runtime, session: Session, *, check: bool) -> set[int]:
    """The encoder ids of the configured text and image models (registered on first use);
    with ``check``, IndexMismatch when the index holds another model's vectors."""
    targets = {documents.registered(session, runtime.embedder.identity, check=check).encoder_id}
    image = runtime.image_encoder
    if image is not None:
        targets.add(documents.registered(session, image.identity, check=check).encoder_id)
    return targets


def pending_switch(runtime: Runtime) -> str | None:
    """Why every document must be embedded again (the index holds another model's vectors
    than a configured one's), or None."""
    with runtime.writing(), runtime.sessions.begin() as session:
        try:
            configured_targets(runtime, session, check=True)
        except IndexMismatch as exc:
            return exc.message
    return None


def reindex(
    runtime: Runtime,
    document_ids: list[str] | None = None,
    *,
    relayout: bool = True,
    progress: ReindexProgress | None = None,
) -> ReindexOutcome:
    """Rebuild the chunks and vectors of ``document_ids`` (default: every done document) from
    their stored pages, laying them out again first with ``relayout``. After a change of model
    every document is embedded (a subset is refused: ScanragError), failed ones holding
    vectors too."""
    progress = progress or NoReindexProgress()
    switch = pending_switch(runtime)
    if switch is not None and document_ids:
        raise ScanragError(
            "the configured model is not the index's: run `scanrag reindex` without"
            " --document, so every document is embedded with it"
        )
    with runtime.sessions() as session:
        ids = document_ids or [
            d.id for d in repo.list_documents(session, status=DocumentStatus.DONE, limit=1_000_000)
        ]
        if switch is not None:
            # a document that is not done but holds vectors (failed after it was indexed)
            # must lose the old model's too
            done = set(ids)
            ids += sorted(repo.documents_with_vectors(session) - done)
    models = runtime.ocr.models() if relayout else None
    finder = None if models is None else models.regions
    tables = None if models is None else models.tables
    chunks = relaid = tables_read = reread = 0
    progress.add_total(len(ids))
    for document_id in ids:
        if finder is not None or tables is not None:
            outcome = relayout_document(
                runtime.sessions,
                runtime.blobs,
                document_id=document_id,
                finder=finder,
                tables=tables,
            )
            relaid += outcome.relaid
            tables_read += outcome.tables_read
            reread += outcome.need_reread
        count, _ = documents.index(runtime, document_id, switching=switch is not None)
        chunks += count
        progress.document_done(document_id)
    left = pending_switch(runtime) if switch is not None else None
    if switch is not None and left is None:
        with runtime.sessions.begin() as session:
            # the old model's HNSW index serves nothing now (PostgreSQL)
            keep = configured_targets(runtime, session, check=False)
            encoders.drop_unused_indexes(session, keep)
    return ReindexOutcome(
        documents=len(ids),
        chunks=chunks,
        relaid=relaid,
        tables_read=tables_read,
        need_reread=reread,
        switched=switch is not None,
        left=left,
    )
