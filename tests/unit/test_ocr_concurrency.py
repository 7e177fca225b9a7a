"""The concurrent page scheduler: results in order, bounded look-ahead, failures per document."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.errors import CorruptDocument
from models.detector import DetectionResult
from models.recognizer import Recognition
from pipelines.engine import EngineParams, Models, OcrEngine
from pipelines.load import OpenedDocument, RasterPage
from pipelines.ocr import OcrParams, ocr_documents, ocr_pages, run_ordered


def test_run_ordered_yields_in_task_order_whatever_finishes_first() -> None:
    def task(k: int) -> object:
        def run() -> list[int]:
            time.sleep(0.02 * (5 - k))  # early tasks finish last
            return [k, k]

        return run

    tasks = [task(k) for k in range(5)] + [[99]]
    assert list(run_ordered(tasks, workers=3)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 99]  # type: ignore[arg-type]


def test_run_ordered_keeps_at_most_twice_the_workers_tasks_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def task(k: int) -> object:
        def run() -> list[int]:
            with lock:
                started.append(k)
            return [k]

        return run

    seen = []
    for k in run_ordered((task(k) for k in range(20)), workers=2):  # type: ignore[arg-type]
        with lock:
            seen.append((k, len(started)))
    assert [k for k, _ in seen] == list(range(20))
    assert all(n <= k + 1 + 4 for k, n in seen)


def test_a_slow_first_task_does_not_leave_the_other_worker_idle() -> None:
    done: list[int] = []
    release = threading.Event()

    def task(k: int) -> object:
        def run() -> list[int]:
            if k == 0:
                release.wait(5)  # the head is slow: released once the others are through
            done.append(k)
            if len(done) == 3:
                release.set()
            return [k]

        return run

    out = list(run_ordered((task(k) for k in range(8)), workers=2))  # type: ignore[arg-type]
    assert out == list(range(8))
    # tasks 1-3 ran while task 0 was held (with only workers + 1 ahead, 1 and 2 could)
    assert done[:3] == [1, 2, 3]


def test_run_ordered_raises_a_task_error_in_its_turn() -> None:
    def boom() -> list[int]:
        raise RuntimeError("boom")

    out = []
    with pytest.raises(RuntimeError, match="boom"):
        for k in run_ordered([lambda: [1], boom, lambda: [3]], workers=2):
            out.append(k)
    assert out == [1]


class _Detector:
    """One line box in the middle of every page."""

    def detect(self, images: list[np.ndarray]) -> list[DetectionResult]:
        quad = np.array([[[10, 10], [90, 10], [90, 30], [10, 30]]], dtype=np.float32)
        return [DetectionResult(quad, np.ones(1, np.float32)) for _ in images]


class _Recognizer:
    """Reads each crop as the page's grey level (pages are told apart by their colour)."""

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        from models.ctc import ctc_greedy_decode

        out = []
        for crop in crops:
            level = int(crop.mean())
            charset = list(f"p{level}")
            probs = np.zeros((1, len(charset) * 2, len(charset) + 2), np.float32)
            for t, c in enumerate(range(1, len(charset) + 1)):
                probs[0, 2 * t, c] = 1.0
                probs[0, 2 * t + 1, 0] = 1.0
            out.append(Recognition(ctc_greedy_decode(probs, charset)[0], float(crop.shape[1])))
        return out


class _Doc(OpenedDocument):
    def __init__(self, levels: list[int], fail_at: int | None = None) -> None:
        self.levels, self.fail_at = levels, fail_at
        self.page_count = len(levels)

    def pages(self, start: int = 1, stop: int | None = None):  # type: ignore[no-untyped-def]
        for n, level in enumerate(self.levels, start=1):
            if n == self.fail_at:
                raise CorruptDocument("page cannot be decoded")
            yield RasterPage(n, np.full((100, 100, 3), level, np.uint8), None)


PARAMS = OcrParams(workers=2, orientation=False)


