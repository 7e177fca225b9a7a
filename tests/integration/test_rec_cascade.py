"""PP-OCRv6 tiny first, small where tiny is unsure: the same reading as small alone, on clean
print mostly at tiny's cost (real weights, pages the test typesets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.recognizer import CascadeRecognizer, TextRecognizer
from pipelines.engine import EngineParams, OcrEngine
from pipelines.types import PageResult
from tests.pagegen import article_page, scanned, text_page

PARAS = [
    "The harbour commission met on Tuesday to settle the dredging budget for the coming "
    "year. Members agreed that the eastern channel must be cleared before the autumn storms.",
    "Shipping traffic rose by twelve percent in the last quarter, led by container vessels "
    "calling at the new terminal. Rail links to the terminal opened in March.",
]
FORM = [
    "Invoice 4471 from Harbor Supply Company",
    "Delivered to Springfield warehouse on March 3",
    "Qty 12 valves @ 8.40 = 100.80; Ref: HX-2291/B",
    "Total amount due 1,284.50 dollars",
]


class Counting:
    """Wraps a recognizer, counting the crops it reads."""

    def __init__(self, inner: TextRecognizer) -> None:
        self.inner, self.crops = inner, 0

    def recognize(self, crops):  # type: ignore[no-untyped-def]
        self.crops += len(crops)
        return self.inner.recognize(crops)


def read(engine: OcrEngine, path: Path) -> PageResult:
    (page,) = list(engine.read_path(path))
    return page


@pytest.fixture(scope="module")
def engines() -> tuple[OcrEngine, OcrEngine]:
    small = OcrEngine(EngineParams(device="cpu", workers=1, regions=None, cascade=None))
    cascade = OcrEngine(EngineParams(device="cpu", workers=1, regions=None))
    return small, cascade


@pytest.mark.parametrize("kind", ["article", "scanned form"])
def test_cascade_reads_what_small_reads(
    engines: tuple[OcrEngine, OcrEngine], tmp_path: Path, kind: str
) -> None:
    small, cascade = engines
    if kind == "article":
        image, _ = article_page("Port Gazette", "Dredging plans", PARAS, PARAS[::-1], "Fig 1", "2")
    else:
        # small print, tilted, coarse JPEG: tiny alone reads the ';' of line 3 as ':'
        image = scanned(text_page(FORM, size=14), angle=0.6, quality=35)
    path = tmp_path / "page.png"
    image.save(path)
    recognizer = cascade.models().recognizer
    assert isinstance(recognizer, CascadeRecognizer)
    counter = Counting(recognizer.accurate)
    recognizer.accurate = counter  # type: ignore[assignment]
    try:
        a, b = read(small, path), read(cascade, path)
    finally:
        recognizer.accurate = counter.inner
    assert len(a.lines) == len(b.lines) >= 4
    for x, y in zip(a.lines, b.lines, strict=True):
        assert y.text == x.text
        assert max(abs(p - q) for p, q in zip(x.bbox, y.bbox, strict=True)) <= 2
    for x, y in zip(a.words, b.words, strict=True):
        assert y.text == x.text
        # word boxes come from the CTC time steps of whichever net read the line
        assert max(abs(p - q) for p, q in zip(x.bbox, y.bbox, strict=True)) <= 12
    if kind == "article":
        assert counter.crops < len(b.lines) / 2  # tiny's reading stood for most lines
