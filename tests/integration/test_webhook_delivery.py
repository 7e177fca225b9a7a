"""Webhook delivery over real sockets: redirects are checked like the first URL, the request goes
to the address that was checked, and a refused address never sees a byte."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.netguard import Allow, UrlRefused
from workers.webhooks import post_checked


class Server:
    """A loopback HTTP server answering every POST with ``status`` (and ``location``)."""

    def __init__(self, host: str, status: int = 200, location: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.calls.append((self.path, dict(self.headers), body))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for s in made:
        s.httpd.shutdown()


ALLOW = Allow.parse("127.0.0.2, 127.0.0.3")


def test_a_redirect_to_an_internal_address_is_refused_before_it_is_sent(
    servers: list[Server],
) -> None:
    internal = Server("127.0.0.1")
    hop = Server("127.0.0.2", 307, f"{internal.url}/steal")
    servers += [internal, hop]
    with pytest.raises(UrlRefused, match=r"127\.0\.0\.1"):
        post_checked(f"{hop.url}/hook", b"{}", {}, timeout=5, allow=ALLOW)
    assert len(hop.calls) == 1 and internal.calls == []


def test_allowed_307_redirects_are_followed_with_the_body(servers: list[Server]) -> None:
    final = Server("127.0.0.3")
    hop = Server("127.0.0.2", 308, f"{final.url}/final")
    servers += [final, hop]
    response = post_checked(f"{hop.url}/hook", b'{"a": 1}', {"X-Test": "1"}, timeout=5, allow=ALLOW)
    assert response.status_code == 200
    (path, headers, body) = final.calls[0]
    assert path == "/final" and body == b'{"a": 1}' and headers["X-Test"] == "1"
    # the name the client asked for stays in Host, though the socket went to the checked address
    assert headers["Host"] == final.url.removeprefix("http://")


def test_other_redirects_are_not_followed(servers: list[Server]) -> None:
    final = Server("127.0.0.3")
    hop = Server("127.0.0.2", 302, f"{final.url}/final")
    servers += [final, hop]
    response = post_checked(f"{hop.url}/hook", b"{}", {}, timeout=5, allow=ALLOW)
    assert response.status_code == 302 and final.calls == []


def test_a_redirect_loop_stops(servers: list[Server]) -> None:
    loop = Server("127.0.0.2", 307, "/again")
    servers.append(loop)
    response = post_checked(f"{loop.url}/hook", b"{}", {}, timeout=5, allow=ALLOW)
    assert response.status_code == 307 and len(loop.calls) == 4
