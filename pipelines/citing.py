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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.snippets import Snippet, distinct_terms, fold, sentences
from pipelines.types import BBox

_BOX_SLACK = 0.5  # page pixels: a word box inside a run's box, allowing for rounding


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
