"""The searchable PDF writer on PDFs and images these tests make: the page keeps its content
and gains our words, invisible, where they are on the page; pdftotext and pdftotext -bbox read
them back; qpdf finds the file valid. Word boxes come from where the text was drawn."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageDraw

from bench.pdf import box_agreement, pdftotext, pdftotext_words, shown_words
from core.errors import CorruptDocument
from pipelines.glyphless_font import glyphless_ttf
from pipelines.pdf_layer import PdfParams, write_searchable_pdf
from pipelines.types import Block, PageResult, TextLine, Word
from tests.pagegen import font

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")

LINES = ["Quarterly report of the river board", "Water levels rose by 12 percent"]


def drawn_page(lines: list[str] = LINES, size: int = 40) -> tuple[Image.Image, list[list[Word]]]:
    """A white page with ``lines`` typeset, and each word's box as drawn."""
    f = font(size)
    img = Image.new("RGB", (1600, 400 + 80 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    words: list[list[Word]] = []
    for i, line in enumerate(lines):
        x: float = 100
        y = 120 + 80 * i
        row = []
        for text in line.split():
            x0, _, x1, _ = draw.textbbox((x, y), text, font=f)
            draw.text((x, y), text, fill="black", font=f)
            row.append(Word(text, (x0, y - 2, x1, y + size + 6), 0.99))
            x = x1 + draw.textlength(" ", font=f)
        words.append(row)
    return img, words


def result(words: list[list[Word]], width: int, height: int, rotation: int = 0) -> PageResult:
    lines = tuple(
        TextLine(" ".join(w.text for w in row), _union(row), 0.99, tuple(row)) for row in words
    )
    block = Block("text", _union([w for row in words for w in row]), lines)
    return PageResult("test", 1, width, height, 200, rotation, (block,))


def _union(words: list[Word]) -> tuple[float, float, float, float]:
    return (
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    )


def turned(words: list[list[Word]], width: int, height: int) -> list[list[Word]]:
    """Word boxes of an image turned 90 degrees clockwise (``width`` x ``height`` before)."""
    return [
        [Word(w.text, (height - w.bbox[3], w.bbox[0], height - w.bbox[1], w.bbox[2]), 1) for w in r]
        for r in words
    ]


def scan_pdf(img: Image.Image, path: Path, dpi: int = 200) -> Path:
    img.save(path, "PDF", resolution=dpi)
    return path


def qpdf_ok(path: Path) -> None:
    if shutil.which("qpdf"):
        res = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    with pikepdf.open(path) as pdf:
        assert not pdf.check_pdf_syntax()


def boxes_agree(page: PageResult, path: Path, shown: tuple[float, float]) -> None:
    (theirs,) = pdftotext_words(path)
    vertical = page.rotation % 180 == 90
    good, total = box_agreement(shown_words(page, *shown), theirs, vertical)
    assert total == len(page.words) and good == total, (good, total, theirs)


def test_the_font_is_a_two_glyph_truetype_file() -> None:
    ttf = glyphless_ttf()
    assert ttf[:4] == b"\x00\x01\x00\x00" and len(ttf) < 1200


def test_pdf_page_keeps_its_image_and_gains_the_text_in_order(tmp_path: Path) -> None:
    img, words = drawn_page()
    src = scan_pdf(img, tmp_path / "scan.pdf")
    page = result(words, *img.size)
    out = tmp_path / "out.pdf"
    summary = write_searchable_pdf(src, "application/pdf", [page], out)
    assert summary.layered == 1 and summary.words == sum(len(r) for r in words)
    qpdf_ok(out)
    assert pdftotext(out)[0].split("\n")[:2] == LINES
    assert pdftotext(out)[0].split() == page.text.split()
    boxes_agree(page, out, (img.width * 72 / 200, img.height * 72 / 200))
    with pikepdf.open(src) as a, pikepdf.open(out) as b:
        (image_a,) = a.pages[0].get_images().values()
        (image_b,) = b.pages[0].get_images().values()
        assert image_a.read_raw_bytes() == image_b.read_raw_bytes()  # not re-encoded
        assert list(a.pages[0].mediabox) == list(b.pages[0].mediabox)


def test_a_rotate_90_page_and_a_page_read_turned(tmp_path: Path) -> None:
    img, words = drawn_page()
    src = tmp_path / "r90.pdf"
    with pikepdf.open(scan_pdf(img, tmp_path / "flat.pdf")) as pdf:
        pdf.pages[0].obj.Rotate = 90
        pdf.save(src)
    # shown turned 90 degrees clockwise; our reader turned it back (rotation 270) to read it
    page = result(words, *img.size, rotation=270)
    out = tmp_path / "out.pdf"
    write_searchable_pdf(src, "application/pdf", [page], out)
    qpdf_ok(out)
    with pikepdf.open(out) as pdf:
        assert int(pdf.pages[0].obj.Rotate) == 90
    assert pdftotext(out)[0].split() == page.text.split()
    boxes_agree(page, out, (img.height * 72 / 200, img.width * 72 / 200))


def test_a_sideways_image_read_upright(tmp_path: Path) -> None:
    img, words = drawn_page()
    side = img.rotate(90, expand=True)  # the text runs up the page
    src = tmp_path / "side.png"
    side.save(src, dpi=(300, 300))
    # turned 90 clockwise it reads: the boxes are those of the upright drawing
    page = result(words, *img.size, rotation=90)
    out = tmp_path / "out.pdf"
    write_searchable_pdf(src, "image/png", [page], out)
    qpdf_ok(out)
    # (poppler's own order puts lines running up the page last first: the content order is ours)
    assert pdftotext(out, raw=True)[0].split() == page.text.split()
    boxes_agree(page, out, (side.width * 72 / 300, side.height * 72 / 300))


def test_image_inputs_keep_their_pixels_and_size(tmp_path: Path) -> None:
    img, words = drawn_page()
    page = result(words, *img.size)
    jpg, png, tif = tmp_path / "a.jpg", tmp_path / "a.png", tmp_path / "a.tif"
    palette, grey = tmp_path / "p.png", tmp_path / "g.png"
    img.save(jpg, quality=80, dpi=(150, 150))
    img.save(png, dpi=(300, 300))
    img.convert("L").save(tif, compression="tiff_lzw")
    img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(palette, dpi=(300, 300))
    img.convert("L").save(grey, dpi=(300, 300))
    inputs = [(jpg, "image/jpeg"), (png, "image/png"), (tif, "image/tiff")]
    inputs += [(palette, "image/png"), (grey, "image/png")]
    for src, mt in inputs:
        out = tmp_path / (src.name + ".pdf")
        write_searchable_pdf(src, mt, [page], out)
        qpdf_ok(out)
        assert pdftotext(out)[0].split() == page.text.split()
        with pikepdf.open(out) as pdf:
            pg = pdf.pages[0]
            image = next(iter(pg.get_images().values()))
            dpi = {jpg: 150, tif: 200}.get(src, 300)  # the TIFF names none: the default
            assert float(pg.mediabox[2]) == pytest.approx(img.width * 72 / dpi, abs=0.01)
            if src == jpg:
                assert image.read_raw_bytes() == jpg.read_bytes()  # DCT as it was
            else:
                assert isinstance(image, pikepdf.Stream)
                decoded = pikepdf.PdfImage(image).as_pil_image().convert("RGB")
                want = Image.open(src).convert("RGB")
                assert decoded.tobytes() == want.tobytes()  # lossless
                if src.suffix == ".png":  # the PNG's own compressed data, not decoded
                    assert image.get("/DecodeParms") is not None
        boxes_agree(page, out, (img.width * 72 / dpi, img.height * 72 / dpi))


def test_a_skewed_line_is_one_line_in_order(tmp_path: Path) -> None:
    img, words = drawn_page(["one two three four five six seven eight nine ten"])
    skewed = img.rotate(-3, expand=False, fillcolor="white", center=(0, 0))
    # the word boxes of the turned drawing: each word's box moved down the slope
    import math

    slope = math.tan(math.radians(3))
    row = [
        Word(
            w.text,
            (w.bbox[0], w.bbox[1] + w.bbox[0] * slope, w.bbox[2], w.bbox[3] + w.bbox[2] * slope),
            1,
        )
        for w in words[0]
    ]
    src = scan_pdf(skewed, tmp_path / "skew.pdf")
    page = result([row], *skewed.size)
    out = tmp_path / "out.pdf"
    write_searchable_pdf(src, "application/pdf", [page], out)
    assert pdftotext(out)[0].split() == page.text.split()
    boxes_agree(page, out, (skewed.width * 72 / 200, skewed.height * 72 / 200))


def born_digital(path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    helv = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=helv))
    page.obj.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 700 Td (Typeset words) Tj ET")
    pdf.save(path)


def test_a_born_digital_page_is_left_alone_unless_asked(tmp_path: Path) -> None:
    src = tmp_path / "digital.pdf"
    born_digital(src)
    page = result([[Word("Reread", (200, 200, 400, 260), 1)]], 1700, 2200)
    out = tmp_path / "out.pdf"
    summary = write_searchable_pdf(src, "application/pdf", [page], out)
    assert summary.left_alone == 1 and summary.layered == 0
    assert pdftotext(out)[0].strip() == "Typeset words"
    write_searchable_pdf(src, "application/pdf", [page], out, PdfParams(reread_text_pages=True))
    assert "Reread" in pdftotext(out)[0]


def test_outline_and_metadata_are_kept(tmp_path: Path) -> None:
    img, words = drawn_page()
    src = tmp_path / "book.pdf"
    with pikepdf.open(scan_pdf(img, tmp_path / "flat.pdf")) as pdf:
        pdf.docinfo["/Title"] = "River Board"
        with pdf.open_outline() as outline:
            outline.root.append(pikepdf.OutlineItem("Chapter one", 0))
        pdf.save(src)
    out = tmp_path / "out.pdf"
    write_searchable_pdf(src, "application/pdf", [result(words, *img.size)], out)
    with pikepdf.open(out) as pdf:
        assert str(pdf.docinfo["/Title"]) == "River Board"
        with pdf.open_outline() as outline:
            assert [item.title for item in outline.root] == ["Chapter one"]


def test_a_damaged_pdf_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "bad.pdf"
    src.write_bytes(b"%PDF-1.4\n" + bytes(200))
    with pytest.raises(CorruptDocument):
        write_searchable_pdf(src, "application/pdf", [], io.BytesIO())
