"""Lists and headings on a page, found from the lines when the layout model did not mark them.

Two rewrites of a page's blocks, used where chunks and Markdown are made:

- **List items** (``split_list_items``): a text block holding two or more lines that open with
  a list marker of one family, at about the same left edge, is cut before each of them: the
  text before the first item stays a paragraph block, each item becomes a block of its own with
  its wrapped lines (a line after an item is the item's continuation unless the item ended a
  sentence and the line is flush with the marker: then it is a paragraph again). Markers:
  numbers ``1.`` ``1)`` ``(1)``, letters and roman numerals ``a.`` ``b)`` ``(c)`` ``(iv)``
  (capital letters only with a parenthesis: "A. Lovelace" is a name), bullets ``•`` ``-``
  ``*`` ``–`` and their kin. ``list_marker`` tells an item's marker; a block whose first line
  opens with one is an item (Markdown writes it as one).
- **Headings** (``promote_headings``): a one-line ``text`` block is made a ``title`` when it
  reads like a heading (at most ``_HEADING_WORDS`` words, mostly letters, not ending in ``.``,
  ``,``, ``;``, ``:`` or a word such as "the" or "of", no "Key: value", not a caption, note,
  page number or list item, unless a numbered one taller than the body: "1. Introduction")
  and heads text (the
  next block is text under it), and either its line is taller than the page's body lines
  (``_TALLER``) or it stands alone: nothing of its column above it, or a gap of
  ``_SPACE_ABOVE`` body line heights at least. So "Minutes of the River Board, 12 March" on top
  of a page's minutes starts a section even when the model called it text.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from pipelines.running_heads import is_folio
from pipelines.table_text import CAPTION_START
from pipelines.types import Block, TextLine, union_box

_MARKER = re.compile(
    r"^(?:"
    r"(?P<number>\(?\d{1,3}[.)]|\(\d{1,3}\))"
    r"|(?P<letter>\(?[a-z][.)]|\([A-Z]\)|[A-Z]\)|\(?(?:i{1,3}|iv|vi{0,3}|ix|x)[.)])"
    r"|(?P<bullet>[•·▪◦●○■□►▸‣⁃\-*–—])"
    r")\s+(?=\S)"
)
_ALIGN = 1.5  # list markers of one list start within this many line heights of each other
_SENTENCE_END = (".", "!", "?", ":", ";")
_HEADING_WORDS = 12  # a heading has at most this many words
_HEADING_CHARS = 90  # ... and characters
_TALLER = 1.2  # a line this many times the body's line height is a heading by size
_NOT_SHORTER = 0.8  # a heading's line is at least this share of the body's line height
_SPACE_ABOVE = 0.7  # a heading standing alone has this many body line heights free above it
_NOT_HEADING = re.compile(r"^\W{0,3}(?:Sources?|Notes?|NB|Figure|Fig\.|Chart|Graph)\b", re.I)
_BODY_KINDS = ("text", "equation")
# words a heading does not end in, though a line of running text often does
_OPEN_ENDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    ]
)


def list_marker(text: str) -> tuple[str, str] | None:
    """The family ("number", "letter", "bullet") and marker of a list item's text, or None."""
    m = _MARKER.match(text.lstrip())
    if m is None or m.lastgroup is None:
        return None
    return m.lastgroup, m[m.lastgroup]


def _height(line: TextLine) -> float:
    return line.bbox[3] - line.bbox[1]


def _items(block: Block) -> list[Block] | None:
    """``block`` cut into a paragraph and list items, or None when it holds no list."""
    lines = [ln for ln in block.lines if ln.text.strip()]
    markers = [list_marker(ln.text) for ln in lines]
    families = [m[0] for m in markers if m is not None]
    if len(families) < 2:
        return None
    family = max(set(families), key=families.count)
    starts = [i for i, m in enumerate(markers) if m is not None and m[0] == family]
    if len(starts) < 2:
        return None
    height = statistics.median(_height(ln) for ln in lines)
    left = statistics.median(lines[i].bbox[0] for i in starts)
    starts = [i for i in starts if abs(lines[i].bbox[0] - left) <= _ALIGN * height]
    if len(starts) < 2:
        return None
    groups: list[list[TextLine]] = []
    if starts[0] > 0:
        groups.append(list(lines[: starts[0]]))
    item_left = left
    for i in range(starts[0], len(lines)):
        line = lines[i]
        if i in starts:
            groups.append([line])
            continue
        previous = groups[-1][-1].text.rstrip()
        flush = line.bbox[0] - item_left <= 0.5 * height
        if previous.endswith(_SENTENCE_END) and flush and i > starts[-1]:
            groups.append([line])  # the paragraph after the list
        else:
            groups[-1].append(line)
    return [Block(block.kind, union_box([ln.bbox for ln in g]), tuple(g)) for g in groups]


