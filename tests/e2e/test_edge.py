"""The service's edge, as ``scanrag serve`` runs it (the uvicorn options and protocol of
api/edge.py), over raw sockets and HTTP: framing and truncated bodies are refused, dripping
clients are cut off, event streams are capped per tenant and end, /metrics takes the operator's
key only, and /docs is served from this origin under the web app's CSP."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.routes.web import CSP
from tests.e2e.conftest import Service, service_env
from tests.harness import RedisServer
from tests.integration.test_http_edge import assert_all_cut_off, drip
from tests.pagegen import text_page

OPERATOR_KEY = "operator-0123456789abcdef"
HEADER_TIMEOUT = 2.0
STREAMS = 2
STREAM_SECONDS = 4.0
BOUND = HEADER_TIMEOUT + 2.5  # the longest a dripping client may hold a connection


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The API alone (no worker: uploads stay queued), started by ``scanrag serve``."""
    redis_server = RedisServer(tmp_path_factory.mktemp("edge-redis")).start()
    home = tmp_path_factory.mktemp("edge")
    env = service_env(
        home,
        f"{redis_server.url}/0",
        None,
        SCANRAG_SERVICE__HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        SCANRAG_SERVICE__BODY_TIMEOUT=str(HEADER_TIMEOUT),
        SCANRAG_SERVICE__EVENT_STREAMS=str(STREAMS),
        SCANRAG_SERVICE__EVENT_STREAM_SECONDS=str(STREAM_SECONDS),
        SCANRAG_SERVICE__METRICS_KEY=OPERATOR_KEY,
    )
    service = Service(home, env)
    service.start_api(api_workers=1)  # `scanrag serve`
    try:
        service.wait_healthy(120)
        yield service
    finally:
        service.stop()
        redis_server.stop()


def png() -> bytes:
    buffer = io.BytesIO()
    text_page(["Edge of the service."]).save(buffer, "PNG")
    return buffer.getvalue()


