"""How a table reads as text: its header rows, the label of each row, the header of each column,
and each row as raw cells or with every value named by its row and column headers.

The header rows are the leading rows with a cell flagged ``header``; when none is flagged, the
first row and the rows under it whose first column is empty or held by a header cell (a
"Releases" heading over "to air | to water" sub-headings). At least one row stays a body row.
A row's label is the text of the cell in its first column (tables of two or more columns).

A named row reads ``"Carbon dioxide (CO2), THRESHOLD FOR RELEASES to water kg/year: 100
million; ..."``: each value after its row label and column header (the texts of the header
cells above it, top to bottom). That is the text given to the embedder: a number alone in a
row of numbers says nothing about what it counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipelines.types import Table, TableCell

# how a caption opens ("Table 6.1:", "Table SA3.", "TABLE 2", "Tab. 4", "Tableau 3"): the
# number after an optional upper-case prefix, so "Tables 2.3 and 2.4 show" is no caption
CAPTION_START = re.compile(
    r"^\W{0,3}(?:Table|TABLE|Tab\.|Tableau|Tabelle|Tabla|Tabella)\s*[A-Z]{0,3}\s*\d"
)
ROW_SEPARATOR = " | "  # between the cells of a raw row
VALUE_SEPARATOR = "; "  # between the named values of a row


def _clean(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class TableGrid:
    """A table's cells by grid slot, its header rows and its label column."""

    table: Table
    header_rows: int  # rows 0 .. header_rows - 1 are header rows
    slots: dict[tuple[int, int], TableCell]  # (row, col) -> the cell covering it

    @classmethod
    def of(cls, table: Table) -> TableGrid:
        """The grid of ``table`` with its header rows found (module doc)."""
        slots: dict[tuple[int, int], TableCell] = {}
        for cell in table.cells:
            for r in range(cell.row, cell.row + max(1, cell.row_span)):
                for c in range(cell.col, cell.col + max(1, cell.col_span)):
                    slots.setdefault((r, c), cell)
        return cls(table, _header_rows(table, slots), slots)

    @property
    def label_col(self) -> int | None:
        """The column holding the rows' labels (None: a one-column table)."""
        return 0 if self.table.cols >= 2 else None

    def cells(self, rows: range | None = None) -> list[TableCell]:
        """The cells that cover any of ``rows`` (all rows when None), row-major, with ``header``
        set on the cells of the header rows (and only on them)."""
        rows = range(self.table.rows) if rows is None else rows
        out = []
        for cell in self.table.cells:
            if cell.row < rows.stop and cell.row + max(1, cell.row_span) > rows.start:
                header = cell.row < self.header_rows
                out.append(cell if cell.header == header else replace(cell, header=header))
        return sorted(out, key=lambda c: (c.row, c.col))

    def column_header(self, first: int, last: int) -> str:
        """The header of columns ``first`` .. ``last``: the header cells above them, top to
        bottom, each once; a caption read inside the table (a cell across the whole width
        that opens like one, "Table C1: Summary statistics") names no column."""
        seen: list[TableCell] = []
        for r in range(self.header_rows):
            for c in range(first, last + 1):
                cell = self.slots.get((r, c))
                if cell is None or cell in seen or not _clean(cell.text):
                    continue
                if self._is_title(cell):
                    continue
                seen.append(cell)
        return " ".join(_clean(cell.text) for cell in seen)

    def _is_title(self, cell: TableCell) -> bool:
        whole = cell.col == 0 and cell.col_span >= self.table.cols > 1
        return whole and bool(CAPTION_START.match(cell.text.lstrip()))

    def row_label(self, row: int) -> TableCell | None:
        """The cell naming ``row`` (its first column's), or None."""
        if self.label_col is None:
            return None
        cell = self.slots.get((row, self.label_col))
        return cell if cell is not None and _clean(cell.text) else None

    def raw_row(self, row: int) -> str:
        """The texts of the cells starting in ``row``, left to right, joined by ``" | "``."""
        texts = [_clean(c.text) for c in self._starting(row)]
        return ROW_SEPARATOR.join(t for t in texts if t)

    def named_row(self, row: int) -> str:
        """Each value of ``row`` after its row label and column header (module doc); a row of
        a label alone is the label."""
        label = self.row_label(row)
        label_text = _clean(label.text) if label is not None else ""
        parts = []
        for cell in self._starting(row):
            text = _clean(cell.text)
            if not text or cell is label:
                continue
            header = self.column_header(cell.col, cell.col + max(1, cell.col_span) - 1)
            name = ", ".join(n for n in (label_text, header) if n)
            parts.append(f"{name}: {text}" if name else text)
        if not parts:
            return label_text
        return VALUE_SEPARATOR.join(parts)

    def _starting(self, row: int) -> list[TableCell]:
        return sorted((c for c in self.table.cells if c.row == row), key=lambda c: c.col)


def _header_rows(table: Table, slots: dict[tuple[int, int], TableCell]) -> int:
    """How many leading rows are header rows (module doc)."""
    if table.rows < 2:
        return 0
    flagged = {c.row for c in table.cells if c.header}
    if flagged:
        n = 0
        while n in flagged and n < table.rows - 1:
            n += 1
        if n:
            return n
    n = 1
    while n < table.rows - 1:
        first = slots.get((n, 0))
        if first is not None and _clean(first.text) and first.row >= n:
            break
        n += 1
    return n


def header_text(grid: TableGrid) -> str:
    """The header rows as raw text, one line a row."""
    return "\n".join(t for t in (grid.raw_row(r) for r in range(grid.header_rows)) if t)


def body_rows(grid: TableGrid) -> Sequence[int]:
    """The rows under the header."""
    return range(grid.header_rows, grid.table.rows)
