"""``scanrag ocr --format pdf``: one searchable PDF per input, written as its pages are read."""

from __future__ import annotations

from pathlib import Path

from pipelines.types import PageResult


def pdf_target(out: Path, source: Path) -> Path:
    """Where the searchable PDF of ``source`` goes: ``scan.pdf`` -> ``scan.ocr.pdf`` (never
    over its input), ``photo.jpg`` -> ``photo.jpg.pdf``."""
    if source.suffix.lower() == ".pdf":
        return out / (source.stem + ".ocr.pdf")
    return out / (source.name + ".pdf")


class PdfOutFile:
    """One input's searchable PDF in ``--out``: its pages gain their text layer as they are
    read; written as ``.part`` when the document is done, then renamed."""

    def __init__(
        self, out: Path, source: Path, reread_text_pages: bool = False, pdfa: bool = False
    ) -> None:
        from pipelines.load import sniff
        from pipelines.pdf_layer import PdfParams, SearchablePdf

        self.target = pdf_target(out, source)
        self.partial = self.target.with_name(self.target.name + ".part")
        with source.open("rb") as f:
            media_type = sniff(f.read(1024))
        params = PdfParams(reread_text_pages=reread_text_pages, pdfa=pdfa)
        self.doc = SearchablePdf(source, media_type, params)

    def add(self, page: PageResult) -> None:
        self.doc.add(page)

    def commit(self) -> None:
        try:
            self.doc.save(self.partial)
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise
        self.partial.replace(self.target)  # a file in --out is always complete

    def discard(self) -> None:
        self.doc.close()
        self.partial.unlink(missing_ok=True)
