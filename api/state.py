"""What the API process holds: settings, the database, blobs, the embedder (loaded on first
search), and the Celery app used to send tasks."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from core.logging import get_logger
from pipelines.load import LoadParams
from storage.blobs import BlobStore
from storage.db import session_factory
from workers.context import blob_store, load_embedder, load_params, open_database
from workers.ingest import IndexEmbedder

log = get_logger("api")


@dataclass
class ApiState:
    """The API's long-lived handles, built once at startup."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    load: LoadParams
    celery: Celery
    sessions: sessionmaker[Session] = field(init=False)
    _sqlite_writes: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    def writing(self) -> AbstractContextManager[object]:
        """Hold around a write transaction of a request. SQLite takes one writer at a time, and
        a connection that finds it busy polls with sleeps of 1 to 100 ms, so concurrent uploads
        would mostly sleep; on a lock the threads of this process take turns instead, each
        woken the moment the previous one committed. PostgreSQL needs no turns."""
        return self._sqlite_writes if self.engine.dialect.name == "sqlite" else nullcontext()

    @classmethod
    def build(cls, settings: Settings) -> ApiState:
        """Open (and migrate) the database, the blob store and the Celery app."""
        from workers.app import app as celery_app

        return cls(
            settings=settings,
            engine=open_database(settings),
            blobs=blob_store(settings),
            load=load_params(settings),
            celery=celery_app,
        )

    def warm_up(self) -> None:
        """Open what the first uploads would otherwise open while a client waits: a database
        connection, the broker connection of the task producer, the PDF library. A broker
        that is down is not an error here (readiness reports it)."""
        import pypdfium2

        with self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        pypdfium2.PdfDocument.new().close()
        try:
            with self.celery.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1)
        except Exception as exc:
            log.warning("broker not reachable at start", extra={"error": str(exc)[:200]})

    @property
    def embedder(self) -> IndexEmbedder:
        """The query embedder, loaded on first use (once per process: get_embedder caches it)."""
        return load_embedder(self.settings)
