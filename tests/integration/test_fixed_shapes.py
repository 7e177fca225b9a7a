"""The GPU's fixed-shape runs (inputs padded to a few shapes, a session per shape) read what the
CPU's tightly padded runs read: checked here on the CPU, with the real PP-OCRv6 weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.detector import DetectorParams
from models.ort_sessions import SessionPerShape
from models.recognizer import WIDTH_LADDER
from pipelines.engine import EngineParams, OcrEngine
from tests.pagegen import text_page

LINES = [
    "Invoice 4471 from Harbor Supply Company",
    "Delivered to Springfield warehouse on March 3",
    "Total amount due 1,284.50 dollars",
    "Tel 555 0199",
    "Net 30",
]


def _engine(fixed: bool) -> OcrEngine:
    # as a GPU runs: fp32 detector, small for every line, no cap on a run's columns
    return OcrEngine(
        EngineParams(
            device="cpu",
            workers=1,
            fixed_shapes=fixed,
            cascade=None,
            rec_columns=1 << 30,
            detector=DetectorParams(precision="fp32"),
        )
    )


@pytest.mark.slow
def test_fixed_shapes_read_the_same_lines_as_tight_padding(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    text_page(LINES).save(path)
    fixed, tight = _engine(True), _engine(False)
    (page,) = list(fixed.read_path(path))
    (same,) = list(tight.read_path(path))
    norm = [re.sub(r"\s+", " ", line.text).strip() for line in page.lines]
    assert norm == LINES
    assert [line.text for line in page.lines] == [line.text for line in same.lines]
    for a, b in zip(page.lines, same.lines, strict=True):
        assert max(abs(p - q) for p, q in zip(a.bbox, b.bbox, strict=True)) <= 2
    models = fixed.models()
    recognizer = models.recognizer.session
    assert isinstance(recognizer, SessionPerShape)
    # every run was padded to the full batch and a ladder width: a session per ladder width used
    assert 1 <= len(recognizer.sessions()) <= len(WIDTH_LADDER)
    assert isinstance(models.detector.session, SessionPerShape)
    assert len(models.detector.session.sessions()) == 1
