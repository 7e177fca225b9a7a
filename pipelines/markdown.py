"""Markdown output: a page or a whole document as GitHub-flavoured Markdown.

Blocks are written in reading order, one blank line apart; the output ends in one newline
("" when there is nothing to write).

- ``title``: an ATX heading, its lines joined like running text (``block_text``). Titles are
  sorted into height bands by the median height of their lines, a band reaching down to 85% of
  its tallest title; the tallest band is ``#``, the next ``##`` and so on, capped at
  ``heading_levels`` (default 2: the tallest titles ``#``, all others ``##``).
  ``page_markdown`` bands the titles of its page, ``document_markdown`` those of the whole
  document, so a section heading has the same level on every page.
- ``text``, ``equation`` and any other kind: one paragraph (``block_text``: lines joined, a hyphen
  split at a line end joined). A start Markdown would read as a heading, list item, quote, rule
  or code fence is backslash-escaped; nothing else is (a one-line paragraph cannot make a table,
  so ``|`` stays as read).
- List items: a text block that opens with a list marker (``pipelines.page_structure``: a
  block holding a list is first cut into its items) is an item, its wrapped lines joined, and
  consecutive items make one list, an item a line: a numbered item as ``N.`` (``N)`` kept),
  a bullet as ``- ``, a lettered or roman one as ``- (a) ...`` (Markdown has no lettered lists).
- Headings the layout model called text (``page_structure.promote_headings``: a short line
  standing alone or taller than the body) are titles like the others.
- ``header``, ``footer``: left out, and so are running heads and folios the model did not label
  (``pipelines.running_heads``: found over the whole document by ``document_markdown``, over
  the page alone by ``page_markdown``).
- ``figure``: ``![caption](link)``, link from ``figure_link``, alt text ``Figure`` when there is
  no caption; without a link, the caption alone as an italic line; with neither, nothing. Text
  read inside a figure (chart labels, axis ticks) is dropped: out of place it reads as noise.
- Captions: a figure or table takes an adjacent caption block of its kind (the nearer on the
  page; on a tie the next block for figures, the previous for tables). A table's caption is an
  italic line just before it; a caption no block took is an italic paragraph where it stands.
- ``table``: from its recognised cells (``Block.table``) when it has them: a Markdown pipe table
  (first row the header row) when no cell spans rows or columns, else an HTML ``<table>`` with
  ``rowspan``/``colspan`` (header cells as ``<th>``). Without cells, a Markdown table from word
  positions (see ``_word_table``); with fewer than 2 rows or 2 columns, its rows as plain lines;
  with no text, nothing (its caption still shows).
- Read text is text: ``&``, ``<`` and ``>`` in it are written as ``&amp;``, ``&lt;`` and ``&gt;``
  everywhere (headings, paragraphs, captions, alt text, table cells), so HTML read off a page
  (``<script>``) never reaches a renderer as HTML.
- ``document_markdown`` starts each page with ``<!-- page N -->`` (N: ``PageResult.page``): it does
  not render, and keeps page numbers for citing a passage.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from statistics import fmean, median
from typing import TypeAlias

from pipelines.page_structure import list_marker, page_structure
from pipelines.running_heads import mark_running_heads
from pipelines.text import block_text
from pipelines.types import Block, PageResult, Table, TextLine, Word

FigureLink: TypeAlias = Callable[[PageResult, Block], str | None]
"""The URL or path of a figure block's crop image; None for no link."""

_BAND = 0.85  # a title at least this fraction of its band's tallest title is in that band
_COLUMN_GAP = 1.0  # table columns are cut at x-gaps wider than this many median word heights
_ROW_TOL = 0.5  # table lines whose centres are within this many line heights share a row
_CAPTION_OF = {"figure": "figure_caption", "table": "table_caption"}

# Paragraph starts Markdown would read as something else: an ATX heading, a bullet, a setext
# underline or thematic break, a code fence (a block quote's > is already &gt;). The ordered-list
# marker is separate since its backslash goes before the dot, not the digits.
_ACTIVE_START = re.compile(
    r"#{1,6}(?=\s|$)|[-*+](?=\s|$)|[=-]+\s*$|([-*_])\s*(?:\1\s*){2,}$|`{3}|~{3}"
)
_ORDERED_START = re.compile(r"\d{1,9}(?=[.)](?:\s|$))")


def page_markdown(
    page: PageResult,
    *,
    figure_link: FigureLink | None = None,
    heading_levels: int = 2,
    running_heads: bool = True,
) -> str:
    """One page as Markdown; heading levels from the title heights of this page alone.

    ``figure_link`` gives the image link of a figure block; ``heading_levels`` (1-6) is the
    deepest heading level used; ``running_heads`` leaves out the page's folio and running
    heads found on it alone. Returns the Markdown text ("" for a page with nothing to write).
    """
    (page,) = _prepared([page], running_heads)
    level = _heading_level(_titles([page]), heading_levels)
    return _join(_page_parts(page, figure_link, level))


