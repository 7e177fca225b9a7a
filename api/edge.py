"""The service's edge toward clients: deadlines on what a client sends and strict HTTP framing.

- ``EdgeProtocol``: uvicorn's h11 protocol with deadlines. A client has ``header_timeout``
  seconds to send a request's line and headers (from its connection, or from the previous
  response), and ``body_timeout`` seconds plus one second per ``body_min_rate`` bytes for the
  body; one that drips slower gets ``408 request_timeout`` and the connection is closed (an
  idle connection is closed without an answer). The app's own time never counts: the deadline
  holds only while the server waits on the client. A body cut short by a client that closed its
  sending side is answered ``400 bad_http_request`` rather than dropped unanswered, and the
  server's own refusals of unparsable requests carry the JSON error body.
- ``StrictFraming``: a request with both ``Transfer-Encoding`` and ``Content-Length`` is
  refused ``400 ambiguous_framing`` and its connection closed (RFC 9112 section 6.1: the two
  disagree about where the body ends, which is how requests are smuggled past a proxy).

``scanrag serve`` runs uvicorn with ``uvicorn_options``; plain uvicorn takes the protocol as
``--http api.edge:EdgeProtocol``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import error_response
from core.config import ServiceSettings, get_settings

Phase = Literal["headers", "body"]


def uvicorn_options(service: ServiceSettings) -> dict[str, Any]:
    """The uvicorn options of the API: the edge protocol, the idle keep-alive limit."""
    return {
        "http": EdgeProtocol.of(service),
        "timeout_keep_alive": service.keep_alive,
        "log_level": "warning",
        "timeout_graceful_shutdown": 5,
    }


def raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response closing its connection, for where no app answers."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines on the client's headers and body (see module);
    the limits are ``service``'s, or the environment's settings when None."""

    service: ServiceSettings | None = None

    @classmethod
    def of(cls, service: ServiceSettings) -> type[EdgeProtocol]:
        """The protocol with the limits of ``service``."""
        return type(cls.__name__, (cls,), {"service": service})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        service = self.service or get_settings().service
        self.header_timeout = service.header_timeout
        self.body_timeout = service.body_timeout
        self.body_min_rate = service.body_min_rate
        self._phase: Phase | None = None  # what the server waits for from the client
        self._since = 0.0  # when that wait began (pushed on while the app is not reading)
        self._body_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        if self._phase == "body":
            self._body_bytes += len(data)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        # the client closed its sending side mid-body: tell h11, whose error is answered 400
        # (send_400_response closes the connection); True keeps our side open to write it
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.conn.receive_data(b"")
            self.handle_events()
            return True
        return None

    def send_400_response(self, msg: str) -> None:
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app's answer is under way: nothing else can be said
            return
        message = "the request is not valid HTTP/1.1 (request line, headers or body framing)"
        self.transport.write(raw_error(400, "Bad Request", "bad_http_request", message))
        self.transport.close()

    def _follow(self) -> None:
        """Start the deadline of what the server now waits for, when that changed."""
        if self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        phase: Phase | None = (
            "headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        )
        if phase == self._phase:
            return
        self._cancel()
        self._phase, self._since, self._body_bytes = phase, self.loop.time(), 0
        if phase is not None:
            self._timer = self.loop.call_at(self._deadline(), self._expire)

    def _deadline(self) -> float:
        if self._phase == "headers":
            return self._since + self.header_timeout
        return self._since + self.body_timeout + self._body_bytes / self.body_min_rate

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._phase is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase == "body" and self.flow.read_paused:
            # the app is not reading (a full buffer): that time is not the client's delay
            self._since += 1.0
        if (deadline := self._deadline()) > now:  # data came meanwhile: the deadline moved on
            self._timer = self.loop.call_at(max(deadline, now + 1.0), self._expire)
            return
        partial = self._phase == "body" or bool(self.conn.trailing_data[0])
        answered = self.cycle is not None and self.cycle.response_started and self._phase == "body"
        if partial and not answered:
            what = "headers" if self._phase == "headers" else "body"
            message = f"the request's {what} did not arrive in time; send it again"
            self.transport.write(raw_error(408, "Request Timeout", "request_timeout", message))
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()


class StrictFraming:
    """Refuses a request that declares its body's length twice (``Transfer-Encoding`` and
    ``Content-Length``) with 400, closing the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope.get("headers", [])}
            if b"transfer-encoding" in names and b"content-length" in names:
                response = error_response(
                    400,
                    "ambiguous_framing",
                    "send Transfer-Encoding or Content-Length, not both",
                )
                response.headers["connection"] = "close"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
