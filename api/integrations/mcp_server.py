"""``scanrag mcp``: an MCP server (stdio) over a running scanrag service, for agent clients.

Tools: ``search`` (passages with document, page, box, snippet and crop URL), ``list_documents``,
``get_page_text`` (plain text or Markdown of a document or one page) and ``get_crop`` (a hit's
region of its page as a PNG image). The API key comes from ``SCANRAG_API_KEY`` (never an
argument: process lists are readable by other users).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
        snippet that matched, the full passage text, score and crop URL."""
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
        with _api_errors():
            if page is None:
                return client.markdown(document_id) if markdown else client.text(document_id)
            body = client.page(document_id, page)
        return page_markdown(PageResult.from_dict(body)) if markdown else str(body["text"])

    @server.tool()
    def get_crop(document_id: str, page: int, bbox: list[float]) -> Image:
        """The region ``bbox`` [x0, y0, x1, y1] (page pixels, as search returns it) of a page
        image, as a PNG."""
        with _api_errors():
            return Image(data=client.crop_of(document_id, page, bbox), format="png")

    return server


def serve(url: str, api_key: str | None) -> None:
    """Run the server on stdio until the client closes it."""
    with ScanragClient(url, api_key=api_key) as client:
        build_server(client).run("stdio")
