"""The OCR engine: models loaded once per process; ``OcrEngine.read`` reads an opened document
page by page, ``read_path`` and ``read_paths`` open files first."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.vocab import Alphabet
from models.detector import DetectorParams, TextDetector, get_detector
from models.layout_detector import RegionDetector, RegionParams, get_region_detector
from models.ort_sessions import cpu_count, resolve_device
from models.recognizer import CascadeParams, CascadeRecognizer, RecSpec, get_recognizer
from models.table_structure import get_table_model
from models.weights import SLANET_1M, verified_path
from pipelines.cores import Cores
from pipelines.load import LoadParams, OpenedDocument, open_document
from pipelines.ocr import (
    DocumentEvent,
    NoProgress,
    OcrParams,
    ProgressReporter,
    UprightSink,
    ocr_documents,
    ocr_pages,
)
from pipelines.read import Recognizer
from pipelines.tables import StructureLike, TableModel
from pipelines.types import PageResult

# On a CPU a recognizer run this wide (crops x padded width, in pixels) or narrower costs the
# least per pixel: wider batches spill the caches and allocate more (bench: rec batches).
CPU_REC_COLUMNS = 1024


@dataclass(frozen=True)
class EngineParams:
    """Where and how the models run, and the pipeline's parameters.

    ``workers`` (0: one per core on a CPU, one on a GPU) batches of pages are read at once;
    ``threads`` (0: the cores shared out among the workers) are each model's onnxruntime
    threads; ``rec_columns`` (0: CPU_REC_COLUMNS on a CPU, no cap on a GPU) caps a recognizer
    batch's width; ``alphabet`` (``western`` or ``all``) is what the recognizer may answer;
    ``regions`` configures the layout region model (None: no model, the row rules order every
    page); ``tables`` whether the table structure model reads the cells of table regions
    (only with ``regions``: it runs on the regions the layout model calls tables); ``cascade``
    when PP-OCRv6 tiny's reading of a line stands, on a CPU (None, or a GPU:
    small reads every line); ``fixed_shapes`` whether the detector and recognizer runs are
    padded to a few shapes, each run by a session of its own (None: on a GPU only, where
    onnxruntime's convolutions rebuild their plans whenever the shape changes; True on a CPU
    reads as a GPU would, to check its readings).
    """

    device: str = "auto"
    threads: int = 0
    workers: int = 0
    rec_batch: int = 32
    rec_columns: int = 0
    alphabet: Alphabet = "western"
    detector: DetectorParams = field(default_factory=DetectorParams)
    regions: RegionParams | None = field(default_factory=RegionParams)
    tables: bool = True
    cascade: CascadeParams | None = field(default_factory=CascadeParams)
    ocr: OcrParams = field(default_factory=OcrParams)
    fixed_shapes: bool | None = None


class Models(NamedTuple):
    """The networks one engine runs."""

    detector: TextDetector
    recognizer: Recognizer
    regions: RegionDetector | None
    tables: TableModel | None = None


class _TablesOnDemand:
    """The table structure model, loaded when the first table is read: most pages hold none,
    and a cold `scanrag ocr` of one page should not wait for it (0.2-0.35 s)."""

    def __init__(self, device: str, threads: int) -> None:
        self.device, self.threads = device, threads
        # the file is checked now (a hash, milliseconds): a missing or damaged model still
        # stops the command at start (core.errors.ModelError), not at its first table
        verified_path(SLANET_1M)

    def predict(self, crops: Sequence[np.ndarray]) -> Sequence[StructureLike]:
        return get_table_model(self.device, self.threads).predict(crops)


class OcrEngine:
    """A detector and recognizer on one device; models load on first use, behind a lock."""

    def __init__(self, params: EngineParams, cores: Cores | None = None) -> None:
        """``cores``: the cores it reads on (default: ``workers`` of its own)."""
        self.device = resolve_device(params.device)
        cpu = self.device == "cpu"
        workers = params.workers or (cpu_count() if cpu else 1)
        fixed = not cpu if params.fixed_shapes is None else params.fixed_shapes
        self.params = replace(
            params,
            workers=workers,
            fixed_shapes=fixed,
            detector=replace(params.detector, fixed_shapes=fixed),
            threads=params.threads or max(1, cpu_count() // workers),
            rec_columns=params.rec_columns or (CPU_REC_COLUMNS if cpu else 0),
            ocr=replace(params.ocr, workers=workers),
        )
        self._lock = threading.Lock()
        self._models: Models | None = None
        # documents read at once through read() (a batch ingest has one file in flight per
        # worker) share the workers: each alone would read `workers` batches at once, so two
        # ran twice the threads on the same cores and held twice the pages (300 dense pages
        # in six PDFs: ingest 0.867x OCR's pages/s, peak 1854 MB; docs/benchmarks-history.md)
        self.cores = cores or Cores(workers)

    def all_cores(self) -> AbstractContextManager[int]:
        """Hold every core this engine reads on: for work beside the reading that runs on all
        the cores itself (the text encoder's torch threads), so that reading pauses while it
        runs instead of sharing the cores with it. Yields how many cores were lent besides
        (``Cores.all``). On a GPU engine nothing is held."""
        return self.cores.all() if self.device == "cpu" else nullcontext(0)

    def models(self) -> Models:
        """The text detector, recognizer, layout and table models, loaded once (a missing or
        corrupt model file raises core.errors.ModelError)."""
        with self._lock:
            if self._models is None:
                p = self.params
                self._models = Models(
                    get_detector(device=self.device, threads=p.threads, params=p.detector),
                    self._recognizer(),
                    None
                    if p.regions is None
                    else get_region_detector(
                        device=self.device, threads=p.threads, params=p.regions
                    ),
                    _TablesOnDemand(self.device, p.threads)
                    if p.tables and p.regions is not None
                    else None,
                )
            return self._models

    def _recognizer(self) -> Recognizer:
        p = self.params
        small = RecSpec(
            self.device,
            p.threads,
            p.rec_batch,
            p.rec_columns,
            p.alphabet,
            "small",
            bool(p.fixed_shapes),
        )
        # on a GPU small's runs are cheap and a second pass is not: the cascade is for CPUs
        if p.cascade is None or self.device != "cpu":
            return get_recognizer(small)
        tiny = replace(small, size="tiny")
        return CascadeRecognizer(get_recognizer(tiny), get_recognizer(small), p.cascade)

    def read(
        self,
        document: OpenedDocument,
        *,
        source: str | None = None,
        progress: ProgressReporter = NoProgress(),
        start: int = 1,
        stop: int | None = None,
        upright: UprightSink | None = None,
    ) -> Iterator[PageResult]:
        """Pages ``start..stop`` (1-based, inclusive; default all) of an opened document, read,
        in page order; ``upright`` is given each page's upright image (pipelines.ocr)."""
        models = self.models()
        yield from ocr_pages(
            document.pages(start, stop),
            source=source or str(document.path),
            detector=models.detector,
            recognizer=models.recognizer,
            params=self.params.ocr,
            total=document.page_count,
            progress=progress,
            regions=models.regions,
            upright=upright,
            slots=self.cores,
            tables=models.tables,
        )

    def read_path(self, path: str | Path, load: LoadParams = LoadParams()) -> Iterator[PageResult]:
        """Open and read a file (raises a core.errors.BadInput subclass for bad input)."""
        yield from self.read(open_document(path, load), source=str(path))

    def read_paths(
        self,
        paths: Iterable[Path],
        load: LoadParams = LoadParams(),
        *,
        progress: ProgressReporter = NoProgress(),
    ) -> Iterator[DocumentEvent]:
        """Open and read many files, pages of consecutive files in flight together; events
        (``opened``, each ``page``, ``done`` or ``failed``) in file and page order."""
        models = self.models()
        yield from ocr_documents(
            ((str(path), partial(open_document, path, load)) for path in paths),
            detector=models.detector,
            recognizer=models.recognizer,
            params=self.params.ocr,
            progress=progress,
            regions=models.regions,
            tables=models.tables,
        )
