"""Running heads and folios: page furniture found by position and repetition across a document.

The layout model labels some running heads and page numbers ``header``/``footer`` and calls
others ``text`` or even ``title`` (or merges them into a text block). This pass finds them
from the pages themselves, so they never land in a chunk or in the Markdown:

- Candidates are the lines in the top or bottom strip of a page (``STRIP`` of its height),
  outside tables and figures.
- A **folio** is a candidate that is a page number and nothing else ("12", "- 3 -", "Page 2",
  "Page 2 of 9", "iv"), alone in its row and with no other line between it and the page's
  edge. One is enough, so a one-page document's "Page 1" is found too.
- A **running head** (or foot) is candidate text that comes back on the same edge, at about the
  same height, on at least two pages and on at least ``QUORUM`` of the document's pages (the
  text compared with its numbers masked and a little OCR noise allowed: "Annual report 2013 -
  page 4" matches "Annua1 report 2013 - page 5"). Alternating heads (the book's title on left
  pages, the chapter's on right pages) count on their own when on every other page.
- By place alone: when every page of a document of two pages or more has a folio, and every
  page has one short line alone on top, a line's height clear of what follows, at the same
  height (within ``_SLOT_PLACE``), those lines are running heads even if their texts differ
  (a two-page excerpt with "Healthy Students Healthy Lives" on the left page and
  "Methodology" on the right).

Found lines become ``header`` (top strip) and ``footer`` (bottom strip) blocks, pulled out of
the block the model put them in (a text block left without lines is dropped); the page's
header blocks, the model's own included, are read first and its footer blocks last, so a folio
read between two columns moves to the end of the page.

The pass works in two steps so a caller streaming a long document keeps only the strips in
memory: ``page_strips`` for every page, ``find_running_heads`` over them, then
``apply_running_heads`` page by page. ``mark_running_heads`` does all three over a list.
Cost: a few ms a page (bench/running_heads.py); the strips of a long document are compared in
buckets of place and length, so 300 pages of prose strips take about a second.

Where it runs: where a document's chunks are made (``workers.documents.index``, two passes over
the stored pages) and its Markdown (``pipelines.markdown``). The stored pages stay as read (they
are stored one by one, before the document's other pages are known), so the page viewer shows
the model's own labels; the page text's reading order is the engine's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Literal

from pipelines.types import Block, PageResult, TextLine, union_box

Furniture = Literal["header", "footer"]

STRIP = 0.1  # share of the page height searched at the top and at the bottom
QUORUM = 0.5  # a running head is on at least this share of the pages (and on two)
_SAME_TEXT = 0.8  # masked texts at least this similar (difflib ratio) are the same head
_SAME_PLACE = 0.03  # ... when their centres are this share of the page height apart at most
_SAME_GRAMS = 0.5  # ... tried when this share of their character trigrams is shared
_LENGTH_STEP = math.log(1.15)  # ... and their lengths are in neighbouring 15% buckets
_SLOT_WORDS = 8  # a head found by its place alone has at most this many words
_SLOT_GAP = 1.0  # ... and this many of its heights free under it
_SLOT_PLACE = 0.01  # ... at the same height on every page, within this share of the page
_CAPTION = re.compile(r"^\W{0,3}(?:Table|Figure|Fig\.|Chart|Graph|Box|Annex)\b", re.IGNORECASE)
_NOT_TEXT = frozenset({"table", "figure", "table_caption", "figure_caption"})

# a page number alone: "12", "- 12 -", "(iv)", "Page 2", "p. 7", "Page 2 of 9", "3/10"
_NUMBER = r"(?:\d{1,4}|[ivxlcdm]{1,7})"
_FOLIO = re.compile(
    rf"^(?:(?:page|pag|pg|p|seite|s|pagina|página)\.?\s*)?[-–—(\[]?\s*{_NUMBER}\s*[-–—)\]]?"
    rf"(?:\s*(?:/|of|von|de|sur)\s*\d{{1,4}})?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"\b[ivxlcdm]{1,7}\b")
_PUNCT = re.compile(r"[^\w#]+")


def is_folio(text: str) -> bool:
    """Whether ``text`` is a page number and nothing else ("12", "- 3 -", "Page 2 of 9")."""
    return bool(_FOLIO.match(text.strip()))


def _masked(text: str) -> str:
    """``text`` compared across pages: lower case, numbers as ``#``, punctuation as spaces."""
    text = _ROMAN.sub("#", _DIGITS.sub("#", text.lower()))
    return " ".join(_PUNCT.sub(" ", text).split())


