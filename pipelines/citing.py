"""Passages a reader can cite: which lines of a hit's chunk hold the sentence(s) that matched.

A chunk keeps one box per line (or run of words of a line) it holds (``Chunk.line_boxes``) but
not where each line's text sits in the chunk's text. The page's layout has every line's text and
box, so:

1. ``line_texts``: the text of each line box, read from the lines of the page's layout (text
   and box each): the line with that very box, or, for a run of words of an overlong line, the
   words of the line that lie inside the box by their share of its width. None when a box is
   not on the page (a layout read again since).
2. ``line_offsets``: where each of those texts sits in the chunk's text. The chunk is its
   (optional) heading context, then its lines joined as ``pipelines.chunk`` joins them (a space
   between lines, nothing after a hyphen at a line end, a newline between blocks), so the lines
   are found right to left with ``rfind``: the last line ends the text, and a heading context,
   which has no box, is what is left at the start.
3. ``cited_spans``: what a hit cites: the sentence(s) its snippet is taken from, and one more
   sentence: the other sentence that holds the most query words (the nearest of equals), or,
   when no other holds any, the one after (before, for the last). A question's words are often
   split between the sentence that answers it and its neighbour: on 300 SQuAD dev questions
   (first 3 articles) the answer sentence is in the highlight for 0.73 of the top hits on the
   right page with the snippet's sentence alone, 0.82 with the second (of 0.84 whose hit holds
   it at all), at twice the area (bench/citing.py has the full numbers).
4. ``cited_lines``: the lines whose text overlaps those spans: what the crop shows and the
   viewer highlights.
5. ``whole_at_edges``: a chunk may start or end in the middle of a sentence (a paragraph
   longer than the budget is cut between lines). When a cited sentence runs to the chunk's
   first or last line and goes on past it, the page's lines before or after the chunk
   (``neighbour_lines``: the page's reading order) are added until that sentence is whole, so
   the highlight holds it whole though the chunk does not. A neighbour line continues the
   sentence when the line before it ends in no sentence mark and either is full (as wide as
   the chunk's widest line, give or take) or the line after starts in lower case: a heading
   (short) or a paragraph's last line (ended) stops it, and so does a line set apart (a gap
   of more than a line's height in the same column: a running head, a folio). Adding stops at
   the line where a sentence starts (going back) or ends (going on), after ``NEIGHBOUR_LINES``
   at most. On SQuAD dev (3 articles) the highlight holds the answer sentence for more of the
   top hits on the right page, at a little more area: bench/citing.py.

``passage_lines`` does 2 to 5 for a hit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.vocab import BBox, as_bbox
from pipelines.snippets import Snippet, distinct_terms, fold, sentences

_BOX_SLACK = 0.5  # page pixels: a word box inside a run's box, allowing for rounding
NEIGHBOUR_LINES = 8  # a page's lines carried each side of a chunk: a long sentence's lines
_FULL = 0.8  # a line this share of the chunk's widest line is full: its sentence runs on
_ENDED = re.compile(r"[.!?][\"'’”)\]]*$")  # a line that ends its sentence
PageLine = tuple[str, BBox]  # a line of a page: its text and box


@dataclass(frozen=True)
class CitedLine:
    """One line of a hit that holds its passage: the line's text in the chunk and its box."""

    text: str
    bbox: BBox

    def to_dict(self) -> dict[str, Any]:
        """``{"text", "bbox"}`` as JSON-ready values."""
        return {"text": self.text, "bbox": list(self.bbox)}


def _key(box: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 2) for v in box)


def _inside(inner: Sequence[float], outer: Sequence[float]) -> bool:
    return (
        inner[0] >= outer[0] - _BOX_SLACK
        and inner[1] >= outer[1] - _BOX_SLACK
        and inner[2] <= outer[2] + _BOX_SLACK
        and inner[3] <= outer[3] + _BOX_SLACK
    )


def line_texts(
    lines: Sequence[tuple[str, Sequence[float]]], boxes: Sequence[BBox]
) -> tuple[str, ...] | None:
    """The text of each of a chunk's line ``boxes`` from the ``(text, box)`` lines of its
    page: the stripped text of the line with that box, or the words of the line that holds a
    box covering part of it. None when some box is found nowhere."""
    by_box: dict[tuple[float, ...], str] = {}
    for line, line_box in lines:
        by_box.setdefault(_key(line_box), line.strip())
    out = []
    for box in boxes:
        text = by_box.get(_key(box)) or _words_inside(lines, box)
        if not text:
            return None
        out.append(text)
    return tuple(out)


