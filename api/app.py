"""The FastAPI application (OpenAPI at ``/docs``): ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response, install_error_handlers
from api.routes import batches, documents, health, search, web
from api.state import ApiState
from core.config import Settings, get_settings
from core.logging import configure_logging
from core.offline import go_offline


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` (request received to response started), so clients
    can tell the app's own time from network and queueing time. Plain ASGI: streams stay
    streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


MAX_BODY_BYTES = 1024 * 1024  # a JSON body (search, batch); uploads have their own limit


class BodyLimit:
    """Refuses a request body over ``MAX_BODY_BYTES`` with 413 before it is parsed (by its
    Content-Length, or while it streams in), except multipart uploads, which the upload reader
    limits by the file size setting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if scope["type"] != "http" or headers.get(b"content-type", b"").startswith(b"multipart/"):
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            await error_response(413, "body_too_large", _TOO_LARGE)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:  # a chunked body without a length
                raise StarletteHTTPException(413, _TOO_LARGE)
            return message

        await self.app(scope, limited, send)


_TOO_LARGE = f"the request body is over {MAX_BODY_BYTES} bytes"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The scanrag API for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ApiState.build(settings)
        await run_in_threadpool(state.warm_up)
        app.state.scanrag = state
        try:
            yield
        finally:
            state.engine.dispose()

    go_offline()  # before FastAPI reads its telemetry switch
    app = FastAPI(
        title="scanrag",
        version="0.1.0",
        summary="Scanned documents in, searchable passages with their page regions out.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(ServerTiming)

    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(batches.router)
    app.include_router(web.router)
    return app
