"""Chunks: a document's blocks cut into retrievable passages that keep their page and boxes.

The rules, in order:

1. A chunk never crosses a page; ordinals run 0, 1, 2, ... across the whole document.
2. A block of kind ``title`` starts a new chunk. Titles stacked directly on each other stay
   together as one heading ("Chapter 2" over "Methods").
3. Blocks are packed in reading order while the chunk fits ``max_tokens``, and a chunk ends at a
   sentence end, so the sentence a hit answers with is whole in one chunk: a block larger than
   the budget is cut into its sentences (a line holding a sentence end is cut there, each part
   boxed by its words), and a block that goes on with the sentence the block before left open
   (a paragraph run on into the next column or page: it starts in lower case) is not parted
   from it while an earlier sentence end can end the chunk. Only a sentence larger than the
   budget is split between its lines, and a line larger than the budget between its words. A
   sentence ends at ".", "?" or "!" (closing quotes or brackets after it) unless the next word
   starts in lower case ("e.g. the").
4. A chunk that does not start with its heading gets the heading prepended as context
   (``"Heading\\nbody"``). The heading is the nearest title above it on the page or, for text
   above the first title of a page, the last title of an earlier page: a section running over a
   page break keeps its heading (``carry_title=False`` turns that off). The context counts
   against the budget and is cut to half of it at most, so a long title cannot crowd out the body.
5. A section's last chunk shorter than ``min_tokens`` takes whole pieces from the end of the chunk
   before it (same page, same heading), so a section does not end in a scrap.

6. Structure: running headers and footers are left out (they stay in the page data); so are
   running heads and folios the layout model called text when the pages went through
   ``pipelines.running_heads`` first (``mark_running_heads``, or ``find_running_heads`` and
   ``apply_running_heads`` over a stream, as the indexing worker does). Lists and headings
   the model did not mark are found on each page (``pipelines.page_structure``): a text block
   holding a list is cut into its items, so an item is never run into the paragraph before
   it (blocks are joined with newlines), and a short line standing alone or taller than the
   body is a ``title`` (rules 2 and 4), so a page's own heading titles its chunks
   (``structure=False`` turns that off). A chunk never
   joins text across a region of another kind: a table (with its caption) is a chunk of its own,
   rows in order, split between rows only when over the budget; a figure's caption and any text
   inside it make a chunk of kind ``figure`` whose box is the figure's region. Each chunk knows
   its ``kind`` (text, table or figure) and the ``title`` of the section it sits in.

7. Tables with cells (``Block.table``): a table's chunks each hold its caption and its header
   rows, then a group of body rows packed to the budget (so a long table is split between
   rows, the header repeated in every group). The stored ``text`` has the raw cells (a row a
   line, cells joined by " | "); ``embed_text``, what the embedder reads, has the caption
   and header rows too, then names each value by its row and column headers ("Carbon
   dioxide, to water kg/year: 100 000"; see ``pipelines.table_text``), and the budget is
   counted on it. Such a chunk keeps its
   ``cells`` (the header rows' and its rows', ``header`` set on the header rows) and ``table``,
   the table's 0-based index among the document's tables with cells, so a hit can name the
   cells it matched. A table block without cells is chunked from its lines as in 6.

8. A caption the layout did not label (``table_caption``) is still tied to the table with
   cells right under it, so it is read in every row group and is no passage of its own: up to
   ``_CAPTION_BLOCKS`` short blocks just above the table (text, or a one-row or one-column
   "table" the structure model read a caption as) when one of them opens like a caption
   ("Table 6.1:", "Table SA3.", "Tab. 2"), or one short line just above it (a label such as
   "Greenhouse gases"); lines closing the paragraph above, set apart from it by a gap, count
   as a block of their own ("... less bank related product." then "Table 3 - European ABCP
   issuance").

Text: the lines of a block are joined with " ", and a line ending in a letter and "-" is joined
without the space; the hyphen is dropped when the next line starts in lower case ("exam-" +
"ple" -> "example") and kept otherwise ("Anglo-" + "Saxon"). Blocks are joined with "\\n".
``bbox`` and ``line_boxes`` cover the chunk's own lines only, never the prepended heading.

``count_tokens`` must add up over text joined at whitespace (a whitespace word count does, and so
does a WordPiece tokenizer): the budget is checked on the sum of the pieces' counts.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.vocab import ChunkKind, as_bbox
from pipelines.page_structure import page_structure
from pipelines.table_text import CAPTION_START, TableGrid, body_rows, header_text
from pipelines.text import block_text, join_lines
from pipelines.types import BBox, Block, PageResult, TableCell, TextLine, union_box

TokenCounter = Callable[[str], int]


def count_words(text: str) -> int:
    """The number of whitespace-separated words in ``text`` (the default token count)."""
    return len(text.split())


# the chunk kind of each block kind (headers and footers make no chunk)
_CHUNK_KIND: dict[str, ChunkKind] = {
    "title": "text",
    "text": "text",
    "equation": "text",
    "table": "table",
    "table_caption": "table",
    "figure": "figure",
    "figure_caption": "figure",
}
_CAPTION_OF = {"table_caption": "table", "figure_caption": "figure"}


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: its page, place in the document, text and page-pixel boxes."""

    page: int  # 1-based
    ordinal: int  # 0-based position in the document, consecutive across pages
    text: str
    bbox: BBox  # union of line_boxes (and of the figure's region, for a figure)
    line_boxes: tuple[BBox, ...]  # one per line (or part of a line) the chunk holds
    kind: ChunkKind = "text"
    title: str | None = None  # the heading of the section the chunk sits in
    embed_text: str | None = None  # what the embedder reads, when not ``text`` (tables)
    cells: tuple[TableCell, ...] | None = None  # a table chunk's cells (header rows included)
    table: int | None = None  # a table chunk's table: 0-based among the document's tables

    @property
    def embedded(self) -> str:
        """The text the embedder reads."""
        return self.text if self.embed_text is None else self.embed_text

    def to_dict(self) -> dict[str, Any]:
        """The chunk as JSON-ready values (a table chunk's embed text, cells and table too)."""
        d: dict[str, Any] = {
            "page": self.page,
            "ordinal": self.ordinal,
            "text": self.text,
            "bbox": list(self.bbox),
            "line_boxes": [list(b) for b in self.line_boxes],
            "kind": self.kind,
            "title": self.title,
        }
        if self.embed_text is not None:
            d["embed_text"] = self.embed_text
        if self.cells is not None:
            d["cells"] = [c.to_dict() for c in self.cells]
            d["table"] = self.table
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        """A chunk from the values ``to_dict`` wrote."""
        return cls(
            page=int(d["page"]),
            ordinal=int(d["ordinal"]),
            text=d["text"],
            bbox=as_bbox(d["bbox"]),
            line_boxes=tuple(as_bbox(b) for b in d["line_boxes"]),
            kind=d.get("kind", "text"),
            title=d.get("title"),
            embed_text=d.get("embed_text"),
            cells=None if d.get("cells") is None else tuple(map(TableCell.from_dict, d["cells"])),
            table=d.get("table"),
        )


