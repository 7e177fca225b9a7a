"""onnxruntime sessions as scanrag makes them on a CPU: no memory pattern, same readings."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from models.detector import DetectorParams, TextDetector
from models.ort_sessions import make_session
from models.weights import PPOCR_V6_DET, verified_path
from tests.pagegen import scanned, text_page

LINES = ["Harbor Supply Company, invoice 4471", "Total amount due 1,284.50 dollars"]


def _quads(session: ort.InferenceSession, pages: list[np.ndarray]) -> list[np.ndarray]:
    det = TextDetector(session, DetectorParams())
    return [det.detect([page])[0].quads for page in pages]


@pytest.mark.slow
def test_cpu_sessions_run_without_a_memory_pattern_and_read_the_same() -> None:
    path = verified_path(PPOCR_V6_DET)
    session = make_session(path, device="cpu", threads=1)
    # the pattern would hold one block per input shape for all of a run's activations
    # (12 dense pages: peak RSS 1161 MB with it, 920 MB without; docs/BENCHMARKS.md)
    assert session.get_session_options().enable_mem_pattern is False

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    assert opts.enable_mem_pattern is True  # onnxruntime's default, the one scanrag turns off
    planned = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    # two page sizes, so the second run is a new shape for both sessions
    pages = [
        np.asarray(scanned(text_page(LINES, size=size, width=width)).convert("RGB"))
        for size, width in ((22, 1200), (30, 1500))
    ]
    ours, theirs = _quads(session, pages), _quads(planned, pages)
    assert [len(q) for q in ours] == [len(LINES), len(LINES)]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