@dataclass(frozen=True)
class Candidate:
    """A line in a page's top or bottom strip: where it is and whether it could be a folio."""

    block: int  # index of its block on the page
    line: int  # index of the line in its block
    edge: str  # "top" or "bottom"
    text: str  # masked text ("" for none)
    centre: float  # vertical centre, a share of the page height
    folio: bool  # a page number alone in its row with nothing between it and the edge
    slot: bool = False  # a short line alone on top of the page, set apart from what follows


@dataclass(frozen=True)
class PageStrips:
    """The candidates of one page (all the running-head pass keeps of a page)."""

    page: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class RunningHeads:
    """The furniture lines found, by page: ``(block, line) -> "header" | "footer"``."""

    lines: dict[int, dict[tuple[int, int], Furniture]]

    def count(self) -> int:
        """How many lines were found over the document."""
        return sum(len(v) for v in self.lines.values())


def _overlaps_rows(a: TextLine, b: TextLine) -> bool:
    """Whether two lines share a row (their vertical extents overlap by half the shorter)."""
    overlap = min(a.bbox[3], b.bbox[3]) - max(a.bbox[1], b.bbox[1])
    shorter = min(a.bbox[3] - a.bbox[1], b.bbox[3] - b.bbox[1])
    return overlap > 0.5 * max(shorter, 1.0)


def page_strips(page: PageResult) -> PageStrips:
    """The lines in ``page``'s top and bottom strips that may be running heads or folios."""
    if page.height <= 0:
        return PageStrips(page.page, ())
    lines = [
        (b, i, line)
        for b, block in enumerate(page.blocks)
        for i, line in enumerate(block.lines)
        if line.text.strip()
    ]
    top_edge, bottom_edge = page.height * STRIP, page.height * (1 - STRIP)
    out = []
    for b, i, line in lines:
        block = page.blocks[b]
        if block.kind in _NOT_TEXT or block.table is not None:
            continue
        if line.bbox[3] <= top_edge:
            edge = "top"
        elif line.bbox[1] >= bottom_edge:
            edge = "bottom"
        else:
            continue
        others = [o for _, _, o in lines if o is not line]
        alone = not any(_overlaps_rows(line, o) for o in others)
        if edge == "top":
            outermost = not any(o.bbox[3] <= line.bbox[1] for o in others)
        else:
            outermost = not any(o.bbox[1] >= line.bbox[3] for o in others)
        centre = (line.bbox[1] + line.bbox[3]) / 2 / page.height
        folio = alone and outermost and is_folio(line.text)
        slot = edge == "top" and alone and outermost and _heads_page(line, others)
        out.append(Candidate(b, i, edge, _masked(line.text), centre, folio, slot))
    return PageStrips(page.page, tuple(out))


def _heads_page(line: TextLine, others: Sequence[TextLine]) -> bool:
    """Whether ``line`` (alone on top of its page) could be a running head by its looks: a
    few words, no sentence or caption, a line's height free under it."""
    text = line.text.strip()
    if not 1 <= len(text.split()) <= _SLOT_WORDS or text.endswith((".", ",", ":", ";")):
        return False
    if _CAPTION.match(text) or not any(c.isalpha() for c in text):
        return False
    below = [o.bbox[1] for o in others if o.bbox[1] >= line.bbox[3] - 1]
    height = line.bbox[3] - line.bbox[1]
    return not below or min(below) - line.bbox[3] >= _SLOT_GAP * height


def _slot_heads(pages: Sequence[PageStrips]) -> list[tuple[int, Candidate]]:
    """Heads found by place alone: on a document of two pages or more where every page has a
    folio, one short line set apart on top of every page at the same height (a left-page head
    and a right-page head differ in text, and two pages cannot show a repetition)."""
    if len(pages) < 2 or not all(any(c.folio for c in s.candidates) for s in pages):
        return []
    heads = []
    for strip in pages:
        slots = [c for c in strip.candidates if c.slot]
        if len(slots) != 1:
            return []
        heads.append((strip.page, slots[0]))
    centres = [c.centre for _, c in heads]
    return heads if max(centres) - min(centres) <= _SLOT_PLACE else []


@dataclass
class _Group:
    """Candidates of distinct pages with the same masked text at the same place."""

    first: Candidate
    grams: frozenset[str]
    members: list[tuple[int, Candidate]]
    pages: set[int]