def _words_inside(lines: Sequence[tuple[str, Sequence[float]]], box: BBox) -> str | None:
    """The words of the line that holds ``box`` (a run of its words) whose middles, placed
    by their share of the line's characters along its width, fall inside the box."""
    for text, line_box in lines:
        if not _inside(box, line_box):
            continue
        width = max(1e-6, line_box[2] - line_box[0])
        words, at = [], 0
        for word in text.split():
            start = text.index(word, at)
            at = start + len(word)
            middle = line_box[0] + width * (start + at) / 2 / max(1, len(text))
            if box[0] <= middle <= box[2]:
                words.append(word)
        if words:
            return " ".join(words)
    return None


def line_offsets(text: str, lines: Sequence[str]) -> tuple[tuple[int, int], ...] | None:
    """``(start, end)`` of each of ``lines`` (in order) in the chunk ``text``, or None when
    they cannot all be found in order. A line that ends in a letter and a hyphen may have lost
    the hyphen where the chunk joined it to the next line ("exam-" + "ple")."""
    offsets: list[tuple[int, int]] = []
    end = len(text)
    for line in reversed(lines):
        at = text.rfind(line, 0, end)
        length = len(line)
        if at < 0 and len(line) >= 2 and line[-1] == "-" and line[-2].isalpha():
            at = text.rfind(line[:-1], 0, end)
            length -= 1
        if at < 0:
            return None
        offsets.append((at, at + length))
        end = at
    return tuple(reversed(offsets))


