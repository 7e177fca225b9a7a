"""The runtime: what one process holds, built once from the settings and shared by whoever runs
there (the CLI's commands, the Celery tasks, the API's routes).

The database engine and its sessions, the blob store, the loading, chunking, search and image
parameters, and, on first use, the OCR engine and the encoders. A worker process builds its
runtime after the fork (``process_runtime``): a database connection or model session inherited
across fork() would be shared by accident. A command that stores nothing (``scanrag ocr``,
``scanrag encode``) builds one without the stores: no database is opened, no folder made.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Self

from core.config import Settings
from pipelines.chunk import ChunkParams
from pipelines.cores import Cores
from pipelines.embed import Embedder
from pipelines.encode import ImageLimits
from pipelines.engine import OcrEngine
from pipelines.load import LoadParams
from storage.blobs import BlobStore
from workers.context import (
    SearchOptions,
    blob_store,
    build_ocr_engine,
    check_models,
    chunk_params,
    image_limits,
    load_embedder,
    load_image_encoder,
    load_params,
    load_query_embedder,
    open_database,
    search_options,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

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
    process that never reads or embeds (a listing, a run of duplicates) never loads them, and
    the stores (database, blobs) on ``open`` (``build`` opens them unless told not to)."""

    settings: Settings
    load: LoadParams
    chunk: ChunkParams
    search: SearchOptions
    images: ImageLimits
    _sql_engine: Engine | None = field(default=None, init=False, repr=False)
    _sessions: sessionmaker[Session] | None = field(default=None, init=False, repr=False)
    _blobs: BlobStore | None = field(default=None, init=False, repr=False)
    _stores_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _queries: bool = field(default=False, init=False, repr=False)
    _ocr: OcrEngine | None = field(default=None, init=False, repr=False)
    _embedder: IndexEmbedder | None = field(default=None, init=False, repr=False)
    _image_encoder: ImageEncoder | None = field(default=None, init=False, repr=False)
    _image_loaded: bool = field(default=False, init=False, repr=False)
    _cores: Cores | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # its own lock: the embedder may load in the background while the OCR engine is in use
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _sqlite_writes: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        ocr: OcrEngine | None = None,
        embedder: IndexEmbedder | None = None,
        cores: Cores | None = None,
        *,
        stores: bool = True,
        queries: bool = False,
    ) -> Self:
        """The runtime of ``settings``: the database opened (and migrated) and the blob store,
        unless ``stores`` is False; models are not loaded yet.
        ``ocr``, ``embedder``: ones already built (tests share theirs).
        ``cores``: the cores the OCR engine it builds reads on (a worker's pool process: one,
        lent to and borrowed from its siblings; default: the engine's own).
        ``stores`` False: the stores are opened by ``open`` or on first use instead (the CLI
        loads its OCR models first, so a missing model file is reported before anything is
        stored; a command that only reads or encodes never opens them).
        ``queries``: the process embeds a query or two (``scanrag search``), so its text
        embedder is the query encoder (``workers.context.load_query_embedder``: no torch)."""
        runtime = cls(
            settings=settings,
            load=load_params(settings),
            chunk=chunk_params(settings),
            search=search_options(settings),
            images=image_limits(settings),
        )
        runtime._ocr, runtime._embedder, runtime._cores = ocr, embedder, cores
        runtime._queries = queries
        if stores:
            runtime.open()
        return runtime

    def open(self) -> None:
        """Open (and migrate) the database, then the blob store, where not open yet (raises
        storage.errors.DatabaseUnavailable)."""
        from storage.db import session_factory  # sqlalchemy: only where the stores open

        with self._stores_lock:
            if self._sql_engine is None:
                engine = open_database(self.settings)
                self._sessions = session_factory(engine)
                self._sql_engine = engine
            if self._blobs is None:
                self._blobs = blob_store(self.settings)

    @property
    def sql_engine(self) -> Engine:
        """The database engine (opened and migrated on first use)."""
        if self._sql_engine is None:
            self.open()
        assert self._sql_engine is not None
        return self._sql_engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The sessions of the database (opened and migrated on first use)."""
        if self._sessions is None:
            self.open()
        assert self._sessions is not None
        return self._sessions

    @property
    def blobs(self) -> BlobStore:
        """Originals and page images (the stores are opened on first use)."""
        if self._blobs is None:
            self.open()
        assert self._blobs is not None
        return self._blobs

    def check_models(self) -> None:
        """Check that every model file the settings name is installed and intact, without
        loading any (``workers.context.check_models``: raises core.errors.ModelError)."""
        check_models(self.settings)

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
                self._embedder = (
                    load_query_embedder(self.settings)
                    if self._queries
                    else load_embedder(self.settings)
                )
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
        from storage.db import backend

        return self._sqlite_writes if backend(self.sql_engine) == "sqlite" else nullcontext()

    def close(self) -> None:
        """Close the database connections, if open (the process goes on without this
        runtime)."""
        if self._sql_engine is not None:
            self._sql_engine.dispose()
