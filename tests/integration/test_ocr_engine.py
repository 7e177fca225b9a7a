"""The real PP-OCRv6 weights on pages the tests typeset."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.engine import OcrEngine
from pipelines.load import LoadParams
from tests.pagegen import text_page, two_column_page

LINES = [
    "Invoice 4471 from Harbor Supply Company",
    "Delivered to Springfield warehouse on March 3",
    "Total amount due 1,284.50 dollars",
]

LEFT = (
    "The river board met on Monday to review the spring flood season. Water levels rose "
    "quickly after heavy rain in the northern valleys, and three bridges were closed for "
    "inspection. Engineers reported that the new levees held."
)
RIGHT = (
    "Budget planning for the coming year starts in May. The board expects higher costs for "
    "dredging and for repairs to the old pumping station near the harbor. Public hearings "
    "will be announced in the local papers."
)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def read_image(engine: OcrEngine, image: Image.Image, tmp_path: Path, name: str = "page.png"):
    path = tmp_path / name
    image.save(path)
    return list(engine.read_path(path))


@pytest.mark.slow
def test_reads_known_text_with_lines_and_words(engine: OcrEngine, tmp_path: Path) -> None:
    (page,) = read_image(engine, text_page(LINES), tmp_path)
    assert [norm(line.text) for line in page.lines] == [norm(t) for t in LINES]
    assert page.rotation == 0 and page.dpi is None and page.page == 1
    words = [w.text for w in page.words]
    assert words[:3] == ["Invoice", "4471", "from"]
    # "Springfield" was drawn on line 2 (y = 80 + 45): its box sits on that line
    spring = next(w for w in page.words if w.text == "Springfield")
    x0, y0, x1, y1 = spring.bbox
    assert 110 < (y0 + y1) / 2 < 150
    line2 = page.lines[1]
    assert line2.bbox[0] <= x0 < x1 <= line2.bbox[2]
    assert all(0.5 < w.confidence <= 1.0 for w in page.words)


@pytest.mark.slow
@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_pages_come_out_upright(engine: OcrEngine, tmp_path: Path, angle: int) -> None:
    upright = text_page(LINES)
    turned = upright.rotate(-angle, expand=True)  # PIL turns counter-clockwise
    (page,) = read_image(engine, turned, tmp_path)
    assert (page.rotation + angle) % 360 == 0
    assert (page.width, page.height) == upright.size
    assert [norm(line.text) for line in page.lines] == [norm(t) for t in LINES]


@pytest.mark.slow
def test_skewed_scan_reads_correctly(engine: OcrEngine, tmp_path: Path) -> None:
    skewed = text_page(LINES).rotate(3, expand=True, fillcolor="white")
    (page,) = read_image(engine, skewed, tmp_path)
    assert norm(page.text) == norm(" ".join(LINES))


@pytest.mark.slow
def test_two_column_page_reads_in_column_order(engine: OcrEngine, tmp_path: Path) -> None:
    (page,) = read_image(engine, two_column_page(LEFT, RIGHT), tmp_path)
    text = norm(page.text)
    assert text.startswith("annual report of the river board")
    assert page.blocks[0].kind == "title"
    left_at, right_at = text.find("the river board met"), text.find("budget planning")
    assert 0 < left_at < right_at
    assert text.find("new levees held") < right_at  # the whole left column comes first
    assert norm(LEFT) in text and norm(RIGHT) in text


@pytest.mark.slow
def test_pdf_pages_stream_in_order_at_dpi(engine: OcrEngine, tmp_path: Path) -> None:
    pages = [text_page([f"This is page number {n} of the report"]) for n in (1, 2, 3)]
    path = tmp_path / "report.pdf"
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=150)
    from pipelines.load import open_document

    results = list(engine.read(open_document(path, LoadParams(dpi=150))))
    assert [r.page for r in results] == [1, 2, 3]
    assert all(r.dpi == 150 for r in results)
    assert [norm(r.text) for r in results] == [
        f"this is page number {n} of the report" for n in (1, 2, 3)
    ]
    # boxes are pixels of the page rendered at 150 dpi (the same size as the source image)
    assert (results[0].width, results[0].height) == pages[0].size


@pytest.mark.slow
def test_blank_page_gives_no_lines(engine: OcrEngine, tmp_path: Path) -> None:
    (page,) = read_image(engine, Image.fromarray(np.full((600, 400, 3), 255, np.uint8)), tmp_path)
    assert page.lines == [] and page.text == ""