@dataclass(frozen=True)
class ChunkParams:
    """The token budget of a chunk and how the end of a section is balanced."""

    max_tokens: int = 160  # most tokens in a chunk, heading context included
    min_tokens: int = 24  # a section's last chunk below this borrows from the one before
    carry_title: bool = True  # text above a page's first title gets the previous page's title
    structure: bool = True  # cut lists into items, make unmarked headings titles (rule 6)

    def __post_init__(self) -> None:
        if self.max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2, got {self.max_tokens}")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ValueError(f"min_tokens must be in [0, max_tokens], got {self.min_tokens}")


@dataclass(frozen=True)
class _Span:
    """A line, or a run of words of one line, with its box."""

    text: str
    bbox: BBox


@dataclass(frozen=True)
class _Piece:
    """Spans of one block that are never split again: the unit chunks are packed from."""

    block: int  # index of the block on its page
    title: bool
    spans: tuple[_Span, ...]
    tokens: int


@dataclass
class _Section:
    """A heading (stacked title blocks, possibly none) and the body blocks that follow it."""

    heading: list[Block]
    body: list[Block]


def _body(pieces: Sequence[_Piece]) -> str:
    """The text of pieces: spans of one block joined as lines, blocks joined with newlines."""
    parts: list[str] = []
    last_block = -1
    for piece in pieces:
        for span in piece.spans:
            if piece.block == last_block:
                parts[-1] = join_lines(parts[-1], span.text)
            else:
                parts.append(span.text)
                last_block = piece.block
    return "\n".join(parts)


