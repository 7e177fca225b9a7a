"""``scanrag reindex``: lay out and chunk stored pages again (reading the cells of tables read
before the table model), and embed them (no OCR); after a change of the text or image model,
embed every document with the configured one."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import EXIT_OK, error_line, exit_on_error
from core.errors import ScanragError

if TYPE_CHECKING:  # the database and the models are imported when the command runs
    from sqlalchemy.orm import Session

    from workers.runtime import Runtime


def configured_targets(runtime: Runtime, session: Session, *, check: bool) -> set[int]:
    """The encoder ids of the configured text and image models (registered on first use);
    with ``check``, IndexMismatch when the index holds another model's vectors."""
    from workers import documents

    targets = {documents.registered(session, runtime.embedder.identity, check=check).encoder_id}
    image = runtime.image_encoder
    if image is not None:
        targets.add(documents.registered(session, image.identity, check=check).encoder_id)
    return targets


def pending_switch(runtime: Runtime) -> str | None:
    """Why every document must be embedded again (the index holds another model's vectors
    than a configured one's), or None."""
    from storage.errors import IndexMismatch

    with runtime.writing(), runtime.sessions.begin() as session:
        try:
            configured_targets(runtime, session, check=True)
        except IndexMismatch as exc:
            return exc.message
    return None


def reindex(
    document: Annotated[
        list[str] | None,
        typer.Option("--document", metavar="ID", help="only this document id (repeat)"),
    ] = None,
    relayout: Annotated[
        bool,
        typer.Option(
            "--relayout/--no-relayout",
            help="lay out again, from the stored page images, pages the layout model has not"
            " seen, and read the cells of tables read before the table model",
        ),
    ] = True,
) -> None:
    """Rebuild the chunks and vectors of documents from their stored pages (no OCR).

    Pages read before the layout model get their blocks, kinds and reading order rebuilt from
    the stored page image first, and tables read before the table model get their cells from
    it (then their chunks name the cells); a page without one is counted as needing a
    re-read. When the configured text or image model is not the one the index was built with,
    every document is embedded again with it (the others' vectors are replaced, never mixed
    in a search).
    """
    from tqdm import tqdm

    from core.config import get_settings
    from core.status import DocumentStatus
    from storage import encoders
    from storage import repository as repo
    from workers import documents
    from workers.relayout import relayout_document
    from workers.runtime import Runtime

    settings = get_settings()
    with exit_on_error():
        runtime = Runtime.build(settings)
        switch = pending_switch(runtime)
        if switch is not None and document:
            raise ScanragError(
                "the configured model is not the index's: run `scanrag reindex` without"
                " --document, so every document is embedded with it"
            )
        with runtime.sessions() as session:
            ids = document or [
                d.id
                for d in repo.list_documents(session, status=DocumentStatus.DONE, limit=1_000_000)
            ]
            if switch is not None and not document:
                # a document that is not done but holds vectors (failed after it was indexed)
                # must lose the old model's too
                done = set(ids)
                ids += sorted(repo.documents_with_vectors(session) - done)
        models = runtime.ocr.models() if relayout else None
        finder = None if models is None else models.regions
        tables = None if models is None else models.tables
        chunks = relaid = tables_read = reread = 0
        for document_id in tqdm(ids, unit="doc", disable=not sys.stderr.isatty()):
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
        left = pending_switch(runtime) if switch is not None else None
        if switch is not None and left is None:
            with runtime.sessions.begin() as session:
                # the old model's HNSW index serves nothing now (PostgreSQL)
                keep = configured_targets(runtime, session, check=False)
                encoders.drop_unused_indexes(session, keep)
        runtime.close()
    read = f"; tables read on {tables_read} pages" if tables_read else ""
    print(f"reindexed {len(ids)} documents: {chunks} chunks; {relaid} pages laid out again{read}")
    if switch is not None and left is None:
        print("the index now holds the configured models' vectors only")
    if left is not None:
        # a document not done (failed, or still being read) keeps the old model's vectors
        error_line(ScanragError(f"{left}; documents that are not done still hold them"))
    if reread:
        print(
            f"scanrag: {reread} pages have no stored page image and keep their old layout:"
            " delete their documents and ingest the files again to re-read them",
            file=sys.stderr,
        )
    raise typer.Exit(EXIT_OK)
