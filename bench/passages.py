"""Intact passages: does a retrieved hit hold the whole sentence that answers a question?

Used by bench/layout.py (multi-column pages) and bench/rag.py (single-column SQuAD pages), so the
two numbers are computed the same way:

1. The reference text (a page's or a paragraph's ground truth) is joined into one line: a ``-``
   at a line end followed by a lower-case letter is a hyphenated word and is rejoined, any
   other line break is a space.
2. It is split into sentences after ``.``, ``?`` or ``!`` followed by whitespace.
3. The first answer string found in the joined text (case-insensitive) picks the sentence that
   holds it, or the sentences it spans when it straddles a sentence end.
4. That passage, as lower-case word tokens (``[a-z0-9]+``), is intact when it appears as a
   contiguous run of the tokens of at least one of the top hits' texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HYPHEN_BREAK = re.compile(r"-[ \t]*\n[ \t]*(?=[a-z])")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_TOKEN = re.compile(r"[a-z0-9]+")


def join_lines(text: str) -> str:
    """``text`` on one line: hyphenated line ends rejoined, other whitespace runs one space."""
    return _SPACE.sub(" ", _HYPHEN_BREAK.sub("", text)).strip()


def sentence_spans(joined: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of a joined text, in order."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(joined):
        spans.append((start, m.start()))
        start = m.end()
    if start < len(joined):
        spans.append((start, len(joined)))
    return spans


def tokens(text: str) -> list[str]:
    """Lower-case word tokens: runs of ``[a-z0-9]`` (punctuation and other letters split)."""
    return _TOKEN.findall(text.lower())


def answer_passage(text: str, answers: Sequence[str]) -> list[str] | None:
    """The tokens of the sentence(s) of ``text`` that hold the first of ``answers`` found in it
    (case-insensitive), or None when no answer occurs in ``text``."""
    joined = join_lines(text)
    lowered = joined.lower()
    for answer in answers:
        needle = _SPACE.sub(" ", answer).strip().lower()
        at = lowered.find(needle) if needle else -1
        if at < 0:
            continue
        end = at + len(needle)
        spans = [s for s in sentence_spans(joined) if s[0] < end and s[1] > at]
        if not spans:  # the answer lies in the whitespace between sentences: cannot happen
            continue
        passage = tokens(joined[spans[0][0] : spans[-1][1]])
        if passage:
            return passage
    return None


def is_intact(passage: Sequence[str], hit_texts: Sequence[str]) -> bool:
    """True when ``passage`` (tokens) is a contiguous run of the tokens of one of ``hit_texts``."""
    # spaces around both sides make the substring test a test on whole tokens
    needle = " " + " ".join(passage) + " "
    return any(needle in " " + " ".join(tokens(text)) + " " for text in hit_texts)


def intact_rate(
    passages: Sequence[Sequence[str] | None], hits: Sequence[Sequence[str]], k: int = 5
) -> tuple[float | None, int]:
    """(share of questions whose passage is intact in one of their first ``k`` hit texts,
    questions skipped because no passage was found). ``passages[i]`` pairs with ``hits[i]``;
    the share is over the questions not skipped (None when all are)."""
    counted = intact = 0
    for passage, texts in zip(passages, hits, strict=True):
        if passage is None:
            continue
        counted += 1
        intact += is_intact(passage, texts[:k])
    return (intact / counted if counted else None), len(passages) - counted