def _pack(
    sizes: Sequence[int],
    budget: int,
    first_budget: int | None = None,
    breaks: Sequence[bool] | None = None,
) -> list[list[int]]:
    """Greedy groups of consecutive indices whose sizes fit the budget (an oversize item alone).

    ``breaks[i]``: whether a group may start at item ``i``. A group that cannot take the next
    item ends before its last item that may start one (the items from there open the next
    group), or, when none may, where the budget runs out.
    """
    groups: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        limit = first_budget if first_budget is not None and len(groups) == 1 else budget
        if groups and total + size <= limit:
            groups[-1].append(i)
            total += size
            continue
        if groups and breaks is not None and not breaks[i]:
            group = groups[-1]
            cut = next((k for k in range(len(group) - 1, 0, -1) if breaks[group[k]]), None)
            moved = group[cut:] if cut is not None else []
            if moved and sum(sizes[j] for j in moved) + size <= budget:
                del group[cut:]
                groups.append([*moved, i])
                total = sum(sizes[j] for j in groups[-1])
                continue
        groups.append([i])
        total = size
    return groups


def _word_runs(line: TextLine, text: str, budget: int, count: TokenCounter) -> list[_Span]:
    """An overlong line split between words into runs that fit the budget.

    A run's box is the union of its word boxes when the line's words match its text, else the
    line's box. A single word larger than the budget stays whole (the embedder truncates it).
    """
    words = text.split()
    boxes = [w.bbox for w in line.words] if len(line.words) == len(words) else None
    runs = []
    for group in _pack([count(w) for w in words], budget):
        bbox = union_box([boxes[i] for i in group]) if boxes else line.bbox
        runs.append(_Span(" ".join(words[i] for i in group), bbox))
    return runs


# a word that ends a sentence: ".", "?" or "!", then closing quotes or brackets at most
_SENTENCE_END = re.compile(r"[.?!][\"'\u2019\u201d)\]]*$")


def _sentence_end(word: str, following: str | None) -> bool:
    """Whether a sentence ends after ``word`` (``following``: the next word of the block, if
    any). A next word in lower case continues the sentence ("e.g. the", "approx. five")."""
    return bool(_SENTENCE_END.search(word)) and not _goes_on(following or "A")


def _goes_on(word: str) -> bool:
    """Whether ``word`` reads as the continuation of a sentence: its first letter or digit is
    a lower-case letter (quotes and brackets before it are skipped)."""
    return next((ch for ch in word if ch.isalnum()), "").islower()


def _share(bbox: BBox, text: str, first: int, part: str) -> BBox:
    """The box of ``part``, the words of ``text`` from word ``first`` on, in a line without word
    boxes: the line's box cut by the share of its characters before and in the part (so the
    part's words can be found in the line again by their place)."""
    start = len(" ".join(text.split()[:first])) + (1 if first else 0)
    x0, width, size = bbox[0], bbox[2] - bbox[0], max(1, len(" ".join(text.split())))
    return (x0 + width * start / size, bbox[1], x0 + width * (start + len(part)) / size, bbox[3])


def _sentences(lines: Sequence[tuple[TextLine, str]]) -> list[list[tuple[_Span, TextLine]]]:
    """A block's lines cut into sentences: each a list of spans (whole lines, or runs of the
    words of a line cut at a sentence end, boxed by their words when the line's words match
    its text, else by the line), each with its line (the run's words only, for a run)."""
    words: list[tuple[int, str]] = [
        (k, w) for k, (_, text) in enumerate(lines) for w in text.split()
    ]
    sentences: list[list[tuple[_Span, TextLine]]] = [[]]
    run: list[int] = []  # indices into ``words`` of the current run of one line

    def close_run() -> None:
        line, text = lines[words[run[0]][0]]
        n = len(text.split())
        if len(run) == n:
            sentences[-1].append((_Span(text, line.bbox), line))
        else:
            first = run[0] - next(i for i, (k, _) in enumerate(words) if k == words[run[0]][0])
            own = line.words[first : first + len(run)] if len(line.words) == n else ()
            part = " ".join(words[i][1] for i in run)
            bbox = union_box([w.bbox for w in own]) if own else _share(line.bbox, text, first, part)
            sentences[-1].append((_Span(part, bbox), TextLine(part, bbox, line.confidence, own)))
        run.clear()

    for i, (k, word) in enumerate(words):
        run.append(i)
        following = words[i + 1][1] if i + 1 < len(words) else None
        if i + 1 == len(words) or words[i + 1][0] != k:
            close_run()
        if following is not None and _sentence_end(word, following):
            if run:
                close_run()
            sentences.append([])
    return [s for s in sentences if s]


