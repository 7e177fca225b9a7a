"""``scanrag reindex``: lay out and chunk stored pages again (reading the cells of tables read
before the table model), and embed them (no OCR); after a change of the text or image model,
embed every document with the configured one."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.errors import EXIT_OK, error_line, exit_on_error
from core.errors import ScanragError


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
    from cli.progress import DocumentBar
    from core.config import get_settings
    from workers.reindex import reindex as reindex_documents
    from workers.runtime import Runtime

    settings = get_settings()
    with exit_on_error(), DocumentBar(enabled=sys.stderr.isatty()) as bar:
        runtime = Runtime.build(settings)
        outcome = reindex_documents(runtime, document, relayout=relayout, progress=bar)
        runtime.close()
    read = f"; tables read on {outcome.tables_read} pages" if outcome.tables_read else ""
    print(
        f"reindexed {outcome.documents} documents: {outcome.chunks} chunks;"
        f" {outcome.relaid} pages laid out again{read}"
    )
    if outcome.switched and outcome.left is None:
        print("the index now holds the configured models' vectors only")
    if outcome.left is not None:
        # a document not done (failed, or still being read) keeps the old model's vectors
        error_line(ScanragError(f"{outcome.left}; documents that are not done still hold them"))
    if outcome.need_reread:
        print(
            f"scanrag: {outcome.need_reread} pages have no stored page image and keep their old"
            " layout: delete their documents and ingest the files again to re-read them",
            file=sys.stderr,
        )
    raise typer.Exit(EXIT_OK)
