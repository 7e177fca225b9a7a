"""Load documents: decide the type from the content, enforce limits, stream pages as RGB arrays.

PDFs are opened with pdfium (page count, page sizes, encryption) and rasterised page by page with
pdfium (the default: measured faster on scanned PDFs, see docs/benchmarks-history.md) or pdf2image
(poppler). Only one page is in memory at a time, so memory does not grow with page count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from core.errors import (
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    FileNotFound,
    FileTooLarge,
    PageTooLarge,
    TooManyPages,
    UnsupportedType,
)

MediaType = Literal[
    "application/pdf", "image/png", "image/jpeg", "image/tiff", "image/webp", "image/bmp"
]

PAGES_PER_OPEN = 16  # a PDF is opened again after this many pages (see _pdf_pages)

# PIL's own decompression-bomb guard is replaced by our explicit pixel limit
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class LoadParams:
    """Limits and rendering choices for loading one document."""

    dpi: int = 200
    renderer: Literal["pdfium", "pdf2image"] = "pdfium"
    max_bytes: int = 500 * 1024 * 1024
    max_pages: int = 2000
    max_page_pixels: int = 80_000_000


@dataclass(frozen=True)
class RasterPage:
    """One page as an RGB uint8 array; ``dpi`` is None for images (their own pixels)."""

    number: int  # 1-based
    image: np.ndarray
    dpi: int | None


def sniff(head: bytes) -> MediaType:
    """The media type from a file's first bytes; raises UnsupportedType for anything else."""
    if head.startswith(b"%PDF-") or (b"%PDF-" in head[:1024]):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM":
        return "image/bmp"
    raise UnsupportedType()


class OpenedDocument:
    """An opened document: its type and page count are known; pages render on demand."""

    def __init__(self, path: Path, media_type: MediaType, page_count: int, params: LoadParams):
        self.path = path
        self.media_type = media_type
        self.page_count = page_count
        self.params = params

    def pages(self, start: int = 1, stop: int | None = None) -> Iterator[RasterPage]:
        """Pages ``start..stop`` (1-based, inclusive), one at a time."""
        stop = self.page_count if stop is None else min(stop, self.page_count)
        if self.media_type == "application/pdf":
            yield from _pdf_pages(self.path, start, stop, self.params)
        else:
            yield from _image_pages(self.path, start, stop, self.params)


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to every file under them, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            out.append(path)
    return out


