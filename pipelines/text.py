"""Joining the lines of a block into running text (shared by chunks and Markdown)."""

from __future__ import annotations

from collections.abc import Iterable


def join_lines(left: str, right: str) -> str:
    """Two consecutive lines of a block as one text, de-hyphenated.

    A line ending in a letter and "-" is joined without the space; the hyphen is dropped when
    the next line starts in lower case ("exam-" + "ple" -> "example") and kept otherwise
    ("Anglo-" + "Saxon").
    """
    if len(left) >= 2 and left[-1] == "-" and left[-2].isalpha():
        return left[:-1] + right if right[:1].islower() else left + right
    return f"{left} {right}"


def block_text(lines: Iterable[str]) -> str:
    """Lines of one block joined into running text (see ``join_lines``)."""
    text = ""
    for line in lines:
        text = join_lines(text, line) if text else line
    return text
