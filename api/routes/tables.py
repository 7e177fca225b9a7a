"""A document's tables: every table with its cells, and one table as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from api.deps import SessionDep, TenantDep
from api.lookups import MAX_INT, owned_document, require_done
from api.schemas import TablePublic, TablesResponse, errors
from storage import repository as repo
from workers.table_views import document_tables, table_at, table_csv

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=errors(401, 422))

TableIndex = Annotated[int, Path(ge=0, le=MAX_INT, description="the table's number, from 0")]


def _tables(session: Any, document_id: str, tenant: str) -> list[dict[str, Any]]:
    """The tables of the tenant's document, each with its links (404 no such document, 409
    not read yet)."""
    document = owned_document(session, document_id, tenant)
    require_done(document)
    pages = ((n, layout) for n, _, _, layout in repo.page_images(session, document_id=document.id))
    tables = document_tables(pages)
    base = f"/v1/documents/{document.id}"
    for table in tables:
        own = f"{base}/tables/{table['index']}"
        table["links"] = {
            "self": own,
            "csv": f"{own}?format=csv",
            "page": f"{base}/pages/{table['page']}",
        }
    return tables


@router.get(
    "/{document_id}/tables",
    response_model=TablesResponse,
    responses=errors(404, 409),
    summary="Every table of the document, with its cells",
)
def list_tables(document_id: str, session: SessionDep, tenant: TenantDep) -> dict[str, Any]:
    """The document's tables in page and reading order: each with its ``index`` (from 0),
    page, box, grid size, cells (row, column, spans, box, text, header), text and caption.
    Table regions whose cells were not recognised (read before tables were) are not listed:
    ``scanrag reindex`` reads them."""
    return {"tables": _tables(session, document_id, tenant)}


def _wants_csv(accept: str) -> bool:
    """Whether ``accept`` prefers text/csv to JSON (by q value; absent counts 0)."""
    q = {"text/csv": 0.0, "application/json": 0.0}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        if kind.lower() not in q:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        q[kind.lower()] = max(q[kind.lower()], weight)
    return q["text/csv"] > q["application/json"]


@router.get(
    "/{document_id}/tables/{index}",
    response_model=TablePublic,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **errors(404, 409),
    },
    summary="One table, as JSON or as CSV (?format=csv or Accept: text/csv)",
)
def get_table(
    document_id: str,
    index: TableIndex,
    session: SessionDep,
    tenant: TenantDep,
    format: Annotated[Literal["json", "csv"] | None, Query(description="json or csv")] = None,
    accept: Annotated[str, Header(max_length=1000)] = "",
) -> Any:
    """Table ``index`` of the document. As CSV: one line per grid row, one field per grid
    column, a spanning cell's text in its first slot and the slots it covers empty. 404
    ``table_not_found`` past the last table."""
    table = table_at(_tables(session, document_id, tenant), index)
    if format == "csv" or (format is None and _wants_csv(accept)):
        name = f"table-{index}.csv"
        return Response(
            table_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return table
