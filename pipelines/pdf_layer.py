"""Searchable PDF: the input's pages as they were, each with an invisible text layer of what
we read, one text run per word over the word's box, lines in reading order.

A PDF input keeps everything (page content, sizes, ``/Rotate``, metadata, outline, images as
they are encoded: streams are copied, never decoded); each page only gains a content stream
drawing our words in text render mode 3 (invisible) with a glyph-less font
(``pipelines.glyphless_font``). An image input becomes one page per frame, of the image's size at
its dpi (``PdfParams.default_dpi`` when the file names none): a JPEG is embedded as it is
(DCT), a PNG's compressed data is copied when PDF can take it as it is, anything else is
stored losslessly (Flate).

Pages already holding text (born-digital pages, or a scan that another OCR made searchable)
are left alone: ``pipelines.load`` rasterises and reads every page the same, so we do have a
reading of them, but their own text is better than ours. ``PdfParams.reread_text_pages``
adds our layer to them too (their old text stays, so a search finds the word twice).

Geometry: a word's box is in pixels of the upright page image, the page as shown (the PDF page
rendered with its ``/Rotate`` and crop box, or the image) turned clockwise by
``PageResult.rotation``. ``page_matrix`` maps those pixels to PDF user space; each word's run is
stretched with ``Tz`` to the word's length, so the layer sits over the words where a viewer
shows them. A slightly skewed line (a scan a few degrees off) is written level, each word over
its own box; a line sloping more is written along its slope.

Pages are written one at a time: a PDF input is read lazily from its file and what is kept per
page is only its (small, compressed) text stream; an image input keeps each page's compressed
picture until the file is saved (its size, not its pixels).
"""

from __future__ import annotations

import math
import statistics
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import CorruptDocument, EncryptedDocument
from pipelines.glyphless_font import (
    ADVANCE,
    FONT_NAME,
    UNITS_PER_EM,
    glyphless_ttf,
    to_unicode_cmap,
)
from pipelines.pdf_objects import inherited, page_instructions
from pipelines.types import BBox, PageResult, TextLine, Word

Matrix = tuple[float, float, float, float, float, float]  # PDF order: a b c d e f

_EM = ADVANCE / UNITS_PER_EM  # one glyph's advance, in text space units at size 1
_FONT_KEY = "/FScanragText"  # the font's name in the page resources
_TEXT_OPS = {"Tj", "TJ", "'", '"'}


@dataclass(frozen=True)
class PdfParams:
    """Choices for writing a searchable PDF."""

    reread_text_pages: bool = False  # also lay our text over pages that already hold text
    pdfa: bool = False  # write PDF/A-2b (pipelines.pdfa); an input that cannot be is refused
    default_dpi: int = 200  # an image's dpi when its file names none
    # lines sloping less are written level, each word over its own box: text extractors
    # (poppler) chain level words into lines but cut slanted runs apart (measured on a 3 degree
    # skew: pdftotext split words and interleaved lines of rotated runs, not of level ones)
    level_below_degrees: float = 6.0


@dataclass(frozen=True)
class PdfSummary:
    """What was written: pages, pages given a text layer, pages left alone (they hold text),
    words, and the bytes of the text layer's streams (compressed, the font not counted)."""

    pages: int
    layered: int
    left_alone: int
    words: int
    layer_bytes: int = 0


# --- geometry ---------------------------------------------------------------------------------


