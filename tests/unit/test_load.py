from pathlib import Path

import pytest
from PIL import Image

from core.errors import (
    CorruptDocument,
    EmptyFile,
    FileTooLarge,
    PageTooLarge,
    TooManyPages,
    UnsupportedType,
)
from pipelines import load
from pipelines.load import LoadParams, open_document, sniff


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"BM\x00\x00", "image/bmp"),
    ],
)
def test_sniff_decides_by_content(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_sniff_refuses_other_content() -> None:
    with pytest.raises(UnsupportedType):
        sniff(b"hello, I am a text file")


def test_extension_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"  # really a PNG
    Image.new("RGB", (40, 30), "white").save(path, format="PNG")
    doc = open_document(path)
    assert doc.media_type == "image/png"
    page = next(doc.pages())
    assert page.image.shape == (30, 40, 3) and page.dpi is None


def test_multipage_tiff_streams_every_page(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    frames = [Image.new("L", (50, 40 + i), 255) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    doc = open_document(path)
    assert doc.page_count == 3
    assert [p.image.shape[0] for p in doc.pages()] == [40, 41, 42]


def test_pdf_pages_render_at_dpi(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    pages = [Image.new("RGB", (850, 1100), "white") for _ in range(2)]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=100)
    for renderer in ("pdfium", "pdf2image"):
        doc = open_document(path, LoadParams(dpi=72, renderer=renderer))  # type: ignore[arg-type]
        shapes = [p.image.shape for p in doc.pages()]
        assert shapes == [(792, 612, 3)] * 2, renderer


def test_pdf_pages_stream_in_order_across_reopenings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the PDF is opened again every PAGES_PER_OPEN pages (pdfium's caches): no page is lost,
    # repeated or out of order at the seams, for any start and stop
    monkeypatch.setattr(load, "PAGES_PER_OPEN", 2)
    path = tmp_path / "doc.pdf"
    pages = [Image.new("L", (100, 100), 40 * k) for k in range(5)]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72)
    doc = open_document(path, LoadParams(dpi=72))
    for start, stop in [(1, 5), (2, 5), (2, 4), (4, 4), (5, None)]:
        got = list(doc.pages(start, stop))
        numbers = list(range(start, (stop or 5) + 1))
        assert [p.number for p in got] == numbers
        assert [round(p.image[50, 50, 0] / 40) for p in got] == [k - 1 for k in numbers]


def test_limits_and_damage(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFile):
        open_document(empty)
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300), "white").save(big)
    with pytest.raises(FileTooLarge):
        open_document(big, LoadParams(max_bytes=100))
    with pytest.raises(PageTooLarge):
        list(open_document(big, LoadParams(max_page_pixels=1000)).pages())
    tiff = tmp_path / "many.tif"
    frames = [Image.new("L", (20, 20), 255) for _ in range(3)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    with pytest.raises(TooManyPages):
        open_document(tiff, LoadParams(max_pages=2))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(CorruptDocument):
        open_document(broken)
    cut = tmp_path / "cut.png"
    cut.write_bytes(big.read_bytes()[:60])
    with pytest.raises(CorruptDocument):
        list(open_document(cut).pages())