def split_list_items(blocks: Sequence[Block]) -> list[Block]:
    """The blocks with each text block holding a list cut into its items (see the module)."""
    out: list[Block] = []
    for block in blocks:
        items = _items(block) if block.kind == "text" and block.table is None else None
        out.extend(items or [block])
    return out


def _body_height(blocks: Sequence[Block]) -> float | None:
    """The median line height of the page's running text (blocks of two lines or more)."""
    heights = [
        _height(ln) for b in blocks if b.kind == "text" and len(b.lines) > 1 for ln in b.lines
    ]
    if not heights:
        heights = [_height(ln) for b in blocks if b.kind == "text" for ln in b.lines]
    return statistics.median(heights) if heights else None


def _reads_like_heading(text: str, tall: bool) -> bool:
    """Whether a line's text may be a heading; a numbered one ("1. Introduction") only when
    ``tall`` (taller than the body: a list item is body-sized)."""
    words = text.split()
    if not 1 <= len(words) <= _HEADING_WORDS or len(text) > _HEADING_CHARS:
        return False
    if text.endswith((".", ",", ";", ":", "-")) or is_folio(text):
        return False
    if ":" in text or words[-1].lower() in _OPEN_ENDS:
        return False  # a form's "Key: value", or a line of a paragraph broken off
    if CAPTION_START.match(text) or _NOT_HEADING.match(text):
        return False
    marker = list_marker(text)
    if marker is not None and not (tall and marker[0] == "number"):
        return False
    first = next((c for c in text if c.isalnum()), "")
    if not (first.isupper() or first.isdigit()):
        return False
    letters = sum(c.isalpha() for c in text)
    if letters < 0.5 * len(text.replace(" ", "")):
        return False
    return any(sum(c.isalpha() for c in w) >= 3 for w in words)


def _across(a: Block, b: Block) -> bool:
    """Whether two blocks overlap horizontally."""
    return min(a.bbox[2], b.bbox[2]) > max(a.bbox[0], b.bbox[0])


def _is_heading(blocks: Sequence[Block], i: int, body: float) -> bool:
    block = blocks[i]
    if block.kind != "text" or len(block.lines) != 1 or block.table is not None:
        return False
    line = block.lines[0]
    tall = _height(line) >= _TALLER * body
    if not _reads_like_heading(line.text.strip(), tall) or _height(line) < _NOT_SHORTER * body:
        return False
    if i + 1 >= len(blocks):
        return False
    below = blocks[i + 1]
    if below.kind not in _BODY_KINDS or not _across(block, below):
        return False
    if below.bbox[1] < line.bbox[3] - 0.5 * body:
        return False  # the next block is beside it, not under it
    if tall:
        return True
    above = [
        b
        for b in blocks[:i]
        if b.kind not in ("header", "footer")
        and _across(b, block)
        and b.bbox[3] <= line.bbox[1] + 0.5 * body
    ]
    if not above:
        return True
    return line.bbox[1] - max(b.bbox[3] for b in above) >= _SPACE_ABOVE * body


def promote_headings(blocks: Sequence[Block], body: float | None = None) -> list[Block]:
    """The blocks with the one-line text blocks that are headings made ``title`` blocks;
    ``body``: the page's body line height (default: measured on ``blocks``)."""
    body = _body_height(blocks) if body is None else body
    if body is None:
        return list(blocks)
    return [
        Block("title", b.bbox, b.lines) if _is_heading(blocks, i, body) else b
        for i, b in enumerate(blocks)
    ]


def page_structure(blocks: Sequence[Block]) -> list[Block]:
    """A page's blocks with list items cut apart and unmarked headings made titles."""
    # the body's line height before lists are cut into one-line items
    return promote_headings(split_list_items(blocks), _body_height(blocks))