def _mul(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (PDF row-vector convention: [x y 1] m n)."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


def _vector(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return (m[0] * x + m[2] * y, m[1] * x + m[3] * y)


def _unturn(rotation: int, width: int, height: int) -> Matrix:
    """Upright image pixels -> pixels of the image before it was turned ``rotation`` degrees
    clockwise (``width`` x ``height``: the upright image's size)."""
    r = rotation % 360
    if r == 90:  # upright (x, y) was shown at (y, W - x)
        return (0, -1, 1, 0, 0, width)
    if r == 180:
        return (-1, 0, 0, -1, width, height)
    if r == 270:
        return (0, 1, -1, 0, height, 0)
    return (1, 0, 0, 1, 0, 0)


def shown_matrix(page: PageResult, shown_w: float, shown_h: float) -> Matrix:
    """The map from ``page``'s upright pixels to points of the page as shown (``shown_w`` x
    ``shown_h`` points, from its top left): the turn undone, then scaled."""
    turned = (page.rotation % 180) == 90
    px_w, px_h = (page.height, page.width) if turned else (page.width, page.height)
    scale: Matrix = (shown_w / max(px_w, 1), 0, 0, shown_h / max(px_h, 1), 0, 0)
    return _mul(_unturn(page.rotation, page.width, page.height), scale)


def page_matrix(page: PageResult, box: tuple[float, float, float, float], rotate: int) -> Matrix:
    """The map from ``page``'s upright pixels to user space of a PDF page whose visible box is
    ``box`` (x0, y0, x1, y1) shown turned ``rotate`` degrees clockwise (its ``/Rotate``)."""
    x0, y0, x1, y1 = box
    rotate %= 360
    pts_w, pts_h = (y1 - y0, x1 - x0) if rotate in (90, 270) else (x1 - x0, y1 - y0)
    # shown points (px from the left, py from the top) -> user space, for each /Rotate
    shown_to_user: Matrix = {
        0: (1, 0, 0, -1, x0, y1),
        90: (0, 1, 1, 0, x0, y0),
        180: (-1, 0, 0, 1, x1, y0),
        270: (0, -1, -1, 0, x1, y1),
    }[rotate]
    return _mul(shown_matrix(page, pts_w, pts_h), shown_to_user)


def _line_words(line: TextLine) -> list[Word]:
    """A line's words; a line read without word boxes is one word over the line's box."""
    words = [w for w in line.words if w.text.strip()]
    if not words and line.text.strip():
        return [Word(line.text.strip(), line.bbox, line.confidence)]
    return words


def _centre(b: BBox) -> tuple[float, float]:
    return ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)


def _line_slope(words: list[Word]) -> float | None:
    """The slope angle (radians, clockwise as shown) of a line of two or more words, from a
    least-squares fit of their centres; None for one word."""
    if len(words) < 2:
        return None
    pts = [_centre(w.bbox) for w in words]
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx < 1.0:
        return None
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    return math.atan(sxy / sxx)


# --- content stream ---------------------------------------------------------------------------


def _hex(text: str) -> str:
    """``text`` as the font's codes: UTF-16 code units (beyond the BMP: U+FFFD)."""
    units = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0xD800 <= code <= 0xDFFF or code > 0xFFFF:
            code = 0xFFFD if code >= 0x20 else 0x20
        units.append(f"{code:04X}")
    return "<" + "".join(units) + ">"


def _num(v: float) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class _Runs:
    """The text runs of one page's layer, as content stream operators."""

    def __init__(self, matrix: Matrix) -> None:
        self.m = matrix
        self.ops: list[str] = ["BT", "3 Tr"]
        self.size: float | None = None
        self.words = 0
        # the end of the last level line written: (baseline end, up vector, its box)
        self.last: tuple[tuple[float, float], tuple[float, float], BBox] | None = None

    def run(
        self,
        text: str,
        origin: tuple[float, float],
        along: tuple[float, float],
        up: tuple[float, float],
        length: float,
    ) -> None:
        """``text`` from ``origin`` (baseline start, image pixels) along the unit vector
        ``along`` for ``length`` pixels, ``up`` (pixels, the full glyph height) its up."""
        ex, ey = _apply(self.m, *origin)
        dx, dy = _vector(self.m, along[0] * length, along[1] * length)
        ux, uy = _vector(self.m, *up)
        size, reach = math.hypot(ux, uy), math.hypot(dx, dy)
        if size <= 0 or reach <= 0 or not text:
            return
        if self.size is None or abs(size - self.size) > 1e-3:
            self.ops.append(f"{_FONT_KEY} {_num(size)} Tf")
            self.size = size
        scale = 100 * reach / (len(text) * _EM * size)
        self.ops.append(
            f"{_num(dx / reach)} {_num(dy / reach)} {_num(ux / size)} {_num(uy / size)}"
            f" {_num(ex)} {_num(ey)} Tm {_num(max(scale, 0.01))} Tz {_hex(text)} Tj"
        )

    def line(self, words: list[Word], slope: float, level: bool) -> None:
        """One line's words (and the spaces between them): along ``slope`` (radians), or
        ``level``, each word over its box at the line's thickness across the slope."""
        c, s = math.cos(slope), math.sin(slope)
        along, up_unit = ((1.0, 0.0), (0.0, -1.0)) if level else ((c, s), (s, -c))
        boxes = [w.bbox for w in words]
        lx0, ly0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        lx1, ly1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        sa, cc = abs(s), c
        denom = cc * cc - sa * sa
        # the line's thickness across its slope, from its axis-aligned box
        # (W = L cos + t sin, H = L sin + t cos)
        if sa > 0 and denom > 0.1:
            thick = ((ly1 - ly0) * cc - (lx1 - lx0) * sa) / denom
            thick = min(max(thick, 0.3 * min(b[3] - b[1] for b in boxes)), ly1 - ly0)
        else:
            thick = 0.0
        starts: list[tuple[float, float]] = []
        lengths: list[float] = []
        ups: list[tuple[float, float]] = []
        for b in boxes:
            w, h = b[2] - b[0], b[3] - b[1]
            t = thick if sa > 0 and thick > 0 else h
            length = max((w - t * sa) / cc, 0.3 * w) if sa > 0 and not level else w
            cx, cy = _centre(b)
            # baseline origin: the descent (0.2 of the glyph height) above the box's bottom
            ox = cx - along[0] * length / 2 - up_unit[0] * 0.3 * t
            oy = cy - along[1] * length / 2 - up_unit[1] * 0.3 * t
            starts.append((ox, oy))
            lengths.append(length)
            ups.append((up_unit[0] * t, up_unit[1] * t))
        box = (lx0, ly0, lx1, ly1)
        if level and self.last is not None:
            self._join_row(self.last, starts[0], box)
        for k, word in enumerate(words):
            self.run(word.text.strip(), starts[k], along, ups[k], lengths[k])
            self.words += 1
            if k + 1 < len(words):
                # a space over the gap to the next word, so every extractor breaks the words
                end = (starts[k][0] + along[0] * lengths[k], starts[k][1] + along[1] * lengths[k])
                gap = (starts[k + 1][0] - end[0]) * along[0] + (starts[k + 1][1] - end[1]) * along[
                    1
                ]
                self.run(" ", end, along, ups[k], max(gap, 0.05 * math.hypot(*ups[k])))
        end = (starts[-1][0] + along[0] * lengths[-1], starts[-1][1] + along[1] * lengths[-1])
        self.last = (end, ups[-1], box) if level else None

    def _join_row(
        self,
        last: tuple[tuple[float, float], tuple[float, float], BBox],
        start: tuple[float, float],
        box: BBox,
    ) -> None:
        """A space from the last line's end to this line's start where this line goes on the
        same row to its right (a table row's cells, a form's label and value): extractors
        that find lines by gaps (poppler) then keep the row one line instead of cutting it
        into columns."""
        end, up, prev = last
        overlap = min(prev[3], box[3]) - max(prev[1], box[1])
        if overlap >= 0.5 * min(prev[3] - prev[1], box[3] - box[1]) and start[0] > end[0]:
            self.run(" ", end, (1.0, 0.0), up, start[0] - end[0])

    def stream(self) -> bytes:
        return ("\n".join([*self.ops, "ET"]) + "\n").encode("ascii")


def layer_content(page: PageResult, matrix: Matrix, params: PdfParams = PdfParams()) -> bytes:
    """The content stream (uncompressed) that draws ``page``'s words, invisible, in reading
    order, through ``matrix`` (upright pixels -> user space); the font is ``/FScanragText``."""
    lines = [words for line in page.lines if (words := _line_words(line))]
    slopes = [a for words in lines if (a := _line_slope(words)) is not None]
    # a one-word line has no slope of its own: the page's (a skewed scan is skewed throughout)
    page_slope = statistics.median(slopes) if slopes else 0.0
    limit = math.radians(params.level_below_degrees)
    runs = _Runs(matrix)
    for words in lines:
        slope = _line_slope(words)
        slope = page_slope if slope is None else slope
        if abs(slope) >= math.radians(45):  # not a slope but a misfit: no slope
            slope = 0.0
        runs.line(words, slope, level=abs(slope) < limit)
    return runs.stream()


# --- the PDF ----------------------------------------------------------------------------------


def _font(pdf: Any) -> Any:
    """The glyph-less Type0 font, as an indirect object of ``pdf`` (one for all pages)."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    def flate(data: bytes, **extra: Any) -> Any:
        stream = pikepdf.Stream(pdf, b"", **extra)
        stream.write(zlib.compress(data, 9), filter=Name.FlateDecode)
        return stream

    program = glyphless_ttf()
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/" + FONT_NAME),
        Flags=5,  # fixed pitch, symbolic
        FontBBox=Array([0, -200, ADVANCE, 800]),
        ItalicAngle=0,
        Ascent=800,
        Descent=-200,
        CapHeight=800,
        StemV=80,
        FontFile2=flate(program, Length1=len(program)),
    )
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/" + FONT_NAME),
        CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=ADVANCE,
        # every code to the one empty glyph (GID 1)
        CIDToGIDMap=flate(b"\x00\x01" * 65536),
    )
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type0,
        BaseFont=Name("/" + FONT_NAME),
        Encoding=Name("/Identity-H"),
        DescendantFonts=Array([pdf.make_indirect(cid_font)]),
        ToUnicode=flate(to_unicode_cmap()),
    )
    return pdf.make_indirect(font)


def _box(value: Any) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def visible_box(page_obj: Any) -> tuple[float, float, float, float]:
    """The part of the page a viewer shows (and pdfium renders): crop box within media box."""
    media = _box(inherited(page_obj, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(inherited(page_obj, "/CropBox")) or media
    box = (
        max(media[0], crop[0]),
        max(media[1], crop[1]),
        min(media[2], crop[2]),
        min(media[3], crop[3]),
    )
    return box if box[2] > box[0] and box[3] > box[1] else media


def page_rotate(page_obj: Any) -> int:
    """The page's ``/Rotate`` (inherited, normalised to 0/90/180/270)."""
    value = inherited(page_obj, "/Rotate")
    try:
        degrees = int(value) if value is not None else 0
    except (TypeError, ValueError):
        degrees = 0
    return degrees % 360 if degrees % 90 == 0 else 0


def has_text(page: Any) -> bool:
    """Whether the page shows text of its own (its content or its forms draw text)."""
    return any(str(inst.operator) in _TEXT_OPS for inst in page_instructions(page))


def _add_layer(pdf: Any, page: Any, font: Any, content: bytes) -> int:
    """Append ``content`` (our layer) to ``page``, its own content wrapped in q/Q so that
    whatever graphics state it leaves does not move our text."""
    import pikepdf
    from pikepdf import Dictionary, Name

    obj = page.obj
    if "/Resources" not in obj:  # inherited (or none): the page gets its own copy
        shared = inherited(obj, "/Resources")
        obj.Resources = Dictionary(dict(shared.items())) if shared is not None else (Dictionary())
    resources = obj.Resources
    fonts = resources.get("/Font")
    if fonts is None:
        resources.Font = Dictionary()
    elif fonts.is_indirect:  # may be shared with other pages: ours is added to a copy
        resources.Font = Dictionary(dict(fonts.items()))
    resources.Font[_FONT_KEY] = font
    if "/Contents" in obj:
        page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    data = zlib.compress(b"Q\n" + content if "/Contents" in obj else content, 6)
    stream = pikepdf.Stream(pdf, b"")
    stream.write(data, filter=Name.FlateDecode)
    page.contents_add(stream)
    return len(data)


class SearchablePdf:
    """Builds one searchable PDF from its source file, given the pages read from it (in any
    order, each once); ``save`` writes it. Pages never given keep no layer."""

    def __init__(self, source: Path, media_type: str, params: PdfParams = PdfParams()) -> None:
        import pikepdf

        self.source = Path(source)
        self.params = params
        self.is_pdf = media_type == "application/pdf"
        self.layered = self.left_alone = self.words = self.layer_bytes = 0
        try:
            self.pdf = pikepdf.Pdf.open(self.source) if self.is_pdf else pikepdf.Pdf.new()
        except pikepdf.PasswordError as exc:
            raise EncryptedDocument() from exc
        except pikepdf.PdfError as exc:
            raise CorruptDocument(f"the PDF is damaged or truncated ({exc})") from exc
        if params.pdfa and self.is_pdf:
            from pipelines.pdfa import refuse_unless_fit

            try:
                refuse_unless_fit(self.pdf)
            except BaseException:
                self.pdf.close()
                raise
        self.font = _font(self.pdf)
        self._image: _ImageSource | None = None if self.is_pdf else _ImageSource(self.source)

    def add(self, page: PageResult) -> None:
        """Give ``page`` (as read, 1-based number) its text layer."""
        if self.is_pdf:
            self._add_pdf_page(page)
        else:
            self._add_image_page(page)

    def _add_pdf_page(self, result: PageResult) -> None:
        if not 1 <= result.page <= len(self.pdf.pages):
            raise CorruptDocument(f"page {result.page} is not in the PDF")
        page = self.pdf.pages[result.page - 1]
        if not any(_line_words(line) for line in result.lines):
            return  # nothing was read: the page stays exactly as it was
        if not self.params.reread_text_pages and has_text(page):
            self.left_alone += 1
            return
        matrix = page_matrix(result, visible_box(page.obj), page_rotate(page.obj))
        content = layer_content(result, matrix, self.params)
        self.layer_bytes += _add_layer(self.pdf, page, self.font, content)
        self.layered += 1
        self.words += len(result.words)

    def _add_image_page(self, result: PageResult) -> None:
        import pikepdf
        from pikepdf import Array, Dictionary, Name

        assert self._image is not None
        image, (xdpi, ydpi) = self._image.xobject(self.pdf, result.page - 1, self.params)
        if self.params.pdfa and image.get("/ColorSpace") == Name.DeviceCMYK:
            from pipelines.pdfa import NotPdfA

            # device CMYK needs a CMYK output intent, and no CMYK profile ships here
            raise NotPdfA("cannot be written as PDF/A-2b: a CMYK image (convert it to RGB)")
        width_pt = int(image.Width) / xdpi * 72
        height_pt = int(image.Height) / ydpi * 72
        page = pikepdf.Page(
            Dictionary(
                Type=Name.Page,
                MediaBox=Array([0, 0, _round(width_pt), _round(height_pt)]),
                Resources=Dictionary(XObject=Dictionary(Im0=image)),
            )
        )
        draw = f"q {_num(_round(width_pt))} 0 0 {_num(_round(height_pt))} 0 0 cm /Im0 Do Q\n"
        pages = self.pdf.pages
        while len(pages) < result.page - 1:  # a frame with no reading stays a blank page
            pages.append(pikepdf.Page(Dictionary(Type=Name.Page, MediaBox=Array([0, 0, 612, 792]))))
        if len(pages) >= result.page:
            raise ValueError(f"page {result.page} was given twice")
        pages.append(page)
        added = pages[result.page - 1]
        stream = pikepdf.Stream(self.pdf, b"")
        stream.write(zlib.compress(draw.encode("ascii"), 6), filter=Name.FlateDecode)
        added.obj.Contents = self.pdf.make_indirect(stream)
        matrix = page_matrix(result, visible_box(added.obj), 0)
        content = layer_content(result, matrix, self.params)
        self.layer_bytes += _add_layer(self.pdf, added, self.font, content)
        self.layered += 1
        self.words += len(result.words)

    def save(self, out: str | Path | BinaryIO) -> PdfSummary:
        """Write the PDF (streams of the input copied as they are) and close the input."""
        import pikepdf

        try:
            if self.params.pdfa:
                from pipelines.pdfa import make_pdfa

                make_pdfa(self.pdf)
            self.pdf.save(
                out,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
                compress_streams=False,  # ours are compressed; the input's stay as they were
                deterministic_id=True,
                # PDF/A-2 is PDF 1.7 (an image input's PDF would otherwise say 1.3)
                min_version="1.7" if self.params.pdfa else "",
            )
            pages = len(self.pdf.pages)
            return PdfSummary(pages, self.layered, self.left_alone, self.words, self.layer_bytes)
        finally:
            self.close()

    def close(self) -> None:
        self.pdf.close()
        if self._image is not None:
            self._image.close()


def _round(v: float) -> float:
    return round(v, 3)


def write_searchable_pdf(
    source: str | Path,
    media_type: str,
    pages: Any,
    out: str | Path | BinaryIO,
    params: PdfParams = PdfParams(),
) -> PdfSummary:
    """The searchable PDF of ``source`` (a PDF or an image) written to ``out``, from the
    ``pages`` (an iterable of PageResult) read from it."""
    doc = SearchablePdf(Path(source), media_type, params)
    try:
        for page in pages:
            doc.add(page)
    except BaseException:
        doc.close()
        raise
    return doc.save(out)


# --- image inputs -----------------------------------------------------------------------------


class _ImageSource:
    """An image file's frames as PDF image XObjects, encoded data kept where PDF can take it."""

    def __init__(self, path: Path) -> None:
        from PIL import Image, UnidentifiedImageError

        try:
            self.image = Image.open(path)
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise CorruptDocument(f"the image cannot be decoded ({exc})") from exc
        self.path = path

    def close(self) -> None:
        self.image.close()

    def dpi(self, params: PdfParams) -> tuple[float, float]:
        value: Any = self.image.info.get("dpi")
        try:
            x, y = (float(v) for v in value)
        except (TypeError, ValueError):
            return (float(params.default_dpi), float(params.default_dpi))
        # a dpi of 1 (or nonsense) is "unknown" in practice
        if not (10 <= x <= 10000 and 10 <= y <= 10000):
            return (float(params.default_dpi), float(params.default_dpi))
        return (x, y)

    def xobject(self, pdf: Any, index: int, params: PdfParams) -> tuple[Any, tuple[float, float]]:
        """Frame ``index`` as an image XObject of ``pdf``, and its dpi."""
        import pikepdf
        from pikepdf import Name

        img = self.image
        try:
            img.seek(index)
        except (EOFError, OSError) as exc:
            raise CorruptDocument(f"page {index + 1} cannot be read ({exc})") from exc
        dpi = self.dpi(params)
        if img.format == "JPEG" and img.mode in ("L", "RGB", "CMYK"):
            data = self.path.read_bytes()
            stream = pikepdf.Stream(pdf, b"")
            stream.write(data, filter=Name.DCTDecode)
            _image_dict(stream, img.width, img.height, img.mode, 8)
            if img.mode == "CMYK" and "adobe" in img.info:  # Adobe's CMYK JPEGs are inverted
                stream.Decode = pikepdf.Array([1, 0] * 4)
            return pdf.make_indirect(stream), dpi
        if img.format == "PNG":
            passed = _png_stream(pdf, self.path.read_bytes())
            if passed is not None:
                return pdf.make_indirect(passed), dpi
        try:
            return pdf.make_indirect(_flate_image(pdf, img)), dpi
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptDocument(f"page {index + 1} cannot be decoded ({exc})") from exc


def _image_dict(stream: Any, width: int, height: int, mode: str, bits: int) -> None:
    from pikepdf import Name

    stream.Type = Name.XObject
    stream.Subtype = Name.Image
    stream.Width = width
    stream.Height = height
    stream.BitsPerComponent = bits
    stream.ColorSpace = {
        "1": Name.DeviceGray,
        "L": Name.DeviceGray,
        "RGB": Name.DeviceRGB,
        "CMYK": Name.DeviceCMYK,
    }[mode]


def _flate_image(pdf: Any, frame: Any) -> Any:
    """A decoded frame stored losslessly (Flate); transparency as a soft mask over white."""
    import pikepdf
    from pikepdf import Name

    alpha = None
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        alpha = rgba.getchannel("A")
        frame = rgba.convert("RGB")
    elif frame.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np
        from PIL import Image

        arr = np.asarray(frame, dtype=np.float32)
        frame = Image.fromarray((arr / max(1.0, float(arr.max())) * 255).astype(np.uint8), "L")
    elif frame.mode not in ("1", "L", "RGB", "CMYK"):
        frame = frame.convert("RGB")
    stream = pikepdf.Stream(pdf, b"")
    stream.write(zlib.compress(frame.tobytes(), 6), filter=Name.FlateDecode)
    _image_dict(stream, frame.width, frame.height, frame.mode, 1 if frame.mode == "1" else 8)
    if alpha is not None:
        mask = pikepdf.Stream(pdf, b"")
        mask.write(zlib.compress(alpha.tobytes(), 6), filter=Name.FlateDecode)
        _image_dict(mask, alpha.width, alpha.height, "L", 8)
        stream.SMask = pdf.make_indirect(mask)
    return stream


def _png_stream(pdf: Any, data: bytes) -> Any | None:
    """A PNG's own compressed data as a PDF image (no decoding), or None where PDF cannot take
    it as it is (interlaced, alpha, transparency key, unusual depth)."""
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos, idat, palette = 8, [], b""
    header: tuple[int, ...] | None = None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            return None
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        return None
    width, height, depth, color, _, _, interlace = header
    colors = {0: 1, 2: 3, 3: 1}.get(color)
    if interlace or colors is None or (color == 3 and depth > 8) or (color == 2 and depth < 8):
        return None
    stream = pikepdf.Stream(pdf, b"")
    stream.write(
        b"".join(idat),
        filter=Name.FlateDecode,
        decode_parms=Dictionary(Predictor=15, Colors=colors, BitsPerComponent=depth, Columns=width),
    )
    stream.Type = Name.XObject
    stream.Subtype = Name.Image
    stream.Width = width
    stream.Height = height
    stream.BitsPerComponent = depth
    if color == 3:
        if not palette:
            return None
        stream.ColorSpace = Array(
            [Name.Indexed, Name.DeviceRGB, len(palette) // 3 - 1, pikepdf.String(palette)]
        )
    else:
        stream.ColorSpace = Name.DeviceGray if color == 0 else Name.DeviceRGB
    return stream
