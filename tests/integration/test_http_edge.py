"""The API's HTTP edge (api/edge.py) over raw sockets, against uvicorn started in-process with
the protocol ``scanrag serve`` uses: slow and idle clients are cut off within a bounded time,
a body cut short is answered 400, and a request framed twice is refused."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from api.edge import StrictFraming, uvicorn_options
from core.config import ServiceSettings
from tests.harness import free_port

LIMITS = ServiceSettings(header_timeout=1.5, body_timeout=1.5, body_min_rate=1000, keep_alive=1)
# the longest a dripping client may hold a connection: its deadline and the timer's slack
BOUND = 1.5 + 2.0


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"size": size}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    options = uvicorn_options(LIMITS) | {"log_level": "error"}
    config = uvicorn.Config(StrictFraming(echo_length), port=free_port(), **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield config.port
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, whole."""
    out = b""
    while b"\r\n\r\n" not in out or len(out.split(b"\r\n\r\n", 1)[1]) < int(
        out.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]
    ):
        chunk = sock.recv(65536)
        assert chunk, out
        out += chunk
    return out


def test_a_normal_request_and_keep_alive_still_work(port: int) -> None:
    with connect(port) as sock:
        for _ in range(2):
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            reply = read_response(sock)
            assert reply.startswith(b"HTTP/1.1 200"), reply
            assert reply.endswith(b'{"size": 5}')
        # idle after a response: closed by the keep-alive limit (1 s), without an answer
        start = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - start < 1 + 1.0


def test_a_large_body_at_full_speed_is_not_cut_off(port: int) -> None:
    body = b"x" * 4_000_000  # 4000 s of allowance at 1000 B/s: only a slow body is cut
    with connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body)
        assert read_response(sock).endswith(b'{"size": 4000000}')


def drip(port: int, preludes: list[bytes], give_up: float) -> dict[int, tuple[float, bytes]]:
    """Slowloris: one connection per prelude, each sent its prelude, then a byte every 0.2 s
    for as long as it stays open (at most ``give_up`` s). Returns, per connection closed by the
    server, when (seconds from the start) and what it answered."""
    selector = selectors.DefaultSelector()
    socks = []
    for n, prelude in enumerate(preludes):
        sock = connect(port)
        sock.sendall(prelude)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, n)
        socks.append(sock)
    start = time.monotonic()
    replies: dict[int, bytes] = {}
    closed: dict[int, tuple[float, bytes]] = {}
    while len(closed) < len(socks) and time.monotonic() - start < give_up:
        for n, sock in enumerate(socks):
            if n not in closed:
                with contextlib.suppress(OSError):  # closed meanwhile: the read below tells
                    sock.send(b"a")
        for key, _ in selector.select(timeout=0.2):
            try:
                chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
            except OSError:
                chunk = b""
            replies[key.data] = replies.get(key.data, b"") + chunk
            if not chunk:
                closed[key.data] = (time.monotonic() - start, replies[key.data])
                selector.unregister(key.fileobj)
    for sock in socks:
        sock.close()
    return closed


# half drip their headers, half a body
SLOW = [
    b"GET / HTTP/1.1\r\nHost: x\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
]


def assert_all_cut_off(closed: dict[int, tuple[float, bytes]], count: int, bound: float) -> None:
    """Every one of ``count`` connections was closed within ``bound`` s, answered 408."""
    assert len(closed) == count, f"{count - len(closed)} connections still open"
    assert max(t for t, _ in closed.values()) < bound, max(t for t, _ in closed.values())
    for _, reply in closed.values():
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b'"code": "request_timeout"' in reply


def test_300_dripping_connections_are_closed_within_a_bound(port: int) -> None:
    assert_all_cut_off(drip(port, SLOW * 150, 3 * BOUND), 300, BOUND)


def test_a_silent_connection_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as sock:
        start = time.monotonic()
        assert read_all(sock) == b""
        assert 1.0 < time.monotonic() - start < BOUND


def test_a_body_shorter_than_declared_is_answered_400(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly this")
        sock.shutdown(socket.SHUT_WR)  # the client is done: 991 bytes never come
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "bad_http_request"


def test_transfer_encoding_with_content_length_is_refused_and_closed(port: int) -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
            b"\r\n0\r\n\r\n" + smuggled
        )
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert reply.count(b"HTTP/1.1") == 1, reply  # the smuggled request got no answer
    assert b'"code":"ambiguous_framing"' in reply
    assert b"connection: close" in reply.lower()


def test_garbage_is_answered_with_the_json_error(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert b'"code": "bad_http_request"' in reply
