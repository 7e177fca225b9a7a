"""``scanrag documents`` and ``scanrag show``: what is stored, and the text of a document."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from cli.errors import EXIT_BAD_INPUT, exit_on_error, refusal_line
from cli.tables import one_line, print_table
from core.config import get_settings
from core.status import DocumentStatus
from pipelines.markdown import document_markdown, page_markdown
from pipelines.types import PageResult
from storage import repository as repo
from storage.db import session_factory
from storage.errors import DocumentNotFound, PageNotFound
from storage.tables import Document
from workers.context import open_database

_PAGE_SIZE = 500


def document_dict(document: Document) -> dict[str, Any]:
    """A document row as the JSON ``scanrag documents --json`` prints."""
    error = None
    if document.error_code is not None:
        error = {"code": document.error_code, "message": document.error_message}
    return {
        "id": document.id,
        "tenant": document.tenant,
        "filename": document.filename,
        "status": document.status,
        "pages": document.page_count,
        "pages_done": document.pages_done,
        "error": error,
        "media_type": document.media_type,
        "size_bytes": document.size_bytes,
        "sha256": document.sha256,
        "metadata": document.meta,
        "created_at": document.created_at.isoformat(),
    }


def documents(
    status: Annotated[
        DocumentStatus | None, typer.Option(help="only documents in this state")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's documents")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """List the stored documents, newest first: id, status, pages, file and error."""
    settings = get_settings()
    with exit_on_error():
        engine = open_database(settings)
        rows: list[Document] = []
        with session_factory(engine)() as session:
            while True:
                page = repo.list_documents(
                    session,
                    tenant=tenant,
                    status=None if status is None else status.value,
                    limit=_PAGE_SIZE,
                    offset=len(rows),
                )
                rows.extend(page)
                if len(page) < _PAGE_SIZE:
                    break
    engine.dispose()
    if as_json:
        print(json.dumps([document_dict(d) for d in rows], ensure_ascii=False), flush=True)
        return
    print_table(
        ("id", "status", "pages", "file"), [(d.id, d.status, _pages(d), _file(d)) for d in rows]
    )


def _pages(document: Document) -> str:
    if document.status == DocumentStatus.PROCESSING and document.page_count:
        return f"{document.pages_done}/{document.page_count}"
    return "-" if document.page_count is None else str(document.page_count)


def _file(document: Document) -> str:
    if document.error_code is None:
        return document.filename
    return f"{document.filename}  {one_line(document.error_message or '')} [{document.error_code}]"


def show(
    document_id: Annotated[str, typer.Argument(metavar="DOC", help="a document id")],
    page: Annotated[int | None, typer.Option(min=1, help="only this page (1-based)")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="as Markdown (headings, tables, captions)")
    ] = False,
) -> None:
    """Print the text of a stored document (pages ended by a form feed line), or of one page;
    with ``--markdown`` as Markdown."""
    settings = get_settings()
    with exit_on_error():
        engine = open_database(settings)
        with session_factory(engine)() as session:
            document = repo.get_document(session, document_id=document_id)
            if document is None:
                _refuse(document_id, DocumentNotFound().message, DocumentNotFound.code)
            if document.status != DocumentStatus.DONE:
                _refuse_unfinished(document)
            if page is None and markdown:
                stored_pages = repo.document_pages(session, document_id=document_id)
                print(document_markdown(PageResult.from_dict(p.layout) for p in stored_pages))
            elif page is None:
                for stored in repo.document_pages(session, document_id=document_id):
                    print(stored.text + "\n\f", flush=True)  # as `scanrag ocr --format text`
            else:
                found = repo.get_page(session, document_id=document_id, number=page)
                if found is None:
                    pages = f"{document.page_count} pages"
                    _refuse(
                        document_id, f"no page {page}: the document has {pages}", PageNotFound.code
                    )
                if markdown:
                    print(page_markdown(PageResult.from_dict(found.layout)), flush=True)
                else:
                    print(found.text, flush=True)
    engine.dispose()


def _refuse_unfinished(document: Document) -> NoReturn:
    if document.status == DocumentStatus.FAILED:
        _refuse(
            document.id,
            f"the document failed: {document.error_message}",
            document.error_code or "internal",
        )
    progress = f"{document.pages_done}/{document.page_count or '?'} pages read"
    _refuse(document.id, f"the document is {document.status} ({progress})", "document_not_ready")


def _refuse(document_id: str, message: str, code: str) -> NoReturn:
    refusal_line(document_id, message, code)
    raise typer.Exit(EXIT_BAD_INPUT)
