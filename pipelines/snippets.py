"""Snippets: the sentence or two of a passage that best match a query, with the matched words'
offsets, so a hit shows why it was found (API ``snippet``/``highlights``, the CLI's bold terms,
the web app's marks).

A query word matches a passage word when they are equal, ignoring case and accents, or share
a stem: the longer starts with the shorter and the shorter has at least ``MIN_STEM`` letters
(``repair`` finds ``repairs`` and ``repaired``; ``cat`` does not find ``catalogue``). When no
word matches (a hit found by meaning alone, or a misspelt query), the sentence whose words are
most alike the query's by letter trigrams (``FUZZY_MIN``) is the snippet, else the passage's
start. ``Snippet.start``/``end`` say where the snippet lies in the passage, so a hit can cite the
lines that hold it (``pipelines.citing``).

In a table, a hit cites cells (``cited_cells``): a value counts the query words its own text,
its row's label (first column) and its column's header cells match, so "carbon dioxide to
water" cites the value at that row and column, "200 000" the cell that reads it, and a
question naming a row and several columns the row's values under each.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipelines.types import TableCell

MIN_STEM = 4
MAX_CHARS = 300  # a snippet longer than this is cut around its matches
# a query word and a passage word are alike when their letter trigrams' Dice coefficient is at
# least this ("colour" / "color" 0.55, "lightning" / "lighting" 0.71, "zebra" / "zero" 0.22)
FUZZY_MIN = 0.5
_WORD = re.compile(r"\w+(?:['’]\w+)*")
# a sentence ends at . ! ? followed by space and an upper-case letter, digit or quote, or at a
# line break followed by a capital (OCR lines of a heading or a list)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n+(?=[A-Z0-9•\-])")


@dataclass(frozen=True)
class Snippet:
    """A stretch of a passage and the ``(start, end)`` character offsets, in ``text``, of the
    words that match the query (sorted, not overlapping); ``start``/``end``: where the
    sentence(s) it is taken from lie in the passage, ``[start, end)`` (the whole sentences,
    also when the snippet cuts a long one short)."""

    text: str
    highlights: tuple[tuple[int, int], ...]
    start: int = 0
    end: int = 0


@lru_cache(maxsize=1 << 16)  # the same words come back in every hit: a third of a search's time
def fold(word: str) -> str:
    """A word lowercased without accents: how query and passage words are compared."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def matches(word: str, term: str) -> bool:
    """Whether passage ``word`` and query ``term`` (both folded) are the same word or share a
    stem of at least MIN_STEM letters."""
    if word == term:
        return True
    short, long = (word, term) if len(word) <= len(term) else (term, word)
    return len(short) >= MIN_STEM and long.startswith(short)


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the sentences of ``text``, whitespace around them left out."""
    spans, start = [], 0
    for cut in _SENTENCE_END.finditer(text):
        spans.append((start, cut.start()))
        start = cut.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def distinct_terms(text: str, a: int, b: int, terms: list[str]) -> int:
    """How many of the (folded) ``terms`` some word of ``text[a:b]`` matches."""
    return len({k for *_, k in _matched(text, a, b, terms)})


class _Terms:
    """Which of ``terms`` (folded) a folded word matches first, without comparing it with each:
    a word matches a term when they are equal or both have MIN_STEM letters or more and one
    starts with the other, so only the terms equal to it or sharing its first MIN_STEM letters
    can match."""

    def __init__(self, terms: list[str]) -> None:
        self.terms = terms
        self.by_prefix: dict[str, list[int]] = {}
        for k, term in enumerate(terms):
            self.by_prefix.setdefault(_stem_key(term), []).append(k)

    def first(self, word: str) -> int:
        """The index of the first term ``word`` matches; -1 for none."""
        for k in self.by_prefix.get(_stem_key(word), ()):
            if matches(word, self.terms[k]):
                return k
        return -1


def _stem_key(word: str) -> str:
    """What a word shares with every word it matches: its first MIN_STEM letters, or itself
    when shorter (a short word matches only itself)."""
    return word[:MIN_STEM]


def _matched(text: str, a: int, b: int, terms: list[str]) -> list[tuple[int, int, int]]:
    """``(start, end, term index)`` of every word of ``text[a:b]`` that matches a term."""
    found = []
    index = _Terms(terms)
    # a passage repeats its words ("the", names): each distinct one is looked up once
    known: dict[str, int] = {}
    for m in _WORD.finditer(text, a, b):
        word = m.group()
        k = known.get(word)
        if k is None:
            k = known[word] = index.first(fold(word))
        if k >= 0:
            found.append((m.start(), m.end(), k))
    return found


def snippet(text: str, terms: list[str], max_chars: int = MAX_CHARS) -> Snippet:
    """The one or two consecutive sentences of ``text`` that hold the most distinct ``terms``
    (query words; ties: more matches, then one sentence, then earlier), cut to about
    ``max_chars`` around their matches, with the matches' offsets. No match: the passage's
    start, no highlights."""
    folded = [fold(t) for t in terms if t.strip()]
    spans = sentences(text)
    if not spans:
        return Snippet("", (), 0, 0)
    # the words of the whole passage matched once: sentences end and start at whitespace (or
    # the text's ends), so a sentence's words are exactly those inside its span
    every = _matched(text, spans[0][0], spans[-1][1], folded)
    starts = [s for s, _, _ in every]
    best: tuple[tuple[int, int, int, int], int, int, list[tuple[int, int, int]]] | None = None
    for i in range(len(spans)):
        for j in (i, i + 1):
            if j >= len(spans):
                continue
            a, b = spans[i][0], spans[j][1]
            if j > i and b - a > max_chars:
                continue  # two sentences only when they fit together
            found = every[bisect_left(starts, a) : bisect_left(starts, b)]
            score = (len({k for *_, k in found}), len(found), i - j, -i)
            if best is None or score > best[0]:
                best = (score, a, b, found)
    assert best is not None
    (distinct, *_), a, b, found = best
    if distinct == 0:
        a, b = _alike(text, spans, folded)
        found = []
    sentence = a, b
    a, b = _window(text, a, b, found, max_chars)
    piece = text[a:b]
    lead = "…" if a > spans[0][0] and not _starts_sentence(a, spans) else ""
    tail = "…" if b < len(text) and not _ends_sentence(b, spans) else ""
    shift = len(lead) - a
    marks = tuple((s + shift, e + shift) for s, e, _ in found if a <= s and e <= b)
    return Snippet(lead + " ".join(piece.split("\n")) + tail, marks, *sentence)


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _alike(text: str, spans: list[tuple[int, int]], terms: list[str]) -> tuple[int, int]:
    """The sentence whose words are most alike the ``terms`` by trigram Dice (each term
    counting its best word at ``FUZZY_MIN`` or more; ties: the earlier), else the first."""
    grams = [_trigrams(t) for t in terms if len(t) >= 3]
    best, best_score = spans[0], 0.0
    for a, b in spans:
        words = [_trigrams(fold(m.group())) for m in _WORD.finditer(text, a, b)]
        score = 0.0
        for g in grams:
            dice = max((2 * len(g & w) / (len(g) + len(w)) for w in words), default=0.0)
            score += dice if dice >= FUZZY_MIN else 0.0
        if score > best_score:
            best, best_score = (a, b), score
    return best


def _starts_sentence(a: int, spans: list[tuple[int, int]]) -> bool:
    return any(s == a for s, _ in spans)


def _ends_sentence(b: int, spans: list[tuple[int, int]]) -> bool:
    return any(e == b for _, e in spans)


def _window(
    text: str, a: int, b: int, found: list[tuple[int, int, int]], max_chars: int
) -> tuple[int, int]:
    """``[a, b)`` narrowed to at most ~``max_chars``, centred on the matches, cut at spaces."""
    if b - a <= max_chars:
        return a, b
    if found:
        first, last = found[0][0], found[-1][1]
        centre = (first + last) // 2 if last - first < max_chars else first + max_chars // 3
    else:
        centre = a + max_chars // 2
    start = max(a, min(centre - max_chars // 2, b - max_chars))
    end = min(b, start + max_chars)
    # whole words only: move the cuts to the nearest space inside the window
    if start > a:
        space = text.find(" ", start, end)
        start = space + 1 if space != -1 else start
    if end < b:
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


def _terms_in(text: str, terms: list[str]) -> set[int]:
    """The indices of the (folded) ``terms`` that some word of ``text`` matches."""
    return {k for _, _, k in _matched(text, 0, len(text), terms)}


def _covers(cell: TableCell, row: int | None, col: int | None) -> bool:
    rows = range(cell.row, cell.row + max(1, cell.row_span))
    cols = range(cell.col, cell.col + max(1, cell.col_span))
    return (row is None or row in rows) and (col is None or col in cols)


def cited_cells(cells: Sequence[TableCell], terms: list[str]) -> list[TableCell]:
    """The cells of a table chunk (``header`` set on its header rows) that a hit for the query
    words ``terms`` cites.

    A value cell counts the distinct terms its own text, its column's header cells, its row's
    label (the first column's cell) and that label's column header match; a label or header
    cell its own text. The cells with the most are cited, ties going to those with more terms
    of their own text and column (so the value where a row and a column meet beats the rest of
    its row). When the query names the row of a cited value, the row's values under every
    column the query names by a word no other column's header has are cited too ("Poland's
    total from the Cohesion Fund and ERDF" cites Poland's fund, ERDF and total values, though
    "total" alone matches fewer words); a header over the label column too ("Difficulty" over
    "Stress | Count") names no column here. No word matching any cell: the chunk's body cells
    (all its cells when it has none), so a hit found by meaning alone still points at its
    rows."""
    folded = [fold(t) for t in terms if t.strip()]
    own = [_terms_in(c.text, folded) for c in cells]
    heads = [i for i, c in enumerate(cells) if c.header]

    def column(col_first: int, col_span: int, stub: bool = True) -> set[int]:
        """The terms the header cells over these columns match (``stub``: with those that
        head the label column too)."""
        found: set[int] = set()
        for col in range(col_first, col_first + max(1, col_span)):
            for j in heads:
                if _covers(cells[j], None, col) and (stub or not _covers(cells[j], None, 0)):
                    found |= own[j]
        return found

    def is_value(cell: TableCell) -> bool:
        return not cell.header and cell.col != 0

    names = {i: column(c.col, c.col_span) for i, c in enumerate(cells) if is_value(c)}
    named_row: set[int] = set()  # the values whose row's label matches a term
    scores = []
    for i, cell in enumerate(cells):
        if i not in names:
            scores.append((len(own[i]), 0))
            continue
        specific = own[i] | names[i]
        inherited: set[int] = set()
        for j, other in enumerate(cells):
            if not other.header and other.col == 0 and _covers(other, cell.row, None):
                inherited |= own[j] | column(other.col, other.col_span)
                if own[j]:
                    named_row.add(i)
        scores.append((len(specific | inherited), len(specific)))
    best = max(scores, default=(0, 0))
    if best[0] == 0:
        return [c for c in cells if not c.header] or list(cells)
    cited = {i for i, score in enumerate(scores) if score == best}
    # a column the query names by a word no other column's header has (a header over the
    # label column too, "Difficulty" over "Stress | Count", names no column of values)
    columns: dict[tuple[int, int], set[int]] = {}
    for i in names:
        key = (cells[i].col, cells[i].col_span)
        columns.setdefault(key, set()).update(column(*key, stub=False))
    unique = {}
    for key, found in columns.items():
        others = [t for k, f in columns.items() if k != key for t in f]
        unique[key] = bool(found - set(others))
    for i in cited & named_row:
        cited |= {
            j
            for j in names
            if _covers(cells[j], cells[i].row, None) and unique[(cells[j].col, cells[j].col_span)]
        }
    return [c for i, c in enumerate(cells) if i in cited]