def open_document(path: str | Path, params: LoadParams = LoadParams()) -> OpenedDocument:
    """Check a file (size, type, pages, encryption) without rendering it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(1024)
    except IsADirectoryError as exc:
        raise UnsupportedType("a directory, not a file") from exc
    except FileNotFoundError as exc:
        raise FileNotFound() from exc
    except OSError as exc:
        raise CorruptDocument(f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise EmptyFile()
    if size > params.max_bytes:
        raise FileTooLarge(
            f"the file is {size / 1e6:.1f} MB, over the limit of {params.max_bytes / 1e6:.1f} MB"
        )
    media_type = sniff(head)
    if media_type == "application/pdf":
        count = _pdf_page_count(path)
    else:
        count = _image_frames(path, params)
    if count == 0:
        raise CorruptDocument("the document has no pages")
    if count > params.max_pages:
        raise TooManyPages(f"the document has {count} pages, over the limit of {params.max_pages}")
    return OpenedDocument(path, media_type, count, params)


def _check_pixels(number: int, width: int, height: int, params: LoadParams) -> None:
    if width * height > params.max_page_pixels:
        raise PageTooLarge(
            f"page {number} is {width}x{height} pixels, over the limit of"
            f" {params.max_page_pixels:,} pixels"
        )


# --- PDF --------------------------------------------------------------------------------------


def _open_pdf(path: Path):  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        if "password" in text:
            raise EncryptedDocument() from exc
        raise CorruptDocument(f"the PDF is damaged or truncated ({exc})") from exc


def _pdf_page_count(path: Path) -> int:
    pdf = _open_pdf(path)
    try:
        return len(pdf)
    finally:
        pdf.close()


def _pdf_pages(path: Path, start: int, stop: int, params: LoadParams) -> Iterator[RasterPage]:
    # pdfium keeps what it parsed of every page it loaded (its objects, the scan's stream) for
    # as long as the document is open: one open PdfDocument grew 0.46 MB a dense page (300
    # pages: +133 MB), reopened every PAGES_PER_OPEN pages it stays flat
    # (docs/benchmarks-history.md)
    for first in range(start, stop + 1, PAGES_PER_OPEN):
        yield from _pdf_run(path, first, min(stop, first + PAGES_PER_OPEN - 1), params)


def _pdf_run(path: Path, start: int, stop: int, params: LoadParams) -> Iterator[RasterPage]:
    import pypdfium2 as pdfium

    pdf = _open_pdf(path)
    try:
        for number in range(start, stop + 1):
            try:
                page = pdf[number - 1]
                w_pt, h_pt = page.get_size()
            except pdfium.PdfiumError as exc:
                raise CorruptDocument(f"page {number} cannot be read ({exc})") from exc
            scale = params.dpi / 72.0
            _check_pixels(number, round(w_pt * scale), round(h_pt * scale), params)
            if params.renderer == "pdf2image":
                image = _render_poppler(path, number, params.dpi)
            else:
                try:
                    bitmap = page.render(scale=scale, grayscale=False)
                    image = np.ascontiguousarray(bitmap.to_numpy()[:, :, :3][:, :, ::-1])
                except pdfium.PdfiumError as exc:
                    raise CorruptDocument(f"page {number} cannot be rendered ({exc})") from exc
                finally:
                    page.close()
            yield RasterPage(number, image, params.dpi)
    finally:
        pdf.close()


def _render_poppler(path: Path, number: int, dpi: int) -> np.ndarray:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFPageCountError, PDFSyntaxError

    try:
        images = convert_from_path(str(path), dpi=dpi, first_page=number, last_page=number)
    except (PDFPageCountError, PDFSyntaxError) as exc:
        raise CorruptDocument(f"page {number} cannot be rendered ({exc})") from exc
    if not images:
        raise CorruptDocument(f"page {number} rendered to nothing")
    return np.asarray(images[0].convert("RGB"))


# --- images -----------------------------------------------------------------------------------


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CorruptDocument(f"the image cannot be decoded ({exc})") from exc


def _image_frames(path: Path, params: LoadParams) -> int:
    """The image's pages, each checked against the pixel limit from its header (no decoding),
    so that an oversized image is refused when it arrives, not failed after it was queued."""
    with _open_image(path) as img:
        # only TIFF pages are pages; an animated WebP is one picture
        count = int(getattr(img, "n_frames", 1)) if img.format == "TIFF" else 1
        for index in range(min(count, params.max_pages)):
            if index:
                try:
                    img.seek(index)
                except (EOFError, OSError) as exc:
                    raise CorruptDocument(f"page {index + 1} cannot be read ({exc})") from exc
            _check_pixels(index + 1, img.width, img.height, params)
        return count


def _image_pages(path: Path, start: int, stop: int, params: LoadParams) -> Iterator[RasterPage]:
    with _open_image(path) as img:
        for index, frame in enumerate(ImageSequence.Iterator(img)):
            number = index + 1
            if number < start:
                continue
            if number > stop:
                break
            _check_pixels(number, frame.width, frame.height, params)
            try:
                rgb = _to_rgb(frame)
            except (OSError, SyntaxError, ValueError) as exc:
                raise CorruptDocument(f"page {number} cannot be decoded ({exc})") from exc
            yield RasterPage(number, rgb, None)


def _to_rgb(frame: Image.Image) -> np.ndarray:
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        # transparent regions become white paper, not black
        rgba = frame.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(canvas)
    if frame.mode == "I;16" or frame.mode == "I":
        arr = np.asarray(frame, dtype=np.float32)
        arr = (arr / max(1.0, float(arr.max())) * 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    return np.asarray(frame.convert("RGB"))
