"""Documents written straight into the database, for tests that need one stored before they
start: the row (queued, as an upload leaves it), and its pages and chunks when given."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from storage import repository as repo
from storage.tables import Document


def stored_document(
    session: Session,
    *,
    tenant: str = "default",
    sha256: str | None = None,
    filename: str = "doc.pdf",
    media_type: str = "application/pdf",
    size_bytes: int = 1,
    blob_key: str | None = None,
    meta: dict[str, Any] | None = None,
    pages: Sequence[repo.PageRow] = (),
    chunks: Sequence[repo.ChunkRow] = (),
    embeddings: np.ndarray | None = None,
    encoder_id: int | None = None,
) -> Document:
    """A document row in ``session`` (``sha256`` None: a new random one; ``blob_key`` None: the
    sha256), holding ``pages`` and ``chunks`` (embedded as ``embeddings`` by ``encoder_id``)
    when given; no file is stored."""
    sha = sha256 or uuid.uuid4().hex * 2
    document, _ = repo.get_or_create_document(
        session,
        tenant=tenant,
        sha256=sha,
        filename=filename,
        media_type=media_type,
        size_bytes=size_bytes,
        blob_key=blob_key or sha,
        meta=meta,
    )
    if pages or chunks:
        repo.replace_document_content(
            session,
            document_id=document.id,
            pages=pages,
            chunks=chunks,
            embeddings=embeddings,
            encoder_id=encoder_id,
        )
    return document