def _may_break(before: _Piece, after: _Piece) -> bool:
    """Whether a chunk may end between two pieces: after a sentence end, or between blocks
    unless the second goes on with the first's sentence (a paragraph run on into the next
    column or page starts in lower case); never right after a heading (it would be left
    with nothing under it)."""
    if before.title:
        return False
    last = before.spans[-1].text.split()
    first = after.spans[0].text.split()
    if not last or not first or _SENTENCE_END.search(last[-1]):
        return True
    return before.block != after.block and not _goes_on(first[0])


def _pieces(index: int, block: Block, budget: int, count: TokenCounter) -> list[_Piece]:
    """A block as one piece, or, when larger than the budget, one piece per sentence (so a
    chunk ends at a sentence end); a sentence larger than the budget is split between lines
    (and words)."""
    lines = [(line, line.text.strip()) for line in block.lines if line.text.strip()]
    if not lines:
        return []
    title = block.kind == "title"
    whole = tuple(_Span(text, line.bbox) for line, text in lines)
    tokens = count(block_text(text for _, text in lines))
    if tokens <= budget:
        first = _sentences(lines) if not title and _goes_on(lines[0][1]) else []
        if len(first) < 2:
            return [_Piece(index, title, whole, tokens)]
        # a block going on with the sentence the block before left open (a paragraph run on
        # into the next column): the end of that sentence is a piece of its own, so it can
        # join the chunk holding the sentence's start while the rest opens the next
        head = tuple(span for span, _ in first[0])
        rest = tuple(span for sentence in first[1:] for span, _ in sentence)
        return [
            _Piece(index, title, head, count(" ".join(s.text for s in head))),
            _Piece(index, title, rest, count(" ".join(s.text for s in rest))),
        ]
    pieces = []
    for sentence in _sentences(lines):
        n = count(" ".join(span.text for span, _ in sentence))
        if n <= budget:
            pieces.append(_Piece(index, title, tuple(span for span, _ in sentence), n))
            continue
        units: list[tuple[_Span, int]] = []
        for span, line in sentence:
            n = count(span.text)
            if n <= budget:
                units.append((span, n))
            else:
                units.extend((s, count(s.text)) for s in _word_runs(line, span.text, budget, count))
        for group in _pack([n for _, n in units], budget):
            spans = tuple(units[i][0] for i in group)
            pieces.append(_Piece(index, title, spans, sum(units[i][1] for i in group)))
    return pieces


# rule 8's limits, set on the dev tables (shared/data/tables/dev, bench/tables.py table 3)
_NOT_A_LABEL = re.compile(r"^\W{0,3}(?:Sources?|Notes?|NB)\b", re.IGNORECASE)
_CAPTION_BLOCKS = 3  # blocks above a table looked at for its caption
_CAPTION_LINES = 3  # a text block with more lines is a paragraph, not a caption
_CAPTION_GAP = 3.0  # a caption's blocks are at most this many line heights apart
_LABEL_WORDS = 15  # a caption-less table's label: one line of at most this many words
_LABEL_GAP = 1.5  # ... at most this many of its line heights above the table
_SET_APART = 0.5  # a paragraph's closing lines after a gap this many line heights are apart


def _line_height(block: Block) -> float:
    return statistics.median(ln.bbox[3] - ln.bbox[1] for ln in block.lines) if block.lines else 0.0


def _opens_caption(block: Block) -> bool:
    return bool(CAPTION_START.match(block.text.lstrip()))


