"""The RAG integrations against the real service: the LangChain and LlamaIndex retrievers and
the MCP server (`scanrag mcp` over stdio, driven by the mcp package's own client)."""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

import anyio
import pytest

from api.client import Document, ScanragClient
from tests.e2e.conftest import ROOT, Service
from tests.e2e.test_service import REPORT, make_pdf

pytestmark = pytest.mark.slow

QUESTION = "when will the lighthouse lamp be replaced"


@pytest.fixture(scope="module")
def indexed(service: Service, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Document]:
    """A key of a new tenant and its one document, read and indexed."""
    key, _ = service.new_key("integrations")
    pdf = make_pdf(tmp_path_factory.mktemp("integrations") / "harbour.pdf", REPORT)
    with ScanragClient(service.url, api_key=key) as client:
        (doc,) = client.wait(client.upload([pdf], metadata={"project": "harbour"}), timeout=180)
    return key, doc


def test_langchain_retriever_returns_passages_with_their_place(
    service: Service, indexed: tuple[str, Document]
) -> None:
    from langchain_core.documents import Document as LcDocument

    from api.integrations.langchain import ScanragRetriever

    key, doc = indexed
    with ScanragClient(service.url, api_key=key) as client:
        found = ScanragRetriever(client=client, k=2).invoke(QUESTION)
        assert all(isinstance(d, LcDocument) for d in found)
        top = found[0]
        assert "lighthouse lamp" in top.page_content.lower()
        meta = top.metadata
        assert (meta["document_id"], meta["filename"], meta["page"]) == (doc.id, "harbour.pdf", 2)
        assert len(meta["bbox"]) == 4 and meta["kind"] == "text" and meta["score"] > 0
        # the lines that hold the matching sentence, the region to cite
        assert "lighthouse" in " ".join(line["text"] for line in meta["lines"]).lower()
        assert meta["crop_url"].startswith(service.url + "/v1/documents/")
        assert client.http.get(meta["crop_url"]).content[:4] == b"\x89PNG"
        # filters pass through to the search API
        none = ScanragRetriever(client=client, metadata={"project": "elsewhere"}).invoke(QUESTION)
        assert none == []
        only = ScanragRetriever(client=client, document_ids=[doc.id]).invoke(QUESTION)
        assert {d.metadata["document_id"] for d in only} == {doc.id}


def test_llamaindex_retriever_returns_nodes_with_their_place(
    service: Service, indexed: tuple[str, Document]
) -> None:
    from llama_index.core.schema import NodeWithScore

    from api.integrations.llamaindex import ScanragRetriever

    key, doc = indexed
    with ScanragClient(service.url, api_key=key) as client:
        found = ScanragRetriever(client, k=2).retrieve(QUESTION)
        assert all(isinstance(n, NodeWithScore) for n in found) and found[0].score > 0
        top = found[0].node
        assert "lighthouse lamp" in top.get_content().lower()
        meta = top.metadata
        assert (meta["document_id"], meta["filename"], meta["page"]) == (doc.id, "harbour.pdf", 2)
        assert len(meta["bbox"]) == 4 and meta["crop_url"].startswith(service.url + "/v1/")
        assert client.http.get(meta["crop_url"]).content[:4] == b"\x89PNG"
        assert ScanragRetriever(client, metadata={"project": "elsewhere"}).retrieve(QUESTION) == []
        only = ScanragRetriever(client, document_ids=[doc.id]).retrieve(QUESTION)
        assert {n.node.metadata["document_id"] for n in only} == {doc.id}


async def _mcp_session(url: str, key: str) -> dict[str, Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli.main", "mcp", "--url", url],
        env={**os.environ, "SCANRAG_API_KEY": key},
        cwd=str(ROOT),
    )
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        out["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
        for name, args in [
            ("search", {"query": QUESTION, "k": 2}),
            ("list_documents", {}),
        ]:
            result = await session.call_tool(name, args)
            out[name] = result
        hit = json.loads(out["search"].content[0].text)  # the first of the list
        out["hit"] = hit
        out["page"] = await session.call_tool(
            "get_page_text", {"document_id": hit["document_id"], "page": hit["page"]}
        )
        out["markdown"] = await session.call_tool(
            "get_page_text", {"document_id": hit["document_id"], "markdown": True}
        )
        out["crop"] = await session.call_tool(
            "get_crop",
            {"document_id": hit["document_id"], "page": hit["page"], "bbox": hit["bbox"]},
        )
    return out


def test_mcp_server_searches_lists_reads_and_crops(
    service: Service, indexed: tuple[str, Document]
) -> None:
    key, doc = indexed
    out = anyio.run(_mcp_session, service.url, key)
    assert out["tools"] == ["get_crop", "get_page_text", "get_tables", "list_documents", "search"]
    hit = out["hit"]
    assert (hit["document_id"], hit["page"]) == (doc.id, 2)
    assert "lighthouse" in hit["snippet"].lower()
    # a list comes back as one JSON text item per element
    listed = [json.loads(item.text) for item in out["list_documents"].content]
    assert [d["id"] for d in listed] == [doc.id] and listed[0]["status"] == "done"
    assert "lighthouse lamp" in out["page"].content[0].text.lower()
    assert "harbour trust" in out["markdown"].content[0].text.lower()
    image = out["crop"].content[0]
    assert image.type == "image" and image.mime_type == "image/png"
    assert base64.b64decode(image.data)[:4] == b"\x89PNG"


def test_mcp_without_a_key_is_refused_with_the_api_error(service: Service) -> None:
    async def run() -> Any:
        from mcp import ClientSession, StdioServerParameters, stdio_client

        env = {k: v for k, v in os.environ.items() if k != "SCANRAG_API_KEY"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "cli.main", "mcp", "--url", service.url],
            env=env, cwd=str(ROOT),
        )  # fmt: skip
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await session.call_tool("search", {"query": QUESTION})

    result = anyio.run(run)
    assert result.is_error and "401" in result.content[0].text
