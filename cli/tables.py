"""Plain-text tables for the terminal: columns padded to their widest cell, the last one free."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], stream: TextIO | None = None
) -> None:
    """Print ``rows`` under ``headers``, two spaces between columns."""
    out = stream or sys.stdout
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*padded, row[-1]]).rstrip(), file=out)
    out.flush()


def one_line(text: str, width: int = 80) -> str:
    """``text`` on one line (newlines as spaces), cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


BOLD, RESET = "\033[1m", "\033[0m"


def emphasised(text: str, spans: Sequence[Sequence[int]], width: int, bold: bool) -> str:
    """``text`` cut to ``width`` characters (an ellipsis where cut), with the ``[start, end)``
    ``spans`` in bold when ``bold`` (a terminal) and plain otherwise. ``text`` is one line."""
    cut = text if len(text) <= width else text[: width - 1] + "…"
    if not bold:
        return cut
    out, at = [], 0
    for start, end in spans:
        if end > len(cut) - (cut != text) or start < at:
            continue  # cut off, or overlapping one already marked
        out += [cut[at:start], BOLD, cut[start:end], RESET]
        at = end
    return "".join([*out, cut[at:]])