def _caption_candidate(block: Block, table: Block) -> bool:
    """Whether ``block`` may be (part of) the caption of ``table``: a caption, a short text
    block or a one-row or one-column "table", starting above the table and overlapping it
    across."""
    if block.bbox[1] >= table.bbox[1] or block.bbox[2] <= table.bbox[0]:
        return False
    if block.bbox[0] >= table.bbox[2] or not block.text.strip():
        return False
    if block.kind == "table_caption":
        return True
    if block.kind == "table" and block.table is not None:
        grid = block.table
        return (grid.rows <= 2 or grid.cols == 1) and len(block.lines) <= _CAPTION_LINES
    return block.kind == "text" and len(block.lines) <= _CAPTION_LINES


def _is_label(block: Block, table: Block) -> bool:
    """Whether ``block`` is one short line just above ``table`` naming it ("Greenhouse gases")."""
    if block.kind != "text" or len(block.lines) != 1 or block.table is not None:
        return False
    text = block.text.strip()
    if len(text.split()) > _LABEL_WORDS or text.endswith(".") or _NOT_A_LABEL.match(text):
        return False
    return table.bbox[1] - block.bbox[3] <= _LABEL_GAP * _line_height(block)


def _split_closing_lines(block: Block) -> tuple[Block, Block] | None:
    """A text block's last lines (``_CAPTION_LINES`` at most) set apart from the lines above
    them by a gap, as two blocks; None when there is no such gap."""
    if block.kind != "text" or len(block.lines) < 2:
        return None
    height = _line_height(block)
    lines = block.lines
    for k in range(len(lines) - 1, max(0, len(lines) - 1 - _CAPTION_LINES), -1):
        if lines[k].bbox[1] - lines[k - 1].bbox[3] >= _SET_APART * height:
            head, tail = lines[:k], lines[k:]
            return (
                Block("text", union_box([ln.bbox for ln in head]), head),
                Block("text", union_box([ln.bbox for ln in tail]), tail),
            )
    return None


def _caption_of(above: Sequence[Block], table: Block) -> int:
    """How many of the last blocks of ``above`` (the blocks before ``table`` in reading
    order) are its caption (rule 8): those from the nearest that opens like a caption, or the
    last alone when it is a label; 0 for none."""
    run, below = 0, table
    while run < min(_CAPTION_BLOCKS, len(above)):
        block = above[-1 - run]
        near = below.bbox[1] - block.bbox[3] <= _CAPTION_GAP * _line_height(block)
        if not (near and _caption_candidate(block, table)):
            break
        run, below = run + 1, block
    for n in range(1, run + 1):
        if _opens_caption(above[-n]):
            return n
    if above and above[-1].kind == "table_caption":
        return 1
    return 1 if above and _is_label(above[-1], table) else 0


def _tie_captions(blocks: Sequence[Block]) -> list[Block]:
    """The page's blocks with each caption of a table with cells (rule 8) made one
    ``table_caption`` block right before it, so it joins the table's chunks."""
    out: list[Block] = []
    for block in blocks:
        if block.kind == "table" and block.table is not None and out:
            split = _split_closing_lines(out[-1])
            if split is not None and _caption_of([*out[:-1], *split], block) == 1:
                out[-1:] = split
            n = _caption_of(out, block)
            if n:
                lines = tuple(ln for b in out[-n:] for ln in b.lines)
                caption = Block("table_caption", union_box([b.bbox for b in out[-n:]]), lines)
                out[-n:] = [caption]
        out.append(block)
    return out


def _sections(blocks: Iterable[Block]) -> list[_Section]:
    """Blocks with text grouped under their headings, in reading order."""
    sections: list[_Section] = []
    for block in blocks:
        if block.kind not in _CHUNK_KIND:
            continue  # running headers and footers: page data, not passages
        if block.kind != "figure" and not any(line.text.strip() for line in block.lines):
            continue
        if block.kind == "title":
            if sections and sections[-1].heading and not sections[-1].body:
                sections[-1].heading.append(block)
            else:
                sections.append(_Section([block], []))
        else:
            if not sections:
                sections.append(_Section([], []))
            sections[-1].body.append(block)
    return sections


