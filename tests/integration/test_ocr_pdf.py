"""Searchable PDFs from real readings: the OCR engine reads pages these tests make (a scan
PDF, one shown with /Rotate 90, a skewed scan, a JPEG) and the layer's text and word boxes,
read back with pdftotext, are what was read; `scanrag ocr --format pdf` writes one PDF per
input and refuses a damaged one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest

from bench.pdf import box_agreement, pdftotext, pdftotext_words, shown_words
from pipelines.engine import OcrEngine
from pipelines.load import LoadParams
from pipelines.pdf_layer import page_rotate, visible_box, write_searchable_pdf
from pipelines.types import PageResult
from tests.pagegen import scanned, text_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils"),
]

ROOT = Path(__file__).resolve().parents[2]
LINES = ["Dear Board members of the river", "The meeting moves to Friday at noon"]


def layered(engine: OcrEngine, src: Path, media_type: str, out: Path) -> list[PageResult]:
    pages = list(engine.read_path(src, LoadParams(dpi=200)))
    write_searchable_pdf(src, media_type, pages, out)
    res = subprocess.run(["qpdf", "--check", str(out)], capture_output=True, text=True)
    assert shutil.which("qpdf") is None or res.returncode == 0, res.stdout
    return pages


def assert_layer_matches(out: Path, pages: list[PageResult]) -> None:
    texts, boxes = pdftotext(out), pdftotext_words(out)
    with pikepdf.open(out) as pdf:
        for k, page in enumerate(pages):
            assert texts[k].split() == page.text.split()
            x0, y0, x1, y1 = visible_box(pdf.pages[k].obj)
            w, h = (
                (y1 - y0, x1 - x0)
                if page_rotate(pdf.pages[k].obj) in (90, 270)
                else (x1 - x0, y1 - y0)
            )
            good, total = box_agreement(
                shown_words(page, w, h), boxes[k], page.rotation % 180 == 90
            )
            assert total >= 10 and good >= 0.98 * total, (good, total)


def test_a_scanned_pdf_gets_its_reading(engine: OcrEngine, tmp_path: Path) -> None:
    src, out = tmp_path / "scan.pdf", tmp_path / "out.pdf"
    scanned(text_page(LINES), angle=0.5).save(src, resolution=200)
    pages = layered(engine, src, "application/pdf", out)
    assert pages[0].text.lower() == "\n".join(LINES).lower()
    assert_layer_matches(out, pages)


def test_a_rotate_90_page_lines_up_where_it_is_shown(engine: OcrEngine, tmp_path: Path) -> None:
    flat, src, out = tmp_path / "flat.pdf", tmp_path / "r90.pdf", tmp_path / "out.pdf"
    text_page(LINES).save(flat, resolution=200)
    with pikepdf.open(flat) as pdf:
        pdf.pages[0].obj.Rotate = 90
        pdf.save(src)
    pages = layered(engine, src, "application/pdf", out)
    assert pages[0].rotation in (90, 270) and pages[0].text.lower() == "\n".join(LINES).lower()
    assert_layer_matches(out, pages)


def test_a_skewed_scan_lines_up(engine: OcrEngine, tmp_path: Path) -> None:
    src, out = tmp_path / "skew.pdf", tmp_path / "out.pdf"
    scanned(text_page(LINES), angle=2.5).save(src, resolution=200)
    pages = layered(engine, src, "application/pdf", out)
    assert_layer_matches(out, pages)


def test_a_jpeg_becomes_a_page_of_its_size(engine: OcrEngine, tmp_path: Path) -> None:
    src, out = tmp_path / "photo.jpg", tmp_path / "out.pdf"
    text_page(LINES).save(src, quality=85, dpi=(150, 150))
    pages = layered(engine, src, "image/jpeg", out)
    assert_layer_matches(out, pages)
    with pikepdf.open(out) as pdf:
        assert float(pdf.pages[0].mediabox[2]) == pytest.approx(1400 * 72 / 150, abs=0.01)


def scanrag_ocr(*args: str) -> subprocess.CompletedProcess[str]:
    """``scanrag ocr ARGS`` in a fresh process, two OCR threads."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "ocr", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SCANRAG_OCR__THREADS": "2"},
        timeout=300,
    )


def test_cli_writes_one_pdf_per_input_and_refuses_a_damaged_one(tmp_path: Path) -> None:
    good, bad, out = tmp_path / "letter.png", tmp_path / "broken.pdf", tmp_path / "out"
    text_page(LINES).save(good)
    bad.write_bytes(b"%PDF-1.4\n" + bytes(300))
    res = scanrag_ocr("--format", "pdf", "--out", str(out), str(good), str(bad))
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.pdf" in lines[0] and "[corrupt_document]" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["letter.png.pdf"]
    assert pdftotext(out / "letter.png.pdf")[0].lower().split() == " ".join(LINES).lower().split()


def test_cli_pdfa_writes_pdfa_and_refuses_a_pdf_with_javascript(tmp_path: Path) -> None:
    good, bad, out = tmp_path / "letter.png", tmp_path / "script.pdf", tmp_path / "out"
    text_page(LINES).save(good)
    text_page(LINES).save(bad, resolution=200)
    with pikepdf.open(bad, allow_overwriting_input=True) as pdf:
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
        pdf.save(bad)
    res = scanrag_ocr("--format", "pdf", "--pdfa", "--out", str(out), str(good), str(bad))
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "script.pdf" in lines[0] and "JavaScript" in lines[0], lines
    assert lines[0].endswith("[not_pdfa]")
    assert sorted(p.name for p in out.iterdir()) == ["letter.png.pdf"]
    with pikepdf.open(out / "letter.png.pdf") as pdf:
        meta = pdf.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("2", "B")
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
    assert pdftotext(out / "letter.png.pdf")[0].lower().split() == " ".join(LINES).lower().split()