def _grams(text: str) -> frozenset[str]:
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _groups(pages: Sequence[PageStrips]) -> list[list[tuple[int, Candidate]]]:
    """The candidates with text grouped by masked text (fuzzy) and place, one per page.

    Groups are kept in buckets by edge and height, so a candidate is compared with the groups
    near it only; the same text is found by a dictionary, a fuzzy match is tried when the
    character trigrams of the two texts mostly agree (a long document has many strip lines)."""
    groups: list[_Group] = []
    exact: dict[tuple[str, str], list[_Group]] = {}
    near: dict[tuple[str, int, int], list[_Group]] = {}
    for strip in pages:
        for c in strip.candidates:
            if not c.text.replace("#", "").strip():
                continue  # only numbers: a folio or nothing
            # OCR noise changes a head's length by a few characters: buckets of about 15%
            bucket, size = int(c.centre / _SAME_PLACE), int(math.log(len(c.text)) / _LENGTH_STEP)

            def fits(g: _Group, c: Candidate = c, page: int = strip.page) -> bool:
                return page not in g.pages and abs(g.first.centre - c.centre) <= _SAME_PLACE

            group = next((g for g in exact.get((c.edge, c.text), []) if fits(g)), None)
            grams = _grams(c.text)
            if group is None:
                keys = [(c.edge, bucket + i, size + j) for i in (-1, 0, 1) for j in (-1, 0, 1)]
                for g in (g for key in keys for g in near.get(key, [])):
                    common = len(grams & g.grams)
                    shared = common / max(1, len(grams) + len(g.grams) - common)
                    if (
                        shared >= _SAME_GRAMS
                        and fits(g)
                        and SequenceMatcher(None, g.first.text, c.text).ratio() >= _SAME_TEXT
                    ):
                        group = g
                        break
            if group is None:
                group = _Group(c, grams, [], set())
                groups.append(group)
                exact.setdefault((c.edge, c.text), []).append(group)
                near.setdefault((c.edge, bucket, size), []).append(group)
            group.members.append((strip.page, c))
            group.pages.add(strip.page)
    return [g.members for g in groups]


def find_running_heads(strips: Iterable[PageStrips]) -> RunningHeads:
    """The running heads and folios of a document, from the strips of all its pages."""
    pages = list(strips)
    found: dict[int, dict[tuple[int, int], Furniture]] = {}

    def mark(page: int, c: Candidate) -> None:
        found.setdefault(page, {})[(c.block, c.line)] = "header" if c.edge == "top" else "footer"

    groups = _groups(pages)
    for strip in pages:
        for c in strip.candidates:
            if c.folio:
                mark(strip.page, c)
    need = max(2.0, QUORUM * len(pages))
    for group in groups:
        # alternating heads (left pages, right pages) are each on half as many pages
        if len(group) >= need or (len(group) >= max(2.0, need / 2) and _alternate(group)):
            for page, c in group:
                mark(page, c)
    for page, c in _slot_heads(pages):
        mark(page, c)
    return RunningHeads(found)


def _alternate(group: Sequence[tuple[int, Candidate]]) -> bool:
    """Whether a head's pages are all odd or all even (a left-page or right-page head)."""
    return len({page % 2 for page, _ in group}) == 1


def apply_running_heads(page: PageResult, heads: RunningHeads) -> PageResult:
    """``page`` with its running heads and folios as header and footer blocks, pulled out of
    the blocks they were in; header blocks first, footer blocks last."""
    marked = heads.lines.get(page.page, {})
    headers: list[Block] = []
    footers: list[Block] = []
    body: list[Block] = []
    for b, block in enumerate(page.blocks):
        if block.kind == "header":
            headers.append(block)
            continue
        if block.kind == "footer":
            footers.append(block)
            continue
        kept = []
        for i, line in enumerate(block.lines):
            kind = marked.get((b, i))
            if kind is None:
                kept.append(line)
            else:
                (headers if kind == "header" else footers).append(Block(kind, line.bbox, (line,)))
        if len(kept) == len(block.lines):
            body.append(block)
        elif kept:
            body.append(replace(block, bbox=union_box([ln.bbox for ln in kept]), lines=tuple(kept)))
        # a text block left without lines is dropped (tables and figures give no candidates)
    blocks = (*headers, *body, *footers)
    if blocks == page.blocks:
        return page
    return replace(page, blocks=blocks)


def mark_running_heads(pages: Sequence[PageResult]) -> list[PageResult]:
    """A document's pages with their running heads and folios as header and footer blocks."""
    heads = find_running_heads(page_strips(p) for p in pages)
    return [apply_running_heads(p, heads) for p in pages]
