"""hOCR 1.2 output: one XHTML file per document, pages written as they are read."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TextIO

from pipelines.types import BBox, PageResult

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
<head>
<title>{title}</title>
<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
<meta name="ocr-system" content="scanrag"/>
<meta name="ocr-capabilities" content="{capabilities}"/>
</head>
<body>
"""
_TAIL = "</body>\n</html>\n"


# hOCR 1.2's float classes for the block kinds that have one; prose kinds are ``ocr_carea``
_AREA_CLASS = {
    "header": "ocr_header",
    "footer": "ocr_footer",
    "table": "ocr_table",
    "figure": "ocr_image",
    "figure_caption": "ocr_caption",
    "table_caption": "ocr_caption",
}


def _bbox(b: BBox) -> str:
    return "bbox {} {} {} {}".format(*(max(0, round(v)) for v in b))


def page_hocr(page: PageResult) -> str:
    """One ``ocr_page`` div (blocks -> paragraphs -> lines -> words)."""
    n = page.page
    title = escape(
        f'image "{page.source}"; {_bbox((0, 0, page.width, page.height))}; ppageno {n - 1}',
        quote=True,
    )
    out = [f'<div class="ocr_page" id="page_{n}" title="{title}">']
    line_no = word_no = 0
    for b, block in enumerate(page.blocks, 1):
        area = _AREA_CLASS.get(block.kind, "ocr_carea")
        # the exact kind rides along as an x_ property (hOCR's extension mechanism)
        props = f"{_bbox(block.bbox)}; x_kind {block.kind}"
        out.append(f' <div class="{area}" id="block_{n}_{b}" title="{props}">')
        if not block.lines:  # a figure or table with no text: its region only
            out.append(" </div>")
            continue
        out.append(f'  <p class="ocr_par" id="par_{n}_{b}" title="{props}">')
        for line in block.lines:
            line_no += 1
            out.append(
                f'   <span class="ocr_line" id="line_{n}_{line_no}" '
                f'title="{_bbox(line.bbox)}; x_wconf {round(100 * line.confidence)}">'
            )
            for word in line.words:
                word_no += 1
                out.append(
                    f'    <span class="ocrx_word" id="word_{n}_{word_no}" '
                    f'title="{_bbox(word.bbox)}; x_wconf {round(100 * word.confidence)}">'
                    f"{escape(word.text, quote=False)}</span>"
                )
            out.append("   </span>")
        out.append("  </p>")
        out.append(" </div>")
    out.append("</div>")
    return "\n".join(out) + "\n"


def hocr_head(title: str = "") -> str:
    """The start of an hOCR document, up to its first page."""
    capabilities = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf " + " ".join(
        sorted(set(_AREA_CLASS.values()))
    )
    return _HEAD.format(title=escape(title, quote=False), capabilities=capabilities)


def hocr_tail() -> str:
    """The end of an hOCR document, after its last page."""
    return _TAIL


def write_hocr(pages: Iterable[PageResult], out: TextIO, title: str = "") -> int:
    """Write a complete hOCR document for ``pages``; returns the number of pages written."""
    out.write(hocr_head(title))
    count = 0
    for page in pages:
        out.write(page_hocr(page))
        count += 1
    out.write(hocr_tail())
    return count
