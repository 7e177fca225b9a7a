"""The MCP server puts document ids into URL paths: an id an agent was talked into sending
(``../../metrics#``) must not walk the client to another route of the API."""

from __future__ import annotations

import anyio
import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError

from api.client import ScanragClient
from api.integrations.mcp_server import build_server

HOSTILE = ["../../metrics#", "..", "a/b", "x?k=1", "%2e%2e", "a b", "", "é" * 3]


def recording_client(seen: list[str]) -> ScanragClient:
    """A client whose requests are recorded (raw path) and answered with an empty page."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"text": "", "blocks": []}, text=None)

    return ScanragClient("http://scanrag.test", api_key="k", transport=httpx.MockTransport(answer))


def call(server: object, tool: str, arguments: dict[str, object]) -> object:
    return anyio.run(server.call_tool, tool, arguments)  # type: ignore[attr-defined]


@pytest.mark.parametrize("document_id", HOSTILE)
@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("get_page_text", {}),
        ("get_page_text", {"markdown": True}),
        ("get_page_text", {"page": 1}),
        ("get_crop", {"page": 1, "bbox": [0, 0, 10, 10]}),
    ],
)
def test_a_hostile_document_id_is_refused_and_reaches_no_route(
    document_id: str, tool: str, extra: dict[str, object]
) -> None:
    seen: list[str] = []
    server = build_server(recording_client(seen))
    with pytest.raises(ToolError, match="document id"):
        call(server, tool, {"document_id": document_id, **extra})
    assert seen == []


def test_a_real_document_id_reaches_its_document() -> None:
    seen: list[str] = []
    server = build_server(recording_client(seen))
    doc = "0123456789abcdef0123456789abcdef"
    call(server, "get_page_text", {"document_id": doc})
    call(server, "get_page_text", {"document_id": doc, "page": 2})
    assert seen == [f"/v1/documents/{doc}/text", f"/v1/documents/{doc}/pages/2"]


def test_the_client_keeps_any_id_inside_its_path_segment() -> None:
    """The Python client (under the CLI and the LangChain/LlamaIndex retrievers) escapes ids
    itself: ``../../metrics#`` is one segment of /v1/documents/, never another route."""
    seen: list[str] = []
    client = recording_client(seen)
    client.text("../../metrics#")
    client.page("a/b?x=1", 2)
    assert seen == [
        "/v1/documents/..%2F..%2Fmetrics%23/text",
        "/v1/documents/a%2Fb%3Fx%3D1/pages/2",
    ]
