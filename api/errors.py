"""The one error translator of the API: every failure becomes ``{"error": {"code", "message"}}``
with the right status, and never a stack trace."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import BadInput, Category, DatabaseBusy, ScanragError, Transient
from core.logging import get_logger
from storage.errors import fault_of

log = get_logger("api")

# Status by error code; otherwise by category (bad input 422, transient 503, internal 500).
STATUS_BY_CODE = {
    "file_too_large": 413,
    "unsupported_type": 415,
    "not_multipart": 415,
    "empty_file": 400,
    "bad_request": 400,
    "unauthorized": 401,
    "not_found": 404,
    "document_not_found": 404,
    "page_not_found": 404,
    "batch_not_found": 404,
    "table_not_found": 404,
    "document_not_ready": 409,
    "path_not_allowed": 403,
    "too_many_items": 413,
    "index_model_mismatch": 409,
    "storage_full": 507,
}
STATUS_BY_CATEGORY = {Category.BAD_INPUT: 422, Category.TRANSIENT: 503, Category.INTERNAL: 500}


class ApiError(BadInput):
    """A refusal of the API itself, with its code and HTTP status given where raised."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or STATUS_BY_CODE.get(code, 400)


def not_found(what: str = "document") -> ApiError:
    """404 for a thing that does not exist, or belongs to another tenant (same answer)."""
    return ApiError(f"{what}_not_found", f"no {what} has this id", 404)


def status_of(error: ScanragError) -> int:
    """The HTTP status of an error."""
    if isinstance(error, ApiError):
        return error.status
    return STATUS_BY_CODE.get(error.code, STATUS_BY_CATEGORY[error.category])


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
    status = status_of(exc)
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
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

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
