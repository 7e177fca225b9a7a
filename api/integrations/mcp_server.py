"""``scanrag mcp``: an MCP server (stdio) over a running scanrag service, for agent clients.

Tools: ``search`` (passages with document, page, box, snippet and crop URL), ``list_documents``,
``get_page_text`` (plain text or Markdown of a document or one page), ``get_tables`` (a
document's tables as grids of cell texts) and ``get_crop`` (a hit's region of its page as a PNG
image). The API key comes from ``SCANRAG_API_KEY`` (never an
argument: process lists are readable by other users).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

from api.client import ScanragClient, ScanragError
from pipelines.markdown import page_markdown
from pipelines.types import PageResult


@contextmanager
def _api_errors() -> Iterator[None]:
    """The API's refusal as the tool's error (its code and message reach the agent; anything
    else would be reported as an opaque failure)."""
    try:
        yield
    except ScanragError as exc:
        raise ToolError(str(exc)) from exc


# what the API's ids are made of (32 hex characters today); anything else is refused before a
# request is made: an agent talked into sending "../../metrics#" must not reach another route
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _path_id(document_id: str) -> str:
    """``document_id`` as one URL path segment: checked, then percent-escaped.

    Raises ToolError for a string that is no document id."""
    if not _DOCUMENT_ID.fullmatch(document_id):
        raise ToolError(
            f"not a document id: {document_id[:80]!r}; use an id as search or list_documents"
            " return it"
        )
    return quote(document_id, safe="")


def build_server(client: ScanragClient) -> MCPServer:
    """The MCP server whose tools call ``client``."""
    server = MCPServer(
        name="scanrag",
        instructions="Search scanned documents indexed by scanrag; every passage names its"
        " document, page and region, and get_crop shows that region of the page image.",
    )

    @server.tool()
    def search(
        query: str, k: int = 5, document_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The k passages that best match the query (by words and meaning), each with its
        document id and filename, page, bbox [x0, y0, x1, y1] in page pixels, kind, the
        snippet that matched, the full passage text, score and crop URL; a hit in a table
        also names the ``cells`` it matched (row, col, bbox each) and the ``table`` (its index
        for get_tables), else both are null; a passage names the ``lines`` that hold its
        snippet (text, bbox each; the region to cite), null when not known."""
        with _api_errors():
            hits = client.search(query, k=k, document_ids=document_ids)
        return [
            {
                "document_id": h.document.id,
                "filename": h.document.filename,
                "page": h.page,
                "bbox": list(h.bbox),
                "kind": h.kind,
                "title": h.title,
                "snippet": h.snippet,
                "text": h.text,
                "score": h.score,
                "crop_url": h.crop_url,
                "cells": None if h.cells is None else [dict(c) for c in h.cells],
                "table": h.table,
                "lines": None if h.lines is None else [dict(line) for line in h.lines],
            }
            for h in hits
        ]

    @server.tool()
    def list_documents(status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Documents (newest first): id, filename, status, pages, error."""
        out: list[dict[str, Any]] = []
        with _api_errors():
            documents = client.documents(status=status)
            for d in documents:
                out.append(
                    {
                        "id": d.id,
                        "filename": d.filename,
                        "status": d.status,
                        "page_count": d.page_count,
                        "error": d.error_message,
                    }
                )
                if len(out) >= limit:
                    break
        return out

    @server.tool()
    def get_page_text(document_id: str, page: int | None = None, markdown: bool = False) -> str:
        """A document's text (all pages, or one page), plain or as Markdown (headings, lists,
        tables)."""
        document_id = _path_id(document_id)
        with _api_errors():
            if page is None:
                return client.markdown(document_id) if markdown else client.text(document_id)
            body = client.page(document_id, page)
        return page_markdown(PageResult.from_dict(body)) if markdown else str(body["text"])

    @server.tool()
    def get_tables(document_id: str, index: int | None = None) -> list[dict[str, Any]]:
        """A document's tables (or only table ``index``, from 0), each with its index, page,
        bbox [x0, y0, x1, y1] in page pixels, caption, rows, cols and ``grid``: its rows as
        lists of cell texts (a cell spanning several columns or rows has its text in its first
        slot)."""
        document_id = _path_id(document_id)
        with _api_errors():
            tables = client.tables(document_id)
        if index is not None:
            tables = [t for t in tables if t.index == index]
            if not tables:
                raise ToolError(f"the document has no table {index}; get_tables lists them")
        return [
            {
                "index": t.index,
                "page": t.page,
                "bbox": list(t.bbox),
                "caption": t.caption,
                "rows": t.rows,
                "cols": t.cols,
                "grid": t.grid(),
            }
            for t in tables
        ]

    @server.tool()
    def get_crop(document_id: str, page: int, bbox: list[float]) -> Image:
        """The region ``bbox`` [x0, y0, x1, y1] (page pixels, as search returns it) of a page
        image, as a PNG."""
        document_id = _path_id(document_id)
        with _api_errors():
            return Image(data=client.crop_of(document_id, page, bbox), format="png")

    return server


def serve(url: str, api_key: str | None) -> None:
    """Run the server on stdio until the client closes it."""
    with ScanragClient(url, api_key=api_key) as client:
        build_server(client).run("stdio")