def _heading_text(blocks: Sequence[Block]) -> str:
    """A heading's text as it reads in a chunk: lines joined with spaces, blocks with newlines."""
    return "\n".join(
        block_text(ln.text.strip() for ln in b.lines if ln.text.strip()) for b in blocks
    )


def _context(text: str | None, params: ChunkParams, count: TokenCounter) -> tuple[str | None, int]:
    """The heading context and its token count, cut to half the budget between words."""
    if not text:
        return None, 0
    tokens = count(text)
    limit = params.max_tokens // 2
    if tokens <= limit:
        return text, tokens
    words = text.split()
    sizes = [count(w) for w in words]
    first = _pack(sizes, limit)[0]
    return " ".join(words[i] for i in first), sum(sizes[i] for i in first)


def _balance_tail(
    groups: list[list[int]], pieces: Sequence[_Piece], budget: int, least: int
) -> None:
    """Move whole pieces from the second-to-last group into a last group smaller than ``least``."""
    while len(groups) >= 2:
        prev, tail = groups[-2], groups[-1]
        tail_tokens = sum(pieces[i].tokens for i in tail)
        moved = pieces[prev[-1]]
        if tail_tokens >= least or len(prev) < 2 or tail_tokens + moved.tokens > budget:
            return
        # a heading left alone would be a chunk with nothing under it
        if all(pieces[i].title for i in prev[:-1]):
            return
        tail.insert(0, prev.pop())


def _segments(body: Sequence[Block]) -> list[tuple[ChunkKind, list[Block]]]:
    """A section's body cut where the kind changes: runs of text blocks, and each table or
    figure with its caption (the caption next to it, before or after), never joined."""
    out: list[tuple[ChunkKind, list[Block]]] = []
    for block in body:
        kind = _CHUNK_KIND[block.kind]
        last = out[-1] if out else None
        if kind == "text" and last is not None and last[0] == "text":
            last[1].append(block)
            continue
        caption = block.kind in _CAPTION_OF
        if last is not None and last[0] == kind != "text":
            kinds = [b.kind for b in last[1]]
            # a caption joins its figure/table (and a figure/table its lone caption) once
            if caption and _CAPTION_OF[block.kind] in kinds and block.kind not in kinds:
                last[1].append(block)
                continue
            if not caption and kinds == [f"{block.kind}_caption"]:
                last[1].append(block)
                continue
        out.append((kind, [block]))
    return out


def _packed(
    heading: list[Block],
    body: list[Block],
    context: str | None,
    params: ChunkParams,
    count: TokenCounter,
) -> list[tuple[str, tuple[BBox, ...]]]:
    """(text, line boxes) of the chunks of a heading (possibly none) and the blocks under it."""
    context, context_tokens = _context(context, params, count)
    budget = params.max_tokens - context_tokens
    blocks = [*heading, *body]
    pieces = [p for i, b in enumerate(blocks) for p in _pieces(i, b, budget, count)]
    if not pieces:
        return []
    # the first chunk of a titled section starts with its heading: no context, the full budget
    first_budget = params.max_tokens if heading else budget
    breaks = [True] + [_may_break(a, b) for a, b in itertools.pairwise(pieces)]
    groups = _pack([p.tokens for p in pieces], budget, first_budget=first_budget, breaks=breaks)
    _balance_tail(groups, pieces, budget, params.min_tokens)
    out = []
    for g, group in enumerate(groups):
        members = [pieces[i] for i in group]
        body_text = _body(members)
        starts_with_heading = g == 0 and bool(heading)
        text = f"{context}\n{body_text}" if context and not starts_with_heading else body_text
        out.append((text, tuple(s.bbox for p in members for s in p.spans)))
    return out


@dataclass(frozen=True)
class _Part:
    """A chunk before it has a page and ordinal."""

    kind: ChunkKind
    text: str
    line_boxes: tuple[BBox, ...]
    bbox: BBox
    embed_text: str | None = None
    cells: tuple[TableCell, ...] | None = None
    table: int | None = None


