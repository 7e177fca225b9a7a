"""Tables through the Python client, the RAG retrievers and the MCP server, against a
recorded API (httpx.MockTransport): the routes they call with escaped ids, the shapes they give
back, and a hit's cells in the retrievers' metadata."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from api.client import NotFound, ScanragClient
from api.integrations.mcp_server import build_server

DOC = "0123456789abcdef0123456789abcdef"
CELLS = [
    {"row": 0, "col": 0, "row_span": 1, "col_span": 2, "bbox": [0, 0, 200, 40], "text": "Gas"},
    {"row": 1, "col": 0, "row_span": 1, "col_span": 1, "bbox": [0, 40, 100, 80], "text": "CO2"},
    {"row": 1, "col": 1, "row_span": 1, "col_span": 1, "bbox": [100, 40, 200, 80], "text": "9"},
]
TABLES = {
    "tables": [
        {
            "index": 0,
            "page": 2,
            "bbox": [0, 0, 200, 80],
            "rows": 2,
            "cols": 2,
            "cells": CELLS,
            "text": "Gas\nCO2 9",
            "caption": "Table 1",
            "links": {},
        },
        {
            "index": 1,
            "page": 3,
            "bbox": [0, 0, 50, 50],
            "rows": 1,
            "cols": 2,
            "cells": [
                {"row": 0, "col": 1, "row_span": 1, "col_span": 1, "bbox": [25, 0, 50, 50]},
            ],
            "text": "b",
            "caption": None,
            "links": {},
        },
    ]
}
HIT = {
    "document": {"id": DOC, "filename": "a.pdf"},
    "page": 2,
    "bbox": [0, 0, 200, 80],
    "text": "CO2 9",
    "score": 0.5,
    "kind": "table",
    "snippet": "CO2 9",
    "highlights": [[0, 3]],
    "crop_url": f"/v1/documents/{DOC}/pages/2/crop?bbox=0,0,200,80",
    "cells": [{"row": 1, "col": 0, "bbox": [0, 40, 100, 80]}],
    "table": 0,
}


def recording_client(seen: list[str]) -> ScanragClient:
    """A client whose requests are recorded (raw path and query) and answered as the API
    would: the tables, one table's CSV, a search with one hit in a table and one outside."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        path = request.url.path
        if path.endswith("/tables"):
            return httpx.Response(200, json=TABLES)
        if "/tables/" in path:
            if not path.endswith("/tables/0"):
                error = {"code": "table_not_found", "message": "no table"}
                return httpx.Response(404, json={"error": error})
            return httpx.Response(200, text="Gas,\r\nCO2,9\r\n")
        if path == "/v1/search":
            outside = {**HIT, "kind": "text", "cells": None, "table": None}
            return httpx.Response(200, json={"query": "co2", "hits": [HIT, outside]})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})

    return ScanragClient("http://scanrag.test", api_key="k", transport=httpx.MockTransport(answer))


def test_the_client_lists_tables_and_fetches_one_as_csv_with_ids_escaped() -> None:
    seen: list[str] = []
    client = recording_client(seen)
    tables = client.tables(DOC)
    assert [(t.index, t.page, t.rows, t.cols, t.caption) for t in tables] == [
        (0, 2, 2, 2, "Table 1"),
        (1, 3, 1, 2, None),
    ]
    assert tables[0].cells[0].col_span == 2 and tables[0].cells[2].text == "9"
    assert tables[0].grid() == [["Gas", ""], ["CO2", "9"]]
    # a slot no cell covers, and a cell the service sent without text: empty
    assert tables[1].grid() == [["", ""]]
    assert client.table_csv(DOC, 0) == "Gas,\r\nCO2,9\r\n"
    with pytest.raises(NotFound) as told:
        client.table_csv(DOC, 5)
    assert told.value.code == "table_not_found"
    client.tables("../../metrics#")
    assert seen == [
        f"/v1/documents/{DOC}/tables",
        f"/v1/documents/{DOC}/tables/0?format=csv",
        f"/v1/documents/{DOC}/tables/5?format=csv",
        "/v1/documents/..%2F..%2Fmetrics%23/tables",
    ]


def test_a_table_hit_carries_its_cells_in_the_retrievers_metadata() -> None:
    from langchain_core.documents import Document as LcDocument
    from llama_index.core.schema import QueryBundle

    from api.integrations.langchain import ScanragRetriever as LangchainRetriever
    from api.integrations.llamaindex import ScanragRetriever as LlamaRetriever

    client = recording_client([])
    docs: list[LcDocument] = LangchainRetriever(client=client, k=2).invoke("co2")
    assert docs[0].metadata["cells"] == [{"row": 1, "col": 0, "bbox": [0, 40, 100, 80]}]
    assert docs[0].metadata["table"] == 0
    # a hit outside a table has neither
    assert "cells" not in docs[1].metadata and "table" not in docs[1].metadata
    nodes = LlamaRetriever(client, k=2).retrieve(QueryBundle("co2"))
    assert nodes[0].node.metadata["cells"] == HIT["cells"]
    assert nodes[0].node.metadata["table"] == 0


def call(server: Any, tool: str, arguments: dict[str, object]) -> Any:
    return anyio.run(server.call_tool, tool, arguments)


def _structured(result: Any) -> Any:
    """The tool's return value, as the agent reads it (one JSON text block per item)."""
    return [json.loads(block.text) for block in result.content]


def test_mcp_get_tables_gives_grids_and_refuses_a_hostile_id() -> None:
    seen: list[str] = []
    server = build_server(recording_client(seen))
    tables = _structured(call(server, "get_tables", {"document_id": DOC}))
    assert tables[0]["grid"] == [["Gas", ""], ["CO2", "9"]]
    assert tables[0]["caption"] == "Table 1" and tables[0]["page"] == 2
    assert tables[1]["grid"] == [["", ""]] and tables[1]["bbox"] == [0, 0, 50, 50]
    one = _structured(call(server, "get_tables", {"document_id": DOC, "index": 1}))
    assert [t["index"] for t in one] == [1]
    with pytest.raises(ToolError, match="no table 7"):
        call(server, "get_tables", {"document_id": DOC, "index": 7})
    with pytest.raises(ToolError, match="document id"):
        call(server, "get_tables", {"document_id": "../../metrics#"})
    assert seen == [f"/v1/documents/{DOC}/tables"] * 3
    hits = _structured(call(server, "search", {"query": "co2"}))
    assert hits[0]["cells"] == HIT["cells"] and hits[0]["table"] == 0
    assert hits[1]["cells"] is None
