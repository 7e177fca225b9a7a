"""Webhook delivery over real sockets: redirects are checked like the first URL, the request goes
to the address that was checked, a refused address never sees a byte, and a receiver answering
slowly or at length holds the worker no longer than the deadline, nor grows it."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.netguard import Allow, UrlRefused
from storage import jobs
from storage.tables import Document
from tests.unit.test_task_guards import new_document
from workers.runtime import Runtime
from workers.webhooks import deliver, post_checked


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


class RawReceiver:
    """A loopback receiver that reads one request, then answers it as ``answer`` says, byte
    by byte if it likes, counting what it managed to send before the client hung up."""

    def __init__(self, host: str, answer: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server((host, 0))
        self.url = f"http://{host}:{self.listener.getsockname()[1]}"
        self.sent = 0
        self.hung_up_at: float | None = None
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
            while len(body) < length:
                body += conn.recv(65536)
            try:
                self.answer(conn)
            except OSError:  # the client hung up
                self.hung_up_at = time.monotonic()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.listener.close()


DEADLINE = 3.0  # the attempt's timeout in these tests
DRIP_FOR = 30.0  # seconds a dripping receiver would go on


def drip(receiver_of: Callable[[], RawReceiver], head: bytes, then: bytes) -> Callable[..., None]:
    """An answer sending ``head`` at once, then ``then`` one byte a second."""

    def answer(conn: socket.socket) -> None:
        receiver = receiver_of()
        receiver.send(conn, head)
        for byte in then[: int(DRIP_FOR)]:
            time.sleep(1.0)
            receiver.send(conn, bytes([byte]))

    return answer


@pytest.mark.parametrize(
    ("head", "then"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 100),  # the headers never end
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"b" * 100),  # nor does the body
    ],
    ids=["headers", "body"],
)
def test_a_dripping_receiver_holds_the_attempt_no_longer_than_its_deadline(
    head: bytes, then: bytes
) -> None:
    holder: list[RawReceiver] = []
    receiver = RawReceiver("127.0.0.2", drip(lambda: holder[0], head, then))
    holder.append(receiver)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            # each byte comes well within httpx's read timeout: only a deadline stops it
            post_checked(f"{receiver.url}/hook", b"{}", {}, timeout=DEADLINE, allow=ALLOW)
        elapsed = time.monotonic() - started
        assert elapsed < DEADLINE + 1.0, elapsed
        # the connection was dropped: the receiver's next byte finds nobody
        deadline = time.monotonic() + 5
        while receiver.hung_up_at is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.hung_up_at is not None and receiver.sent < len(head) + 10
    finally:
        receiver.close()


def test_a_huge_reply_is_read_only_up_to_the_cap() -> None:
    total = 400 * 1024 * 1024
    chunk = b"\0" * 65536

    def answer(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        receiver.send(conn, f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
        while receiver.sent < total:
            receiver.send(conn, chunk)

    receiver = RawReceiver("127.0.0.2", answer)
    try:
        response = post_checked(f"{receiver.url}/hook", b"{}", {}, timeout=30, allow=ALLOW)
        assert response.status_code == 200
        deadline = time.monotonic() + 10
        while receiver.hung_up_at is None and time.monotonic() < deadline:
            time.sleep(0.1)
        # what the client read (at most MAX_REPLY_BYTES and a read) plus what the kernel's
        # socket buffers took in before the hang-up: megabytes, never the 400 MB sent
        assert receiver.hung_up_at is not None
        assert receiver.sent < 16 * 1024 * 1024, receiver.sent
    finally:
        receiver.close()


def test_a_delivery_to_a_dripping_receiver_is_recorded_as_timed_out(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        service={"webhook_timeout": DEADLINE, "webhook_allow": "127.0.0.2"},  # type: ignore[arg-type]
    )
    state = Runtime.build(settings)
    holder: list[RawReceiver] = []
    receiver = RawReceiver("127.0.0.2", drip(lambda: holder[0], b"HTTP/1.1 200 OK\r\n", b"a" * 60))
    holder.append(receiver)
    try:
        document_id = new_document(state)
        with state.sessions.begin() as session:
            session.get_one(Document, document_id).callback_url = f"{receiver.url}/hook"
        started = time.monotonic()
        assert not deliver(state, document_id, attempt=1, delivery_id="d1")
        assert time.monotonic() - started < DEADLINE + 1.5
        with state.sessions() as session:
            (attempt,) = jobs.webhook_attempts(session, document_id=document_id)
        assert attempt.status_code is None
        assert attempt.error == f"no complete answer within {DEADLINE:g} s"
    finally:
        receiver.close()
        state.close()