def test_pages_of_one_document_come_back_in_order() -> None:
    levels = [10 * k for k in range(1, 10)]
    results = list(
        ocr_pages(
            _Doc(levels).pages(),
            source="d",
            detector=_Detector(),
            recognizer=_Recognizer(),
            params=PARAMS,
        )
    )
    assert [r.page for r in results] == list(range(1, 10))
    assert [r.text for r in results] == [f"p{v}" for v in levels]


def test_a_failing_document_fails_alone_and_the_next_is_read() -> None:
    docs = [
        ("a", lambda: _Doc([11, 12])),
        ("bad", lambda: _Doc([21, 22, 23], fail_at=2)),
        ("unopenable", lambda: (_ for _ in ()).throw(CorruptDocument("not a PDF"))),
        ("c", lambda: _Doc([31])),
    ]
    events = list(
        ocr_documents(docs, detector=_Detector(), recognizer=_Recognizer(), params=PARAMS)  # type: ignore[arg-type]
    )
    summary = [(e.source, e.kind, e.page.text if e.page else None) for e in events]
    assert summary == [
        ("a", "opened", None),
        ("a", "page", "p11"),
        ("a", "page", "p12"),
        ("a", "done", None),
        ("bad", "opened", None),
        ("bad", "page", "p21"),
        ("bad", "failed", None),
        ("unopenable", "failed", None),
        ("c", "opened", None),
        ("c", "page", "p31"),
        ("c", "done", None),
    ]
    assert isinstance(events[6].error, CorruptDocument)


class _CountingDetector(_Detector):
    """Counts the batches detected at the same time; each waits a moment for company."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0

    def detect(self, images: list[np.ndarray]) -> list[DetectionResult]:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.05)
        with self.lock:
            self.active -= 1
        return super().detect(images)


@pytest.mark.parametrize("shared", [True, False])
def test_documents_read_at_once_share_the_workers(shared: bool) -> None:
    # a batch ingest reads one file per worker at once: with the engine's slots the two
    # documents read 2 batches at a time between them, without them each read its own 2
    detector = _CountingDetector()
    slots = threading.BoundedSemaphore(2) if shared else None
    texts: dict[str, list[str]] = {}

    def read(name: str, levels: list[int]) -> None:
        pages = ocr_pages(
            _Doc(levels).pages(),
            source=name,
            detector=detector,
            recognizer=_Recognizer(),
            params=PARAMS,
            slots=slots,
        )
        texts[name] = [r.text for r in pages]

    readers = [
        threading.Thread(target=read, args=(name, [base + k for k in range(8)]))
        for name, base in (("a", 10), ("b", 30))
    ]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert texts == {n: [f"p{b + k}" for k in range(8)] for n, b in (("a", 10), ("b", 30))}
    # shared: never more than the workers; alone, each document filled its own (up to 4)
    assert detector.most == 2 if shared else detector.most > 2


def test_an_encoder_holding_all_cores_pauses_the_reading() -> None:
    # a batch ingest embeds one file while it reads the next: the encoder's torch threads take
    # every core, so the reading waits for them instead of sharing the cores
    engine = OcrEngine(EngineParams(device="cpu", workers=2, regions=None, ocr=PARAMS))
    detector = _CountingDetector()
    engine._models = Models(detector, _Recognizer(), None)  # type: ignore[arg-type]
    texts: list[str] = []
    started = threading.Event()
    during: list[int] = []

    def read() -> None:
        for result in engine.read(_Doc([40 + k for k in range(40)]), source="a"):
            texts.append(result.text)
            started.set()

    def encode() -> None:
        started.wait()
        with engine.all_cores():
            during.append(detector.active)  # the batches being read when it asked have ended
            time.sleep(0.2)
            during.append(detector.active)  # and none has started since

    threads = [threading.Thread(target=f) for f in (read, encode)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts == [f"p{40 + k}" for k in range(40)]
    assert during == [0, 0]
    assert detector.most <= 2
