"""What a worker process holds: the database engine, blobs, OCR engine and embedder.

Built lazily on first use in each process, after the fork (a database connection or model
session inherited across fork() is shared by accident); rebuilt when the pid changes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, get_settings
from pipelines.chunk import ChunkParams
from pipelines.engine import OcrEngine
from pipelines.load import LoadParams
from storage.blobs import BlobStore
from storage.db import session_factory
from workers.context import (
    blob_store,
    build_engine,
    chunk_params,
    load_embedder,
    load_params,
    open_database,
)
from workers.ingest import IndexEmbedder


@dataclass
class WorkerState:
    """One process's handles; models load on first use."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    ocr: OcrEngine
    load: LoadParams
    chunk: ChunkParams
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerState:
        """Open (and migrate) the database; models are not loaded yet."""
        return cls(
            settings=settings,
            engine=open_database(settings),
            blobs=blob_store(settings),
            ocr=build_engine(settings),
            load=load_params(settings),
            chunk=chunk_params(settings),
        )

    @property
    def embedder(self) -> IndexEmbedder:
        """The text embedder, loaded on first use. (once per process: models.embedder caches it)."""
        return load_embedder(self.settings)


_state: WorkerState | None = None
_state_pid = 0
_state_lock = threading.Lock()


def worker_state() -> WorkerState:
    """This process's WorkerState, built on first use."""
    global _state, _state_pid
    with _state_lock:
        if _state is None or _state_pid != os.getpid():
            _state = WorkerState.from_settings(get_settings())
            _state_pid = os.getpid()
        return _state
