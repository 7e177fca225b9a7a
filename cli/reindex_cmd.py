"""``scanrag reindex``: lay out and chunk stored pages again, and embed them (no OCR)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from tqdm import tqdm

from cli.errors import EXIT_OK, exit_on_error
from core.config import get_settings
from core.status import DocumentStatus
from storage import repository as repo
from workers import documents
from workers.relayout import relayout_document
from workers.runtime import Runtime


def reindex(
    document: Annotated[
        list[str] | None, typer.Option("--document", help="only this document id (repeat)")
    ] = None,
    relayout: Annotated[
        bool,
        typer.Option(
            "--relayout/--no-relayout",
            help="lay out again, from the stored page images, pages the layout model has not seen",
        ),
    ] = True,
) -> None:
    """Rebuild the chunks and embeddings of done documents from their stored pages (no OCR).

    Pages read before the layout model get their blocks, kinds and reading order rebuilt from
    the stored page image first; a page without one is counted as needing a re-read.
    """
    settings = get_settings()
    with exit_on_error():
        rt = Runtime.build(settings)
        with rt.sessions() as session:
            ids = document or [
                d.id
                for d in repo.list_documents(session, status=DocumentStatus.DONE, limit=1_000_000)
            ]
        finder = rt.ocr.models().regions if relayout else None
        chunks = relaid = reread = 0
        for document_id in tqdm(ids, unit="doc", disable=not sys.stderr.isatty()):
            if finder is not None:
                outcome = relayout_document(
                    rt.sessions, rt.blobs, document_id=document_id, finder=finder
                )
                relaid += outcome.relaid
                reread += outcome.need_reread
            count, _ = documents.index(rt, document_id)
            chunks += count
        rt.close()
    print(f"reindexed {len(ids)} documents: {chunks} chunks; {relaid} pages laid out again")
    if reread:
        print(
            f"scanrag: {reread} pages have no stored page image and keep their old layout:"
            " delete their documents and ingest the files again to re-read them",
            file=sys.stderr,
        )
    raise typer.Exit(EXIT_OK)
