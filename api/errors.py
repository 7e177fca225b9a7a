"""The one error translator of the API: every failure becomes ``{"error": {"code", "message"}}``
with the status the error carries (``ScanragError.http_status``), and never a stack trace."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import BadInput, DatabaseBusy, InvalidRequest, ScanragError, Transient
from core.logging import get_logger
from storage.errors import DocumentNotFound, fault_of

log = get_logger("api")


class ApiError(BadInput):
    """A refusal of the API itself (no layer below knows it), with its code and HTTP status
    given where raised."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status


def not_found(what: str = "document") -> ScanragError:
    """404 for a thing that does not exist, or belongs to another tenant (same answer)."""
    if what == "document":
        return DocumentNotFound("no document has this id")
    return ApiError(f"{what}_not_found", f"no {what} has this id", 404)


def error_response(
    status: int, code: str, message: str, retry_after: int | None = None
) -> JSONResponse:
    """The JSON error body every failure uses (with ``Retry-After`` when given)."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _answer(request: Request, exc: ScanragError) -> JSONResponse:
    status = exc.http_status
    if status >= 500:
        log.warning("request failed", extra={"path": request.url.path, "code": exc.code})
    if isinstance(exc, DatabaseBusy):
        # /readyz says not ready while requests meet a locked database (api.state)
        state = getattr(request.app.state, "scanrag", None)
        if state is not None:
            state.database_busy_at = time.monotonic()
    retry_after = exc.retry_after if isinstance(exc, Transient) else None
    return error_response(status, exc.code, exc.message, retry_after)


def install_error_handlers(app: FastAPI) -> None:
    """Translate scanrag errors, HTTP errors, validation errors and bugs in one place."""

    @app.exception_handler(ScanragError)
    async def scanrag_error(request: Request, exc: ScanragError) -> JSONResponse:
        return _answer(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "body_too_large",
        }.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # Allow on 405, as the router set it
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
        return _answer(request, InvalidRequest("; ".join(parts) or "invalid request"))

    # Registered by class (not under Exception), so Starlette answers them like any handled
    # error: a full disk or a locked database, wherever a route wrote, is told as it is.
    @app.exception_handler(OSError)
    @app.exception_handler(DBAPIError)
    async def storage_error(request: Request, exc: Exception) -> JSONResponse:
        fault = fault_of(exc)
        if fault is not None:
            return _answer(request, fault)
        return await internal_error(request, exc)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal", "internal error; the request was not completed")