def document_markdown(
    pages: Iterable[PageResult],
    *,
    figure_link: FigureLink | None = None,
    heading_levels: int = 2,
    running_heads: bool = True,
) -> str:
    """Pages as one Markdown document, each started by a ``<!-- page N -->`` comment.

    Heading levels come from the title heights of the whole document; ``figure_link`` and
    ``heading_levels`` are as in ``page_markdown``; ``running_heads`` leaves out the running
    heads and folios found over all the pages. Returns the Markdown text ("" for no pages).
    """
    # the heading bands and running heads need every page before the first is written
    pages = _prepared(list(pages), running_heads)
    level = _heading_level(_titles(pages), heading_levels)
    parts: list[str] = []
    for page in pages:
        parts.append(f"<!-- page {page.page} -->")
        parts.extend(_page_parts(page, figure_link, level))
    return _join(parts)


def _prepared(pages: list[PageResult], running_heads: bool) -> list[PageResult]:
    """The pages with running heads and folios made furniture, lists cut into items and
    unmarked headings made titles."""
    if running_heads:
        pages = mark_running_heads(pages)
    return [replace(p, blocks=tuple(page_structure(p.blocks))) for p in pages]


def _item(text: str, family: str, marker: str) -> str:
    """A list item's text as a Markdown list line (``family`` and ``marker`` from
    ``list_marker``)."""
    rest = _escape_start(text.lstrip()[len(marker) :].strip())
    if family == "number":
        delimiter = ")" if marker.endswith(")") and not marker.startswith("(") else "."
        return f"{marker.strip('().')}{delimiter} {rest}"
    if family == "letter":
        return f"- {marker} {rest}"
    return f"- {rest}"


def _join(parts: list[str]) -> str:
    return "\n\n".join(parts) + "\n" if parts else ""


def _text(block: Block) -> str:
    """A block's lines as running text, blank lines skipped, HTML escaped."""
    return _escape_html(block_text(t for line in block.lines if (t := line.text.strip())))


def _escape_html(text: str) -> str:
    """``text`` with the characters that start HTML (tags, entities) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _titles(pages: Sequence[PageResult]) -> list[Block]:
    return [b for p in pages for b in p.blocks if b.kind == "title" and _text(b)]


def _title_height(block: Block) -> float:
    return median(line.bbox[3] - line.bbox[1] for line in block.lines)


def _heading_level(titles: list[Block], max_level: int) -> Callable[[Block], int]:
    """The heading level of a title block, from the height bands of ``titles``."""
    if not 1 <= max_level <= 6:
        raise ValueError(f"heading_levels must be 1 to 6, not {max_level}")
    tops: list[float] = []  # the tallest height of each band, tallest band first
    for h in sorted(map(_title_height, titles), reverse=True):
        if not tops or h < tops[-1] * _BAND:
            tops.append(h)

    def level(block: Block) -> int:
        h = _title_height(block)
        # bands above this title's own are exactly those whose lower edge is above its height
        return min(1 + sum(top * _BAND > h for top in tops), max_level)

    return level


def _captions(blocks: Sequence[Block]) -> dict[int, int]:
    """Index of each figure or table that has a caption -> index of its caption block."""
    taken: dict[int, int] = {}
    for i, block in enumerate(blocks):
        kind = _CAPTION_OF.get(block.kind)
        if kind is None:
            continue
        # captions sit mostly under figures and over tables: that side wins a tie
        order = (i + 1, i - 1) if block.kind == "figure" else (i - 1, i + 1)
        near = [
            (_gap(block, blocks[j]), k, j)
            for k, j in enumerate(order)
            if 0 <= j < len(blocks) and blocks[j].kind == kind and j not in taken.values()
        ]
        if near:
            taken[i] = min(near)[2]
    return taken


def _gap(a: Block, b: Block) -> float:
    """Vertical distance between two blocks' boxes (0 when they overlap)."""
    return max(0.0, b.bbox[1] - a.bbox[3], a.bbox[1] - b.bbox[3])


def _page_parts(
    page: PageResult, figure_link: FigureLink | None, level: Callable[[Block], int]
) -> list[str]:
    """The Markdown pieces of one page's blocks, in reading order."""
    captions = _captions(page.blocks)
    consumed = set(captions.values())
    parts: list[str] = []
    listing: str | None = None  # the family of the list the last part is, if it is one
    for i, block in enumerate(page.blocks):
        if block.kind in ("header", "footer") or i in consumed:
            continue
        text = _text(block)
        marker = list_marker(text) if block.kind == "text" else None
        if marker is not None:
            # an item continues the list before it, unless its marker is of another family
            if listing == marker[0]:
                parts[-1] += "\n" + _item(text, *marker)
            else:
                parts.append(_item(text, *marker))
            listing = marker[0]
            continue
        listing = None
        caption = _text(page.blocks[captions[i]]) if i in captions else ""
        if block.kind == "title":
            if text:
                parts.append(f"{'#' * level(block)} {text}")
        elif block.kind == "figure":
            link = figure_link(page, block) if figure_link else None
            if link is not None:
                alt = (caption or "Figure").replace("[", r"\[").replace("]", r"\]")
                parts.append(f"![{alt}]({_destination(link)})")
            elif caption:
                parts.append(_italic(caption))
        elif block.kind == "table":
            parts.extend(p for p in (_italic(caption) if caption else "", _table(block)) if p)
        elif block.kind in ("figure_caption", "table_caption"):
            if text:
                parts.append(_italic(text))
        elif text:
            parts.append(_escape_start(text))
    return parts


