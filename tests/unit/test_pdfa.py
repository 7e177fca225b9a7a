"""PDF/A-2b output (``PdfParams(pdfa=True)``, ``scanrag ocr --format pdf --pdfa``): the XMP
identifies PDF/A-2b and carries the Info fields, an sRGB output intent, our font embedded with
its ToUnicode map, a trailer ID, PDF 1.7, qpdf finds the file valid and the text still reads
back; inputs PDF/A forbids are refused, LZW is re-encoded. (veraPDF, the reference validator,
runs in ``bench/pdf.py --verapdf``: CI has none.)"""

from __future__ import annotations

import io
import shutil
import subprocess
import zlib
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from pipelines.pdf_layer import PdfParams, write_searchable_pdf
from pipelines.pdfa import NotPdfA, check_input
from pipelines.types import Block, PageResult, TextLine, Word

PDFA = PdfParams(pdfa=True)


def reading(name: str, width: int, height: int) -> PageResult:
    words = (
        Word("Pumping", (100, 100, 300, 140), 0.9),
        Word("station", (320, 100, 500, 140), 0.9),
    )
    line = TextLine("Pumping station", (100, 100, 500, 140), 0.9, words)
    return PageResult(name, 1, width, height, 200, 0, (Block("text", line.bbox, (line,)),))


def scan_pdf(path: Path, rotate: int = 0, **extra_root: object) -> None:
    """A one-page image-only PDF (a grey JPEG), with ``/Rotate`` and catalog entries."""
    buf = io.BytesIO()
    Image.new("L", (800, 600), 230).save(buf, "JPEG")
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(288, 216))
    page = pdf.pages[0]
    image = pikepdf.Stream(pdf, buf.getvalue())
    image.Filter = pikepdf.Name.DCTDecode
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 800, 600, 8
    image.ColorSpace = pikepdf.Name.DeviceGray
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 288 0 0 216 0 0 cm /Im0 Do Q")
    if rotate:
        page.obj.Rotate = rotate
    for key, value in extra_root.items():
        pdf.Root[f"/{key}"] = value
    pdf.docinfo["/Title"] = "River board"
    pdf.save(path)


