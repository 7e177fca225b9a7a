"""The FastAPI application (OpenAPI at ``/docs``): ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.edge import StrictFraming
from api.errors import error_response, install_error_handlers
from api.routes import batches, documents, health, pdf, search, tables, web
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
IMAGE_PATHS = ("/v1/search", "/v1/encode")  # JSON bodies that may carry base64 images
UPLOAD_PATHS = ("/v1/documents", "/v1/batches")  # POSTed multipart: the upload reader limits them


def image_body_bytes(max_image_bytes: int) -> int:
    """The body limit of a request carrying images: one image at its limit, in base64, with
    room for the rest of the JSON."""
    return max(MAX_BODY_BYTES, (max_image_bytes + 2) // 3 * 4 + 64 * 1024)


def is_upload(scope: Scope, content_type: bytes) -> bool:
    """Whether the request is a multipart upload to a route that takes one, so the upload
    reader (with the file size limit) is what limits its body. Decided by the route, not by
    the label: a body labelled multipart on a JSON route is held to that route's limit."""
    path = str(scope.get("path", "")).rstrip("/")
    return (
        scope.get("method") == "POST"
        and path in UPLOAD_PATHS
        and content_type.split(b";")[0].strip().lower() == b"multipart/form-data"
    )


class BodyLimit:
    """Refuses a request body over its limit with 413 before it is parsed (by its
    Content-Length, or while it streams in): ``MAX_BODY_BYTES``, or ``image_bytes`` on the
    paths that take base64 images; multipart uploads to the upload routes are limited by the
    upload reader."""

    def __init__(self, app: ASGIApp, image_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.image_bytes = image_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if scope["type"] != "http" or is_upload(scope, headers.get(b"content-type", b"")):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "")).rstrip("/")
        limit = self.image_bytes if path in IMAGE_PATHS else MAX_BODY_BYTES
        too_large = f"the request body is over {limit} bytes"
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await error_response(413, "body_too_large", too_large)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body without a length
                raise StarletteHTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The scanrag API for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # searches and /v1/encode embed one query a request: the built-in MiniLM on onnxruntime
        # (p95 29 ms against torch's 851 ms on two busy cores, docs/BENCHMARKS.md, issue 35)
        state = ApiState.build(settings, queries=True)
        await run_in_threadpool(state.warm_up)
        app.state.scanrag = state
        try:
            yield
        finally:
            state.sql_engine.dispose()

    go_offline()  # before FastAPI reads its telemetry switch
    app = FastAPI(
        title="scanrag",
        version="0.1.0",
        summary="Scanned documents in, searchable passages with their page regions out.",
        lifespan=lifespan,
        docs_url=None,  # served by api/routes/web.py from local assets, under the web app's CSP
        redoc_url=None,  # no wheel ships ReDoc, and it needs inline styles: off
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, image_bytes=image_body_bytes(settings.embed.max_image_bytes))
    app.add_middleware(ServerTiming)
    app.add_middleware(StrictFraming)  # outermost: an ambiguous request reaches nothing

    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(tables.router)
    app.include_router(pdf.router)
    app.include_router(search.router)
    app.include_router(batches.router)
    app.include_router(web.router)
    return app
