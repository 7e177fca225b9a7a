"""The recognizer narrowed to the western alphabet reads what the whole one reads."""

from __future__ import annotations

import numpy as np

from models.rec_head import in_alphabet
from models.recognizer import RecSpec, TextRecognizer, crop_quad
from tests.pagegen import text_page

LINE = "Invoice 4471: 12 valves, 3.5 m, Café Noël, total €98.40"


def test_western_alphabet_keeps_latin_and_symbols_only() -> None:
    western = in_alphabet("western")
    assert all(western(ch) for ch in "aZ09é€,:;ß°±→☑Ω")
    assert not any(western(ch) for ch in "中あア한")
    assert in_alphabet("all")("中")


def test_narrowed_recognizer_reads_the_same_line_as_the_whole_one() -> None:
    page = np.asarray(text_page([LINE]).convert("RGB"))
    ys, xs = np.nonzero(page.min(axis=2) < 128)
    pad = 8
    x0, y0, x1, y1 = xs.min() - pad, ys.min() - pad, xs.max() + pad, ys.max() + pad
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    crop = crop_quad(page, quad)
    whole = TextRecognizer.load(RecSpec("cpu", threads=1, batch=8, alphabet="all"))
    narrow = TextRecognizer.load(RecSpec("cpu", threads=1, batch=8, alphabet="western"))
    assert len(narrow.charset) < len(whole.charset) // 10
    (a,) = whole.recognize([crop])
    (b,) = narrow.recognize([crop])
    assert b.line.text == a.line.text == LINE
    assert abs(b.line.confidence - a.line.confidence) < 0.01
