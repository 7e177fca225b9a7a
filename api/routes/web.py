"""The web app: one page and its script and style, shipped in the package (no build step),
served by the API at ``/`` with a Content-Security-Policy that allows no inline script and no
other origin (everything it shows comes from this API; fonts are the system's).

The app takes the vocabularies it shows from ``/app/kinds.json`` (made from ``core.vocab`` at
each request, so the page cannot drift from the code): every block kind, its label and colour.

The API reference at ``/docs`` is Swagger UI from the ``fastapi-offline`` wheel, served from
this origin under the same policy (FastAPI's own page loads it from a CDN, with an inline
script); ReDoc is off, as no wheel ships it and it needs inline styles.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from api.errors import ApiError
from core.vocab import BLOCK_KINDS, BlockKind

WEB = Path(__file__).resolve().parents[1] / "web"
PAGES = {"index.html": "text/html", "docs.html": "text/html"}
FILES = {"app.js": "text/javascript", "app.css": "text/css", "docs.js": "text/javascript"}
# an SVG icon, served at /favicon.ico: Chromium and Firefox take it by its media type
ICONS = {"favicon.svg": "image/svg+xml"}
SWAGGER = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5: OpenAPI 3.1
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
# the outline and legend colour of each block kind (the viewer), one each, from Tableau's ten
BLOCK_COLOURS: dict[BlockKind, str] = {
    "title": "#d62728",
    "text": "#1f77b4",
    "figure": "#9467bd",
    "figure_caption": "#e377c2",
    "table": "#2ca02c",
    "table_caption": "#bcbd22",
    "header": "#7f7f7f",
    "footer": "#8c564b",
    "equation": "#ff7f0e",
}
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


def _served(folder: Path, name: str, files: dict[str, str]) -> FileResponse:
    """The file ``name`` of ``folder``, one of ``files`` (name -> media type), under the CSP;
    404 for any other name."""
    if name not in files:
        raise ApiError("not_found", f"no such file {name!r}", 404)
    return FileResponse(folder / name, media_type=files[name], headers=HEADERS)


@router.get("/")
def index() -> FileResponse:
    """The web app's page."""
    return _served(WEB, "index.html", PAGES)


def kinds() -> dict[str, list[dict[str, str]]]:
    """What the web app shows of the vocabularies: each block kind (in ``BLOCK_KINDS``'s
    order) with its label and colour."""
    return {
        "blocks": [
            {"kind": kind, "label": kind.replace("_", " "), "colour": BLOCK_COLOURS[kind]}
            for kind in BLOCK_KINDS
        ]
    }


@router.get("/app/kinds.json")  # before /app/{name}, which would take the name
def kinds_json() -> JSONResponse:
    """The web app's vocabularies (``kinds``)."""
    return JSONResponse(kinds(), headers=HEADERS)


@router.get("/app/{name}")
def asset(name: str) -> FileResponse:
    """The web app's script or style sheet."""
    return _served(WEB, name, FILES)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The web app's icon (browsers ask for this path even without a link to it)."""
    return _served(WEB, "favicon.svg", ICONS)


@router.get("/docs")
def docs() -> FileResponse:
    """The API reference: Swagger UI over ``/openapi.json``."""
    return _served(WEB, "docs.html", PAGES)


@router.get("/docs/{name}")
def docs_asset(name: str) -> FileResponse:
    """Swagger UI's script or style sheet, from its wheel."""
    return _served(SWAGGER, name, SWAGGER_FILES)