def raw(service: Service, request: bytes, *, half_close: bool = False) -> tuple[int, Any]:
    """Send ``request`` bytes as they are; the status and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), reply[:200]
    return int(head.split()[1]), json.loads(body)


def multipart(key: str, body: bytes, *, length: int | None = None) -> bytes:
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=edge\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


def part(data: bytes) -> bytes:
    return (
        b'--edge\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n"
    )


def documents(service: Service, key: str) -> list[Any]:
    listed = service.client(key).get("/v1/documents").json()["documents"]
    return list(listed)


def test_a_multipart_body_without_its_closing_boundary_is_refused(edge: Service) -> None:
    key = edge.new_key("cut")[0]
    status, body = raw(edge, multipart(key, part(png())))  # the whole part, no "--edge--"
    assert (status, body["error"]["code"]) == (400, "multipart_truncated"), body
    status, body = raw(edge, multipart(key, part(png())[:-500]))  # cut inside the file
    assert (status, body["error"]["code"]) == (400, "multipart_truncated"), body
    assert documents(edge, key) == []
    whole = part(png()) + b"--edge--\r\n"
    status, body = raw(edge, multipart(key, whole))
    assert status == 202, body
    assert len(documents(edge, key)) == 1


def test_a_body_shorter_than_its_content_length_is_refused(edge: Service) -> None:
    key = edge.new_key("short")[0]
    whole = part(png()) + b"--edge--\r\n"
    # everything but the declared last 1000 bytes, and the client says it is done
    request = multipart(key, whole, length=len(whole) + 1000)
    status, body = raw(edge, request, half_close=True)
    assert (status, body["error"]["code"]) == (400, "bad_http_request"), body
    assert documents(edge, key) == []


def test_transfer_encoding_with_content_length_is_refused(edge: Service) -> None:
    key = edge.new_key("smuggler")[0]
    whole = part(png()) + b"--edge--\r\n"
    chunked = b"%x\r\n" % len(whole) + whole + b"\r\n0\r\n\r\n"
    request = multipart(key, chunked).replace(
        b"Content-Length:", b"Transfer-Encoding: chunked\r\nContent-Length:"
    )
    status, body = raw(edge, request)
    assert (status, body["error"]["code"]) == (400, "ambiguous_framing"), body
    assert documents(edge, key) == []


def test_dripping_clients_are_cut_off(edge: Service) -> None:
    """50 connections each drip a request a byte every 0.2 s (its headers, or the body of a
    search, which the app reads before anything else): all get 408 within the bound."""
    slow = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n",
    ]
    assert_all_cut_off(drip(edge.port, slow * 25, 3 * BOUND), 50, BOUND)
    assert httpx.get(edge.url + "/healthz", timeout=10).status_code == 200


def test_event_streams_are_capped_per_tenant_and_end(edge: Service) -> None:
    key = edge.new_key("watcher")[0]
    other = edge.new_key("neighbour")[0]
    client, neighbour = edge.client(key), edge.client(other)
    ids = []
    for c in (client, neighbour):
        r = c.post("/v1/documents", files={"files": ("p.png", png(), "image/png")})
        assert r.status_code == 202, r.text
        ids.append(r.json()["documents"][0]["id"])
    mine, theirs = ids
    with client.stream("GET", f"/v1/documents/{mine}/events") as first:
        assert first.status_code == 200
        start = time.monotonic()
        with client.stream("GET", f"/v1/documents/{mine}/events") as second:
            assert second.status_code == 200
            refused = client.get(f"/v1/documents/{mine}/events")
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "too_many_streams"
            # another tenant is not held back by this one's streams
            with neighbour.stream("GET", f"/v1/documents/{theirs}/events") as own:
                assert own.status_code == 200
        # a stream ends by itself after its lifetime, with the document's state
        text = "".join(first.iter_text())
        took = time.monotonic() - start
    assert STREAM_SECONDS - 0.5 < took < STREAM_SECONDS + 3, took
    assert text.rstrip().splitlines()[-2] == "event: reconnect", text
    assert json.loads(text.rstrip().splitlines()[-1][len("data: ") :])["id"] == mine
    # the streams that ended or were dropped gave their slots back
    deadline = time.monotonic() + 5
    while True:
        with (
            client.stream("GET", f"/v1/documents/{mine}/events") as a,
            client.stream("GET", f"/v1/documents/{mine}/events") as b,
        ):
            if a.status_code == b.status_code == 200:
                break
        assert time.monotonic() < deadline, (a.status_code, b.status_code)
        time.sleep(0.25)


def test_metrics_take_the_operators_key_only(edge: Service) -> None:
    tenant = edge.new_key("counted")[0]
    nosy = edge.client(edge.new_key("nosy")[0])
    r = edge.client(tenant).post("/v1/documents", files={"files": ("m.png", png(), "image/png")})
    assert r.status_code == 202, r.text
    refused = nosy.get("/metrics")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "metrics_forbidden"
    assert "scanrag_documents" not in refused.text
    assert edge.client(None).get("/metrics").status_code == 401
    metrics = edge.client(OPERATOR_KEY).get("/metrics")
    assert metrics.status_code == 200, metrics.text
    assert re.search(r'scanrag_documents\{status="queued"\} [1-9]', metrics.text), metrics.text
    assert 'scanrag_queue_depth{queue="interactive"}' in metrics.text


def test_docs_are_served_from_this_origin_under_the_web_apps_csp(edge: Service) -> None:
    page = httpx.get(edge.url + "/docs", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    for ref in refs:
        asset = httpx.get(edge.url + ref, timeout=10)
        assert asset.status_code == 200, ref
        assert asset.headers["content-security-policy"] == CSP
    assert httpx.get(edge.url + "/docs/../../etc/passwd", timeout=10).status_code == 404
    assert httpx.get(edge.url + "/redoc", timeout=10).status_code == 404
    assert httpx.get(edge.url + "/openapi.json", timeout=10).json()["info"]["title"] == "scanrag"


@pytest.mark.slow
def test_docs_render_in_a_browser_offline(edge: Service) -> None:
    """Swagger UI runs under the CSP: operations listed, no request leaves the origin, no
    CSP violation reported."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(edge.url + "/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() > 10
            assert page.title() == "scanrag API"
        finally:
            browser.close()
    outside = [u for u in requests if not u.startswith(edge.url)]
    assert outside == [], outside
    violations = [e for e in errors if "Content Security Policy" in e]
    assert violations == [], violations
