"""The runtime: what one process holds, built once from the settings and shared by whoever runs
there (the CLI's commands, the Celery tasks, the API's routes).

The database engine and its sessions, the blob store, the loading, chunking and search
parameters, and, on first use, the OCR engine and the text embedder. A worker process builds its
runtime after the fork (``process_runtime``): a database connection or model session inherited
across fork() would be shared by accident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from pipelines.chunk import ChunkParams
from pipelines.cores import Cores
from pipelines.embed import Embedder
from pipelines.engine import OcrEngine
from pipelines.load import LoadParams
from storage.blobs import BlobStore
from storage.db import backend, session_factory
from workers.context import (
    SearchOptions,
    blob_store,
    build_ocr_engine,
    chunk_params,
    load_embedder,
    load_image_encoder,
    load_params,
    open_database,
    search_options,
)

if TYPE_CHECKING:
    from models.embedder import EncoderIdentity
    from models.image_encoder import ImageEncoder


class IndexEmbedder(Embedder, Protocol):
    """A text embedder the index can record (models.embedder.TextEmbedder is one)."""

    @property
    def identity(self) -> EncoderIdentity:
        """The model's name, weights' sha256 and dimension, stored with its vectors."""
        ...

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    max_length: int

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` as the embedder counts them (chunks are budgeted in these)."""
        ...


@dataclass
class Runtime:
    """One process's handles; the OCR engine and the embedder are built on first use, so a
    process that never reads or embeds (a listing, a run of duplicates) never loads them."""

    settings: Settings
    sql_engine: Engine
    blobs: BlobStore
    load: LoadParams
    chunk: ChunkParams
    search: SearchOptions
    sessions: sessionmaker[Session] = field(init=False, repr=False)
    _ocr: OcrEngine | None = field(default=None, init=False, repr=False)
    _embedder: IndexEmbedder | None = field(default=None, init=False, repr=False)
    _image_encoder: ImageEncoder | None = field(default=None, init=False, repr=False)
    _image_loaded: bool = field(default=False, init=False, repr=False)
    _cores: Cores | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # its own lock: the embedder may load in the background while the OCR engine is in use
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _sqlite_writes: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.sessions = session_factory(self.sql_engine)

    @classmethod
    def build(
        cls,
        settings: Settings,
        ocr: OcrEngine | None = None,
        embedder: IndexEmbedder | None = None,
        cores: Cores | None = None,
    ) -> Self:
        """Open (and migrate) the database and the blob store; models are not loaded yet.
        ``ocr``, ``embedder``: ones already built (the CLI loads its OCR models before opening
        the database, so a missing model file is reported first; tests share theirs).
        ``cores``: the cores the OCR engine it builds reads on (a worker's pool process: one,
        lent to and borrowed from its siblings; default: the engine's own)."""
        runtime = cls(
            settings=settings,
            sql_engine=open_database(settings),
            blobs=blob_store(settings),
            load=load_params(settings),
            chunk=chunk_params(settings),
            search=search_options(settings),
        )
        runtime._ocr, runtime._embedder, runtime._cores = ocr, embedder, cores
        return runtime

    @property
    def ocr(self) -> OcrEngine:
        """The OCR engine of the settings (its models load on first use)."""
        with self._lock:
            if self._ocr is None:
                self._ocr = build_ocr_engine(self.settings, cores=self._cores)
            return self._ocr

    @contextmanager
    def encoding(self) -> Iterator[int]:
        """Around running an encoder: the cores this process reads on (see
        ``OcrEngine.all_cores``), and more torch threads for any core a sibling worker process
        lent besides (workers/celery/sibling_cores.py; yields how many); nothing in a process
        that does not read."""
        with self._lock:
            engine = self._ocr
        if engine is not None:
            cores = engine.all_cores()
        elif self._cores is not None:
            cores = self._cores.all()
        else:
            cores = nullcontext(0)
        with cores as lent:
            if not lent:
                yield 0
                return
            from models.embedder import more_threads  # imports torch: as the encoder did

            with more_threads(lent):
                yield lent

    @property
    def embedder(self) -> IndexEmbedder:
        """The text embedder of the index, loaded on first use."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    @property
    def image_encoder(self) -> ImageEncoder | None:
        """The image encoder of the index (None: no image model configured), loaded on first
        use."""
        with self._embedder_lock:
            if not self._image_loaded:
                self._image_encoder = load_image_encoder(self.settings)
                self._image_loaded = True
            return self._image_encoder

    def preload(self, *, ocr: bool = False) -> threading.Thread:
        """Start loading the encoders (and, with ``ocr``, the OCR models first) in a background
        thread and return it.

        Loading torch and MiniLM takes ~3 CPU-seconds, mostly on one core; started while the
        OCR models load (one core busy, the other idle) it costs ingest no wall time, where
        loading it when the first document is indexed made every run ~3 s longer. A worker
        process loads everything as it starts, so its first document's tasks do not wait
        (4.2 s of a 50-page document's last task on an AVX-512 EPYC). A failure is not raised
        here: the first real use loads it again and raises it there.
        """

        def load() -> None:
            with suppress(Exception):
                if ocr:
                    self.ocr.models()
                _ = self.embedder
                _ = self.image_encoder

        thread = threading.Thread(target=load, name="models-load", daemon=True)
        thread.start()
        return thread

    def writing(self) -> AbstractContextManager[object]:
        """Hold around a write transaction that many threads of this process may start at once.

        SQLite takes one writer at a time, and a connection that finds it busy polls with sleeps
        of 1 to 100 ms, so concurrent writers would mostly sleep; on a lock the threads take
        turns instead, each woken the moment the previous one committed. PostgreSQL needs none.
        """
        return self._sqlite_writes if backend(self.sql_engine) == "sqlite" else nullcontext()

    def close(self) -> None:
        """Close the database connections (the process goes on without this runtime)."""
        self.sql_engine.dispose()