def assert_pdfa(out: Path) -> None:
    """What PDF/A-2b asks of our output, read back with pikepdf (and qpdf --check)."""
    assert out.read_bytes().startswith(b"%PDF-1.7\n%")
    with pikepdf.open(out) as pdf:
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert "/Filter" not in pdf.Root.Metadata
        assert pdf.trailer.get("/ID") is not None and "/Encrypt" not in pdf.trailer
        (intent,) = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        profile = intent.DestOutputProfile
        icc = profile.read_bytes()
        assert int(profile.N) == 3 and icc[36:40] == b"acsp" and icc[16:20] == b"RGB "
        assert icc[12:16] in (b"mntr", b"prtr") and icc[8] < 5
        # the Info dictionary's fields are in the XMP too
        for key, prop in (("/Title", "dc:title"), ("/Producer", "pdf:Producer")):
            if key in pdf.docinfo:
                assert meta[prop] == str(pdf.docinfo[key])
        for page in pdf.pages:
            font = page.obj.Resources.Font["/FScanragText"]
            assert "/ToUnicode" in font
            (cid_font,) = font.DescendantFonts
            descriptor = cid_font.FontDescriptor
            program = descriptor.FontFile2.read_bytes()
            assert program[:4] == b"\x00\x01\x00\x00" and int(descriptor.FontFile2.Length1) == len(
                program
            )
            assert "/CIDSet" not in descriptor and "/CIDToGIDMap" in cid_font
    if shutil.which("qpdf"):
        res = subprocess.run(["qpdf", "--check", str(out)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert text.split() == ["Pumping", "station"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_an_image_becomes_pdfa(tmp_path: Path, fmt: str) -> None:
    src, out = tmp_path / f"page.{fmt.lower()}", tmp_path / "out.pdf"
    Image.new("RGB", (800, 600), "white").save(src, fmt, dpi=(200, 200))
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}[fmt]
    write_searchable_pdf(src, mime, [reading(src.name, 800, 600)], out, PDFA)
    assert_pdfa(out)


def test_a_rotated_scan_pdf_becomes_pdfa_and_keeps_its_title(tmp_path: Path) -> None:
    src, out = tmp_path / "scan.pdf", tmp_path / "out.pdf"
    scan_pdf(src, rotate=90)
    write_searchable_pdf(src, "application/pdf", [reading("scan.pdf", 600, 800)], out, PDFA)
    assert_pdfa(out)
    with pikepdf.open(out) as pdf:
        assert int(pdf.pages[0].Rotate) == 90
        assert str(pdf.docinfo.Title) == "River board"
        assert pdf.open_metadata()["dc:title"] == "River board"


def test_without_the_option_nothing_claims_pdfa(tmp_path: Path) -> None:
    src, out = tmp_path / "scan.pdf", tmp_path / "out.pdf"
    scan_pdf(src)
    write_searchable_pdf(src, "application/pdf", [reading("scan.pdf", 800, 600)], out)
    with pikepdf.open(out) as pdf:
        assert "/OutputIntents" not in pdf.Root and "/Metadata" not in pdf.Root


def test_javascript_is_refused(tmp_path: Path) -> None:
    src, out = tmp_path / "js.pdf", tmp_path / "out.pdf"
    action = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    scan_pdf(src, OpenAction=action)
    with pytest.raises(NotPdfA, match="JavaScript"):
        write_searchable_pdf(src, "application/pdf", [reading("js.pdf", 800, 600)], out, PDFA)
    assert not out.exists()
    # without --pdfa the same file is written as before
    write_searchable_pdf(src, "application/pdf", [reading("js.pdf", 800, 600)], out)
    assert out.exists()


def test_a_font_not_embedded_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "born.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
    )
    pdf.pages[0].obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    pdf.pages[0].obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET")
    pdf.save(src)
    with pikepdf.open(src) as opened:
        assert check_input(opened) == ["the font Helvetica is not embedded"]


def test_a_cmyk_jpeg_is_refused(tmp_path: Path) -> None:
    src, out = tmp_path / "cmyk.jpg", tmp_path / "out.pdf"
    Image.new("CMYK", (400, 300), (0, 0, 0, 20)).save(src, "JPEG")
    with pytest.raises(NotPdfA, match="CMYK"):
        write_searchable_pdf(src, "image/jpeg", [reading("cmyk.jpg", 400, 300)], out, PDFA)


def test_lzw_is_reencoded_losslessly(tmp_path: Path) -> None:
    src, out = tmp_path / "lzw.pdf", tmp_path / "out.pdf"
    scan_pdf(src)
    with pikepdf.open(src, allow_overwriting_input=True) as pdf:
        # the page's content as an LZW stream (encoded by hand: qpdf writes no LZW)
        data = b"q 288 0 0 216 0 0 cm /Im0 Do Q"
        pdf.pages[0].obj.Contents.write(_lzw(data), filter=pikepdf.Name.LZWDecode)
        pdf.save(src)
    with pikepdf.open(src) as pdf:
        assert pdf.pages[0].obj.Contents.read_bytes() == data  # the hand-made LZW decodes
    write_searchable_pdf(src, "application/pdf", [reading("lzw.pdf", 800, 600)], out, PDFA)
    assert_pdfa(out)
    with pikepdf.open(out) as pdf:
        assert all(
            "/LZWDecode" not in str(o.get("/Filter", ""))
            for o in pdf.objects
            if isinstance(o, pikepdf.Stream)
        )
        contents = pdf.pages[0].obj.Contents
        assert any(
            s.get("/Filter") == "/FlateDecode" and zlib.decompress(s.read_raw_bytes()) == data
            for s in contents
        )


def _lzw(data: bytes) -> bytes:
    """``data`` LZW-encoded without compression: a clear code, each byte as a 9-bit code, EOD
    (the table never reaches 512 entries for a short input, so the width stays 9)."""
    codes = [256, *data, 257]
    bits = "".join(f"{c:09b}" for c in codes)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
