"""The OCR engine: models loaded once per process, and ``read_document`` for a whole file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from models.detector import DetectorParams, get_detector
from models.recognizer import get_recognizer
from models.runtime import resolve_device
from pipelines.load import Document, LoadParams, open_document
from pipelines.ocr import NoProgress, OcrParams, ProgressReporter, ocr_pages
from pipelines.types import PageResult


@dataclass(frozen=True)
class EngineParams:
    """Where and how the models run, and the pipeline's parameters."""

    device: str = "auto"
    threads: int = 0
    rec_batch: int = 32
    detector: DetectorParams = field(default_factory=DetectorParams)
    ocr: OcrParams = field(default_factory=OcrParams)


class OcrEngine:
    """A detector and recognizer on one device; models load on first use, behind a lock."""

    def __init__(self, params: EngineParams) -> None:
        self.params = params
        self.device = resolve_device(params.device)
        self._lock = threading.Lock()
        self._models: tuple[object, object] | None = None

    def models(self) -> tuple[object, object]:
        """(detector, recognizer), loaded once."""
        with self._lock:
            if self._models is None:
                p = self.params
                self._models = (
                    get_detector(device=self.device, threads=p.threads, params=p.detector),
                    get_recognizer(device=self.device, threads=p.threads, batch=p.rec_batch),
                )
            return self._models

    def read(
        self,
        document: Document,
        *,
        source: str | None = None,
        progress: ProgressReporter = NoProgress(),
        start: int = 1,
        stop: int | None = None,
    ) -> Iterator[PageResult]:
        """Pages ``start..stop`` (1-based, inclusive; default all) of an opened document, read,
        in page order."""
        detector, recognizer = self.models()
        yield from ocr_pages(
            document.pages(start, stop),
            source=source or str(document.path),
            detector=detector,  # type: ignore[arg-type]
            recognizer=recognizer,  # type: ignore[arg-type]
            params=self.params.ocr,
            total=document.page_count,
            progress=progress,
        )

    def read_path(self, path: str | Path, load: LoadParams = LoadParams()) -> Iterator[PageResult]:
        """Open and read a file (raises a core.errors.BadInput subclass for bad input)."""
        yield from self.read(open_document(path, load), source=str(path))
