"""``scanrag reindex``: chunk and embed stored pages again (after a chunk setting changed)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from tqdm import tqdm

from cli.errors import EXIT_OK, exit_on_error
from core.config import get_settings
from storage import repository as repo
from storage.db import session_factory
from workers.context import chunk_params, load_embedder, open_database
from workers.ingest import reindex_document


def reindex(
    document: Annotated[
        list[str] | None, typer.Option("--document", help="only this document id (repeat)")
    ] = None,
) -> None:
    """Rebuild the chunks and embeddings of done documents from their stored pages (no OCR)."""
    settings = get_settings()
    with exit_on_error():
        engine = open_database(settings)
        sessions = session_factory(engine)
        with sessions() as session:
            ids = document or [
                d.id for d in repo.list_documents(session, status="done", limit=1_000_000)
            ]
        embedder = load_embedder(settings)
        params = chunk_params(settings)
        chunks = 0
        for document_id in tqdm(ids, unit="doc", disable=not sys.stderr.isatty()):
            count, _ = reindex_document(
                sessions, document_id=document_id, params=params, embedder=embedder
            )
            chunks += count
        engine.dispose()
    print(f"reindexed {len(ids)} documents: {chunks} chunks")
    raise typer.Exit(EXIT_OK)