def _table_parts(
    blocks: Sequence[Block],
    table_index: int,
    context: str | None,
    params: ChunkParams,
    count: TokenCounter,
) -> list[_Part]:
    """The chunks of a table with cells and its caption (rule 7): the context, caption and
    header rows in each, then the body rows packed into the budget left."""
    block = next(b for b in blocks if b.table is not None)
    assert block.table is not None
    grid = TableGrid.of(block.table)
    context, _ = _context(context, params, count)
    captions = [b for b in blocks if b.kind == "table_caption"]
    caption_boxes = [ln.bbox for b in captions for ln in b.lines if ln.text.strip()]
    lead = [t for t in (context, _heading_text(captions)) if t]
    header = header_text(grid)
    header_rows = range(grid.header_rows)
    rows = [r for r in body_rows(grid) if grid.raw_row(r)]
    named = [grid.named_row(r) for r in rows]
    fixed = count("\n".join([*lead, header]))
    groups = _pack([count(t) for t in named], max(1, params.max_tokens - fixed)) if rows else [[]]
    parts = []
    for group in groups:
        members = [rows[i] for i in group]
        spanned = range(members[0], members[-1] + 1) if members else range(0)
        cells = {(c.row, c.col): c for c in [*grid.cells(header_rows), *grid.cells(spanned)]}
        row_boxes = [
            union_box([c.bbox for c in cells.values() if c.row == r])
            for r in [*header_rows, *members]
            if any(c.row == r for c in cells.values())
        ]
        boxes = (*caption_boxes, *row_boxes)
        top = [*lead, *(t for t in [header] if t)]
        text = "\n".join([*top, *(grid.raw_row(r) for r in members)])
        # the header rows too: they name the label column ("Country"), which no value names
        embed = "\n".join([*top, *(named[i] for i in group)]) if members else text
        parts.append(
            _Part(
                "table",
                text,
                boxes,
                union_box(list(boxes) or [block.bbox]),
                embed_text=embed,
                cells=tuple(cells.values()),
                table=table_index,
            )
        )
    return parts


def _section_chunks(
    section: _Section,
    context: str | None,
    params: ChunkParams,
    count: TokenCounter,
    tables: dict[int, int],
) -> list[_Part]:
    """The chunks of one section, segment by segment: the heading opens the first text
    segment and is the context of the others. ``tables``: the document index of each table
    block with cells, by ``id()``."""
    segments = _segments(section.body) or [("text", [])]
    out = []
    heading = section.heading
    for kind, blocks in segments:
        opens = kind == "text" and bool(heading)
        table = next((tables[id(b)] for b in blocks if id(b) in tables), None)
        if table is not None:
            out.extend(_table_parts(blocks, table, context, params, count))
            continue
        for text, boxes in _packed(heading if opens else [], blocks, context, params, count):
            regions = [b.bbox for b in blocks if b.kind == "figure"]
            out.append(_Part(kind, text, boxes, union_box([*boxes, *regions])))
        if opens:
            heading = []
    if heading and not any(k == "text" for k, _ in segments):
        # a heading over tables or figures only: its own chunk, so it stays findable
        for text, boxes in _packed(heading, [], context, params, count):
            out.insert(0, _Part("text", text, boxes, union_box(list(boxes))))
    return out


def chunk_document(
    pages: Iterable[PageResult],
    params: ChunkParams = ChunkParams(),
    count_tokens: TokenCounter = count_words,
) -> list[Chunk]:
    """The chunks of a document's pages, in reading order (the rules are in the module doc).

    ``pages`` are read once, in the order given; ``count_tokens`` measures the budget (default:
    whitespace words; pass the embedder's tokenizer count to budget in word pieces).
    """
    chunks: list[Chunk] = []
    carried: str | None = None
    table_count = 0
    for page in pages:
        if not params.carry_title:
            carried = None
        tables: dict[int, int] = {}
        for block in page.blocks:
            if block.kind == "table" and block.table is not None:
                tables[id(block)] = table_count
                table_count += 1
        blocks = _tie_captions(page.blocks)
        if params.structure:
            blocks = page_structure(blocks)
        for section in _sections(blocks):
            if section.heading:
                carried = _heading_text(section.heading)
            for part in _section_chunks(section, carried, params, count_tokens, tables):
                chunks.append(
                    Chunk(
                        page.page,
                        len(chunks),
                        part.text,
                        part.bbox,
                        part.line_boxes,
                        part.kind,
                        carried,
                        part.embed_text,
                        part.cells,
                        part.table,
                    )
                )
    return chunks