def cited_spans(text: str, terms: Sequence[str], best: Snippet) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of ``text`` a hit cites (step 3 of the module doc): the
    sentence(s) of its snippet ``best`` for the query words ``terms``, and one more."""
    spans = sentences(text)
    own = [i for i, (a, b) in enumerate(spans) if a < best.end and b > best.start]
    cited = [(best.start, best.end)]
    rest = [i for i in range(len(spans)) if i not in own]
    if not own or not rest:
        return cited
    folded = [fold(t) for t in terms if t.strip()]
    counts = {i: distinct_terms(text, *spans[i], folded) for i in rest}
    second = max(rest, key=lambda i: (counts[i], -abs(i - own[0]), i))
    if counts[second] == 0 and own[-1] + 1 < len(spans):
        second = own[-1] + 1
    return [*cited, spans[second]]


def cited_lines(
    text: str,
    boxes: Sequence[BBox],
    offsets: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
) -> list[CitedLine]:
    """The lines (text and box) whose text overlaps one of ``spans`` of ``text``; when none
    does (the spans lie in a heading context), the first line."""
    out = [
        CitedLine(text[a:b], box)
        for box, (a, b) in zip(boxes, offsets, strict=True)
        if any(a < end and b > start for start, end in spans)
    ]
    if not out and boxes:
        a, b = offsets[0]
        out = [CitedLine(text[a:b], boxes[0])]
    return out


def neighbour_lines(
    lines: Sequence[tuple[str, Sequence[float]]],
    boxes: Sequence[BBox],
    count: int = NEIGHBOUR_LINES,
) -> tuple[tuple[PageLine, ...], tuple[PageLine, ...]]:
    """The (at most ``count``) lines of a page, ``(text, box)`` in its reading order ``lines``,
    just before the chunk whose line ``boxes`` these are and just after it; none when its
    first or last box is not on the page. The chunk's own lines are left out; a chunk that
    starts (ends) with a run of a line's words has the rest of that line's words, boxed by
    their part of the line, as its nearest neighbour (a chunk cut at a sentence end inside a
    line starts a sentence there)."""
    if not boxes:
        return (), ()

    at: dict[tuple[float, ...], int] = {}
    for i, (_, line_box) in enumerate(lines):
        at.setdefault(_key(line_box), i)

    def index(box: BBox) -> int | None:
        found = at.get(_key(box))
        if found is not None:
            return found
        return next((i for i, (_, b) in enumerate(lines) if _inside(box, b)), None)

    first, last = index(boxes[0]), index(boxes[-1])
    if first is None or last is None:
        return (), ()
    own = {index(box) for box in boxes}

    def rest(i: int, box: BBox, left: bool) -> list[PageLine]:
        """The words of line ``i`` left (or right) of the run of its words ``box``: the
        neighbour of a chunk that starts (ends) inside a line."""
        line_box = as_bbox(lines[i][1])
        if _key(line_box) == _key(box):
            return []
        part = (
            (line_box[0], line_box[1], box[0], line_box[3])
            if left
            else (box[2], line_box[1], line_box[2], line_box[3])
        )
        words = _words_inside([lines[i]], part)
        return [(words, part)] if words else []

    def take(indices: range, nearest: list[PageLine]) -> list[PageLine]:
        out = nearest
        for i in indices:
            if len(out) >= count:
                break
            if i not in own:
                text, box = lines[i]
                out.append((text.strip(), as_bbox(box)))
        return out

    before = take(range(first - 1, -1, -1), rest(first, boxes[0], left=True))
    after = take(range(last + 1, len(lines)), rest(last, boxes[-1], left=False))
    return tuple(reversed(before)), tuple(after)


def _continues(earlier: PageLine, later: PageLine, full: float) -> bool:
    """Whether the sentence at the end of line ``earlier`` goes on in line ``later`` (the next
    in reading order), step 5 of the module doc."""
    (text, box), (next_text, next_box) = earlier, later
    if not text or not next_text or _ENDED.search(text):
        return False
    height = max(box[3] - box[1], next_box[3] - next_box[1])
    same_column = box[0] < next_box[2] and next_box[0] < box[2]
    if same_column and next_box[1] - box[3] > height:
        return False
    return box[2] - box[0] >= _FULL * full or next_text[0].islower()


def whole_at_edges(
    offsets: Sequence[tuple[int, int]],
    spans: Sequence[tuple[int, int]],
    chunk_lines: Sequence[PageLine],
    before: Sequence[PageLine],
    after: Sequence[PageLine],
) -> tuple[list[CitedLine], list[CitedLine]]:
    """The page's lines to add before and after a chunk's cited lines so a cited sentence its
    edge cuts is whole (step 5 of the module doc): ``offsets`` of its ``chunk_lines`` (text
    and box) in its text, the cited ``spans`` of that text, and the page's lines ``before``
    and ``after`` it (reading order)."""
    if not offsets or not chunk_lines:
        return [], []
    full = max(box[2] - box[0] for _, box in chunk_lines)
    head: list[CitedLine] = []
    if any(a <= offsets[0][0] < b for a, b in spans):
        later = chunk_lines[0]
        for line in reversed(before):
            if not _continues(line, later, full):
                break
            head.insert(0, CitedLine(*line))
            if len(sentences(line[0])) > 1:  # the sentence starts in it
                break
            later = line
    tail: list[CitedLine] = []
    if any(a < offsets[-1][1] <= b for a, b in spans):
        earlier = chunk_lines[-1]
        for line in after:
            if not _continues(earlier, line, full):
                break
            tail.append(CitedLine(*line))
            if len(sentences(line[0])) > 1 or _ENDED.search(line[0]):  # the sentence ends
                break
            earlier = line
    return head, tail


def passage_lines(
    text: str,
    boxes: Sequence[BBox],
    texts: Sequence[str],
    terms: Sequence[str],
    best: Snippet,
    before: Sequence[PageLine] = (),
    after: Sequence[PageLine] = (),
) -> list[CitedLine] | None:
    """The lines a hit cites, in reading order: those of its chunk (``text``, line ``boxes``
    and their ``texts``) holding the sentence of its snippet ``best`` for the query words
    ``terms`` and the next best (steps 2 to 4), and the page's lines ``before``/``after`` the
    chunk that make a sentence its edge cut whole (step 5). None when the lines are not
    found in the text."""
    offsets = line_offsets(text, texts)
    if offsets is None:
        return None
    spans = cited_spans(text, terms, best)
    cited = cited_lines(text, boxes, offsets, spans)
    own = [(t, b) for t, b in zip(texts, boxes, strict=True)]
    head, tail = whole_at_edges(offsets, spans, own, before, after)
    return [*head, *cited, *tail]