def _escape_start(text: str) -> str:
    """``text`` with a backslash where its start would make it other than a paragraph."""
    if _ACTIVE_START.match(text):
        return "\\" + text
    if m := _ORDERED_START.match(text):
        return f"{m[0]}\\{text[m.end() :]}"
    return text


def _italic(text: str) -> str:
    return "*" + text.replace("*", r"\*") + "*"


def _destination(link: str) -> str:
    """A link as a Markdown link destination: in <> when spaces or parentheses would break it."""
    return f"<{link}>" if re.search(r"[\s()]", link) else link


def _words(line: TextLine) -> list[Word]:
    """A line's words; a line read without word boxes is one word over the line's box."""
    words = [w for w in line.words if w.text.strip()]
    if not words and line.text.strip():
        return [Word(line.text.strip(), line.bbox, line.confidence)]
    return words


def _centre_y(line: TextLine) -> float:
    return (line.bbox[1] + line.bbox[3]) / 2


def _table(block: Block) -> str:
    """A table block as Markdown: from its cells when it has them, else from word positions."""
    table = block.table
    if table is None or not table.cells or not any(c.text.strip() for c in table.cells):
        return _word_table(block)
    if any(c.row_span > 1 or c.col_span > 1 for c in table.cells):
        return _html_table(table)
    return _pipe_table(table)


def _cell_text(text: str) -> str:
    return _escape_html(" ".join(text.split()))


def _pipe_table(table: Table) -> str:
    """A table of single cells as a pipe table, its first row the header row."""
    grid = [[""] * table.cols for _ in range(table.rows)]
    for c in table.cells:
        grid[c.row][c.col] = _cell_text(c.text).replace("|", r"\|")
    out = ["| " + " | ".join(row) + " |" for row in grid]
    out.insert(1, "|" + " --- |" * table.cols)
    return "\n".join(out)


def _html_table(table: Table) -> str:
    """A table with spanning cells as an HTML table, one ``<tr>`` per grid row."""
    rows: list[list[str]] = [[] for _ in range(table.rows)]
    for c in sorted(table.cells, key=lambda c: (c.row, c.col)):
        tag = "th" if c.header else "td"
        span = "".join(
            f' {name}="{n}"'
            for name, n in (("rowspan", c.row_span), ("colspan", c.col_span))
            if n > 1
        )
        rows[c.row].append(f"<{tag}{span}>{_cell_text(c.text)}</{tag}>")
    body = "\n".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f"<table>\n{body}\n</table>"


def _word_table(block: Block) -> str:
    """A table block as a Markdown table, or as plain lines when no grid is found.

    Rows: lines grouped by vertical centre (within half a median line height of the row's mean
    centre); the detector may read a cell or a whole row as one line. Columns: the x-extents of
    all words merged wherever they overlap or nearly touch, so a cut is an x-gap wider than a
    median word height that no word in any row crosses. Each cell is its column's words in the
    row, left to right, with ``|`` escaped. The first row is the header row.
    """
    lines = [line for line in block.lines if _words(line)]
    if not lines:
        return ""
    tol = _ROW_TOL * median(line.bbox[3] - line.bbox[1] for line in lines)
    grouped: list[list[TextLine]] = []
    for line in sorted(lines, key=_centre_y):
        if grouped and abs(_centre_y(line) - fmean(map(_centre_y, grouped[-1]))) <= tol:
            grouped[-1].append(line)
        else:
            grouped.append([line])
    rows = [sorted((w for ln in g for w in _words(ln)), key=lambda w: w.bbox[0]) for g in grouped]

    words = [w for row in rows for w in row]
    gap = _COLUMN_GAP * median(w.bbox[3] - w.bbox[1] for w in words)
    columns: list[list[float]] = []  # [x0, x1] of each column, left to right
    for x0, x1 in sorted((w.bbox[0], w.bbox[2]) for w in words):
        if columns and x0 - columns[-1][1] <= gap:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    if len(rows) < 2 or len(columns) < 2:
        return "\n".join(
            _escape_start(_escape_html(" ".join(w.text.strip() for w in row))) for row in rows
        )

    starts = [c[0] for c in columns]
    out = []
    for row in rows:
        cells: list[list[str]] = [[] for _ in columns]
        for w in row:  # every word lies inside one merged column interval
            cells[bisect_right(starts, w.bbox[0]) - 1].append(_escape_html(w.text.strip()))
        out.append("| " + " | ".join(" ".join(c).replace("|", r"\|") for c in cells) + " |")
    out.insert(1, "|" + " --- |" * len(columns))
    return "\n".join(out)
