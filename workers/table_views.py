"""The tables of a stored document, as the API, the client and the MCP server show them.

A document's tables are its ``table`` blocks whose cells were recognised, numbered from 0 in
page order and reading order inside a page (``index``: the same number a search hit in the
table carries, ``pipelines.chunk``). A table region read before tables were, or whose structure
the model did not find, is no table here (``scanrag reindex`` reads the cells of stored pages).
Each comes with its page, box, grid (``rows`` x ``cols`` slots and the ``cells`` covering them),
its text and its caption (the ``table_caption`` block the Markdown puts with it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from core.errors import BadInput
from pipelines.markdown import _captions as captions_of
from pipelines.types import Block


class TableNotFound(BadInput):
    code = "table_not_found"
    http_status = 404
    default_message = "the document has no table with this index"


def document_tables(pages: Iterable[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every table of a document, given its stored pages as ``(number, layout)`` in page order
    (``layout``: the page as read, ``PageResult.to_dict()``): dicts of ``index``, ``page``,
    ``bbox``, ``rows``, ``cols``, ``cells`` (``TableCell.to_dict()`` each), ``text`` and
    ``caption`` (None when the table has none)."""
    out: list[dict[str, Any]] = []
    for number, layout in pages:
        blocks = [Block.from_dict(b) for b in layout.get("blocks", [])]
        captions = captions_of(blocks)
        for i, block in enumerate(blocks):
            grid = block.table
            if block.kind != "table" or grid is None:
                continue
            caption = blocks[captions[i]].text.strip() if i in captions else ""
            out.append(
                {
                    "index": len(out),
                    "page": number,
                    "bbox": list(block.bbox),
                    "rows": grid.rows,
                    "cols": grid.cols,
                    "cells": [c.to_dict() for c in grid.cells],
                    "text": block.text,
                    "caption": caption or None,
                }
            )
    return out


def table_at(tables: list[dict[str, Any]], index: int) -> dict[str, Any]:
    """The table numbered ``index`` of ``tables`` (as ``document_tables`` gives them).
    Raises TableNotFound, naming how many tables there are."""
    if not 0 <= index < len(tables):
        if not tables:
            raise TableNotFound(
                f"no table {index}: the document has no tables (none read: `scanrag reindex`"
                " reads the tables of documents read before tables were)"
            )
        raise TableNotFound(
            f"no table {index}: the document has {len(tables)} (0 to {len(tables) - 1})"
        )
    return tables[index]


# a spreadsheet reads a cell starting with one of these as a formula (CSV injection: a scanned
# page can print "=HYPERLINK(...)"); a number such as -12 or +3.5 is left as it is
_FORMULA_START = re.compile(r"[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?[\d\s.,]*\d[\d\s.,]*%?")


def _safe(text: str) -> str:
    if _FORMULA_START.match(text) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def table_csv(table: dict[str, Any]) -> str:
    """One table (as ``document_tables`` gives it) as CSV (RFC 4180, CRLF line ends): ``rows``
    lines of ``cols`` fields; a cell spanning several slots has its text in its first (top
    left) slot and the others empty; a field a spreadsheet would take for a formula starts
    with ``'``."""
    grid = [["" for _ in range(table["cols"])] for _ in range(table["rows"])]
    for cell in table["cells"]:
        row, col = cell["row"], cell["col"]
        if 0 <= row < len(grid) and 0 <= col < len(grid[row]):
            grid[row][col] = _safe(cell["text"])
    out = io.StringIO()
    csv.writer(out).writerows(grid)
    return out.getvalue()
