"""hOCR 1.2 output: one XHTML file per document, pages written as they are read.

A table block with recognised cells is an ``ocr_table`` holding one ``ocr_carea`` per cell
(hOCR has no cell class; a cell is a content area of the table float), in row-major order, each
with its grid place as ``x_cell row col row_span col_span`` (``x_header 1`` on header cells)
and its words in lines inside an ``ocr_par``; an empty cell is an empty ``ocr_carea``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TextIO

from pipelines.tables import assign_words, block_words, text_lines
from pipelines.types import BBox, Block, PageResult, Word, union_box

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
    count = _Count(n)
    for b, block in enumerate(page.blocks, 1):
        area = _AREA_CLASS.get(block.kind, "ocr_carea")
        # the exact kind rides along as an x_ property (hOCR's extension mechanism)
        props = f"{_bbox(block.bbox)}; x_kind {block.kind}"
        out.append(f' <div class="{area}" id="block_{n}_{b}" title="{props}">')
        if block.table is not None and block.table.cells:
            out.extend(_cells(block, f"{n}_{b}", count))
        elif block.lines:  # (a figure or table with no text: its region only)
            out.append(f'  <p class="ocr_par" id="par_{n}_{b}" title="{props}">')
            for line in block.lines:
                conf = f"x_wconf {round(100 * line.confidence)}"
                out.extend(count.line(line.bbox, conf, line.words, "   "))
            out.append("  </p>")
        out.append(" </div>")
    out.append("</div>")
    return "\n".join(out) + "\n"


class _Count:
    """Numbers the lines and words of one page, for their ids."""

    def __init__(self, page: int) -> None:
        self.page, self.lines, self.words = page, 0, 0

    def line(self, box: BBox, conf: str, words: Iterable[Word], indent: str) -> list[str]:
        """An ``ocr_line`` span holding ``words``."""
        self.lines += 1
        out = [
            f'{indent}<span class="ocr_line" id="line_{self.page}_{self.lines}" '
            f'title="{_bbox(box)}; {conf}">'
        ]
        for word in words:
            self.words += 1
            out.append(
                f'{indent} <span class="ocrx_word" id="word_{self.page}_{self.words}" '
                f'title="{_bbox(word.bbox)}; x_wconf {round(100 * word.confidence)}">'
                f"{escape(word.text, quote=False)}</span>"
            )
        out.append(f"{indent}</span>")
        return out


def _cells(block: Block, ids: str, count: _Count) -> list[str]:
    """A table block's cells as ``ocr_carea`` divs, each with its words in lines."""
    assert block.table is not None
    cells = block.table.cells
    held, _ = assign_words([c.bbox for c in cells], block_words(block))
    out = []
    for k, (cell, words) in enumerate(zip(cells, held, strict=True), 1):
        props = (
            f"{_bbox(cell.bbox)}; x_cell {cell.row} {cell.col} {cell.row_span} {cell.col_span}"
            + ("; x_header 1" if cell.header else "")
        )
        out.append(f'  <div class="ocr_carea" id="cell_{ids}_{k}" title="{props}">')
        if words:
            out.append(f'   <p class="ocr_par" id="par_{ids}_{k}" title="{_bbox(cell.bbox)}">')
            for line in text_lines(words):
                conf = f"x_wconf {round(100 * sum(w.confidence for w in line) / len(line))}"
                box = union_box([w.bbox for w in line])
                out.extend(count.line(box, conf, line, "    "))
            out.append("   </p>")
        out.append("  </div>")
    return out


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
