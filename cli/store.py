"""The store every command shares, from the settings: the migrated database, blobs, embedder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from storage.blobs import BlobStore
from storage.db import make_engine, migrate
from storage.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from models.embedder import TextEmbedder


def open_database(settings: Settings) -> Engine:
    """An engine on the configured database (default: SQLite under home), migrated to head."""
    url = settings.resolved_database_url()
    try:
        engine = make_engine(url)
        migrate(engine)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot open the database: {reason}") from exc
    return engine


def blob_store(settings: Settings) -> BlobStore:
    """Originals and page images, under ``<home>/blobs`` whatever the database is."""
    return BlobStore(settings.home / "blobs")


def load_embedder(settings: Settings) -> TextEmbedder:
    """The text embedder of the index, loaded once per process."""
    from models.embedder import get_embedder  # imports torch: only commands that embed pay it

    embed = settings.embed
    return get_embedder(device=embed.device, threads=embed.threads, batch=embed.batch)
