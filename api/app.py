"""The FastAPI application (OpenAPI at ``/docs``): ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import batches, documents, health, search
from api.state import ApiState
from core.config import Settings, get_settings
from core.logging import configure_logging


def create_app(settings: Settings | None = None) -> FastAPI:
    """The scanrag API for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ApiState.build(settings)
        app.state.scanrag = state
        try:
            yield
        finally:
            state.engine.dispose()

    app = FastAPI(
        title="scanrag",
        version="0.1.0",
        summary="Scanned documents in, searchable passages with their page regions out.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(batches.router)
    return app
