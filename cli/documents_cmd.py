"""``scanrag documents`` and ``scanrag show``: what is stored, and the text of a document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cli.errors import EXIT_BAD_INPUT, exit_on_error, refusal_line
from cli.tables import one_line, print_table
from cli.tenants import ALL_TENANTS_HELP, DEFAULT_TENANT, TENANT_HELP, chosen_tenant
from core.status import DocumentStatus

if TYPE_CHECKING:  # the database is imported when a command runs
    from storage.tables import Document

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
    from workers.views import document_view

    view = document_view(document)
    view["pages"] = view["page_count"]
    view["created_at"] = view["created_at"].isoformat()
    return {key: view[key] for key in _JSON_FIELDS}


documents_app = typer.Typer(
    help="List the stored documents, newest first: id, status, pages, file and error;"
    " `scanrag documents delete ID` deletes one.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@documents_app.callback()
def documents(
    ctx: typer.Context,
    status: Annotated[
        DocumentStatus | None, typer.Option(help="only documents in this state")
    ] = None,
    tenant: Annotated[str, typer.Option(help=TENANT_HELP)] = DEFAULT_TENANT,
    all_tenants: Annotated[bool, typer.Option("--all-tenants", help=ALL_TENANTS_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """List the stored documents, newest first: id, status, pages, file and error;
    `scanrag documents delete ID` deletes one."""
    if ctx.invoked_subcommand is not None:
        return
    from core.config import get_settings
    from storage import repository as repo
    from workers.runtime import Runtime

    settings = get_settings()
    with exit_on_error():
        runtime = Runtime.build(settings)
        rows: list[Document] = []
        with runtime.sessions() as session:
            while True:
                page = repo.list_documents(
                    session,
                    tenant=chosen_tenant(tenant, all_tenants),
                    status=None if status is None else status.value,
                    limit=_PAGE_SIZE,
                    offset=len(rows),
                )
                rows.extend(page)
                if len(page) < _PAGE_SIZE:
                    break
    runtime.close()
    if as_json:
        print(json.dumps([document_dict(d) for d in rows], ensure_ascii=False), flush=True)
        return
    if not rows:
        print(_empty_line(status, None if all_tenants else tenant), flush=True)
        return
    print_table(
        ("id", "status", "pages", "file"), [(d.id, d.status, _pages(d), _file(d)) for d in rows]
    )


def _empty_line(status: DocumentStatus | None, tenant: str | None) -> str:
    """What an empty listing says: which filter found nothing, and what to do."""
    where = "" if tenant is None else f" for tenant {tenant!r}"
    if status is not None:
        return f"no {status.value} documents{where}"
    hint = "" if tenant is None else " (--all-tenants lists every tenant's)"
    return f"no documents{where} yet: store some with `scanrag ingest FILE`{hint}"


@documents_app.command("delete")
def delete(
    document_ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="document ids (scanrag documents)")
    ],
) -> None:
    """Delete documents: their pages, chunks, vectors and the stored files nothing else uses."""
    from core.config import get_settings
    from storage import repository as repo
    from storage.errors import DocumentNotFound
    from workers.runtime import Runtime

    missing = 0
    with exit_on_error():
        runtime = Runtime.build(get_settings())
        for document_id in document_ids:
            with runtime.writing(), runtime.sessions.begin() as session:
                found = repo.get_document(session, document_id=document_id) is not None
                unused = repo.delete_document(session, document_id=document_id)
            if not found:
                refusal_line(document_id, DocumentNotFound().message, DocumentNotFound.code)
                missing += 1
                continue
            for key in unused:  # after the commit: a blob goes only once no row names it
                runtime.blobs.delete(key)
            print(f"deleted {document_id}", flush=True)
        runtime.close()
    if missing:
        raise typer.Exit(EXIT_BAD_INPUT)


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
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="write it as a searchable PDF to this file")
    ] = None,
) -> None:
    """Print the text of a stored document (pages ended by a form feed line), or of one page;
    with --markdown as Markdown; with --pdf FILE write the upload as a searchable PDF
    (its stored reading as an invisible text layer) instead."""
    from core.config import get_settings
    from pipelines.markdown import document_markdown, page_markdown
    from pipelines.types import PageResult
    from storage import repository as repo
    from storage.errors import DocumentNotFound, PageNotFound
    from workers.runtime import Runtime

    settings = get_settings()
    with exit_on_error():
        runtime = Runtime.build(settings)
        with runtime.sessions() as session:
            document = repo.get_document(session, document_id=document_id)
            if document is None:
                _refuse(document_id, DocumentNotFound().message, DocumentNotFound.code)
            if document.status != DocumentStatus.DONE:
                _refuse_unfinished(document)
            if pdf is not None:
                from pipelines.pdf_layer import write_searchable_pdf

                layouts = repo.page_layouts(session, document_id=document_id)
                write_searchable_pdf(
                    runtime.blobs.path(document.blob_key),
                    document.media_type,
                    (PageResult.from_dict(layout) for layout in layouts),
                    pdf,
                )
            elif page is None and markdown:
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
    runtime.close()


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
