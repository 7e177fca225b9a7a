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
from storage.errors import DocumentNotFound, PageNotFound
from storage.tables import Document
from workers.runtime import Runtime
from workers.views import document_view

_PAGE_SIZE = 500


# the fields ``scanrag documents --json`` prints, in this order ("pages": the page count)
_JSON_FIELDS = (
    "id",
    "tenant",
    "filename",
    "status",
    "pages",
    "pages_done",
    "error",
    "media_type",
    "size_bytes",
    "sha256",
    "metadata",
    "created_at",
)


def document_dict(document: Document) -> dict[str, Any]:
    """A document row as the JSON ``scanrag documents --json`` prints: its public view."""
    view = document_view(document)
    view["pages"] = view["page_count"]
    view["created_at"] = view["created_at"].isoformat()
    return {key: view[key] for key in _JSON_FIELDS}


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
        rt = Runtime.build(settings)
        rows: list[Document] = []
        with rt.sessions() as session:
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
    rt.close()
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
        rt = Runtime.build(settings)
        with rt.sessions() as session:
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
    rt.close()


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
