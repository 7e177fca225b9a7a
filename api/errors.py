"""The one error translator of the API: every failure becomes ``{"error": {"code", "message"}}``
with the right status, and never a stack trace."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import BadInput, Category, ScanragError
from core.logging import get_logger

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
    "document_not_ready": 409,
    "path_not_allowed": 403,
    "too_many_items": 413,
    "index_model_mismatch": 409,
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


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The JSON error body every failure uses."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Translate scanrag errors, HTTP errors, validation errors and bugs in one place."""

    @app.exception_handler(ScanragError)
    async def scanrag_error(request: Request, exc: ScanragError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("request failed", extra={"path": request.url.path, "code": exc.code})
        return error_response(status, exc.code, exc.message)

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

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal", "internal error; the request was not completed")
