"""The web app: one page and its script and style, shipped in the package (no build step),
served by the API at ``/`` with a Content-Security-Policy that allows no inline script and no
other origin (everything it shows comes from this API; fonts are the system's)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import ApiError

WEB = Path(__file__).resolve().parents[1] / "web"
FILES = {"app.js": "text/javascript", "app.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The web app's page."""
    return FileResponse(WEB / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/app/{name}")
def asset(name: str) -> FileResponse:
    """The web app's script or style sheet."""
    if name not in FILES:
        raise ApiError("not_found", f"no web app file {name!r}", 404)
    return FileResponse(WEB / name, media_type=FILES[name], headers=HEADERS)
