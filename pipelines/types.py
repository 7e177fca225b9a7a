"""The document model every stage speaks: Page -> Block -> Line -> Word, with pixel boxes.

Boxes are ``(x0, y0, x1, y1)`` in pixels of the upright page image (the input image, or the PDF
page rendered at ``dpi``). All types are frozen and round-trip through ``to_dict``/``from_dict``
in the JSON shape of ``scanrag ocr --format jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.vocab import BLOCK_KINDS, BBox, BlockKind, as_bbox


def block_kind(value: str) -> BlockKind:
    """``value`` as a BlockKind (ValueError for anything else)."""
    if value not in BLOCK_KINDS:
        raise ValueError(f"unknown block kind {value!r}; one of {', '.join(BLOCK_KINDS)}")
    return value


def _box(values: Any) -> BBox:
    return as_bbox(values, 1)


def union_box(boxes: list[BBox]) -> BBox:
    """The smallest box holding every box given (at least one)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


@dataclass(frozen=True)
class Word:
    """One space-separated word with its box and mean character confidence."""

    text: str
    bbox: BBox
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "bbox": list(self.bbox), "confidence": round(self.confidence, 4)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        return cls(text=d["text"], bbox=_box(d["bbox"]), confidence=float(d["confidence"]))


@dataclass(frozen=True)
class TextLine:
    """One detected text line: its reading, axis-aligned box, quad and words."""

    text: str
    bbox: BBox
    confidence: float
    words: tuple[Word, ...] = ()
    quad: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "bbox": list(self.bbox),
            "confidence": round(self.confidence, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextLine:
        return cls(
            text=d["text"],
            bbox=_box(d["bbox"]),
            confidence=float(d["confidence"]),
            words=tuple(Word.from_dict(w) for w in d.get("words", [])),
        )


@dataclass(frozen=True)
class TableCell:
    """One cell of a table: its grid position (``row``/``col`` from 0, spans of 1 or more), its
    box on the page, its text (the words inside it, in reading order) and whether it is a
    header cell."""

    row: int
    col: int
    row_span: int
    col_span: int
    bbox: BBox
    text: str
    header: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "col": self.col,
            "row_span": self.row_span,
            "col_span": self.col_span,
            "bbox": list(self.bbox),
            "text": self.text,
            "header": self.header,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableCell:
        return cls(
            row=int(d["row"]),
            col=int(d["col"]),
            row_span=int(d.get("row_span", 1)),
            col_span=int(d.get("col_span", 1)),
            bbox=_box(d["bbox"]),
            text=str(d.get("text", "")),
            header=bool(d.get("header", False)),
        )


@dataclass(frozen=True)
class Table:
    """A table's cell structure: ``rows`` x ``cols`` grid slots, covered by ``cells`` (row-major
    order); ``words_moved`` counts words no cell held, given to the nearest cell."""

    rows: int
    cols: int
    cells: tuple[TableCell, ...]
    words_moved: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "cols": self.cols,
            "cells": [c.to_dict() for c in self.cells],
            "words_moved": self.words_moved,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        return cls(
            rows=int(d["rows"]),
            cols=int(d["cols"]),
            cells=tuple(TableCell.from_dict(c) for c in d.get("cells", [])),
            words_moved=int(d.get("words_moved", 0)),
        )


@dataclass(frozen=True)
class Block:
    """Lines that belong together (a paragraph, a title, a caption, a table, a figure's text).
    A ``table`` block whose structure was recognised has its cells in ``table``."""

    kind: BlockKind
    bbox: BBox
    lines: tuple[TextLine, ...]
    table: Table | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "bbox": list(self.bbox),
            "lines": [
                {**line.to_dict(), "words": [w.to_dict() for w in line.words]}
                for line in self.lines
            ],
        }
        if self.table is not None:
            d["table"] = self.table.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        table = d.get("table")
        return cls(
            kind=block_kind(d["kind"]),
            bbox=_box(d["bbox"]),
            lines=tuple(TextLine.from_dict(line) for line in d["lines"]),
            table=None if table is None else Table.from_dict(table),
        )


@dataclass(frozen=True)
class PageResult:
    """Everything read from one page, blocks and lines in reading order."""

    source: str
    page: int  # 1-based
    width: int
    height: int
    dpi: int | None
    rotation: int  # degrees (clockwise) the page was turned to make it upright
    blocks: tuple[Block, ...] = ()
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    layout_model: str | None = None  # the layout model that saw the page (None: none did)
    # a sheet holding two pages side by side (a spread): the two pages' boxes, left first,
    # read in that order (None: the sheet is one page)
    halves: tuple[BBox, BBox] | None = None

    @property
    def lines(self) -> list[TextLine]:
        return [line for block in self.blocks for line in block.lines]

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line.words]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "page": self.page,
            "width": self.width,
            "height": self.height,
            "dpi": self.dpi,
            "rotation": self.rotation,
            "text": self.text,
            "blocks": [b.to_dict() for b in self.blocks],
            "lines": [line.to_dict() for line in self.lines],
            "words": [w.to_dict() for w in self.words],
            "seconds": round(self.seconds, 4),
            "layout_model": self.layout_model,
        }
        if self.warnings:
            d["warnings"] = list(self.warnings)
        if self.halves is not None:
            d["halves"] = [list(b) for b in self.halves]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PageResult:
        return cls(
            source=d["source"],
            page=int(d["page"]),
            width=int(d["width"]),
            height=int(d["height"]),
            dpi=d.get("dpi"),
            rotation=int(d.get("rotation", 0)),
            blocks=tuple(Block.from_dict(b) for b in d.get("blocks", [])),
            seconds=float(d.get("seconds", 0.0)),
            warnings=tuple(d.get("warnings", [])),
            layout_model=d.get("layout_model"),
            halves=_halves(d.get("halves")),
        )


def _halves(values: Any) -> tuple[BBox, BBox] | None:
    """A spread's two page boxes from their JSON values (None when the sheet is one page)."""
    if not values:
        return None
    left, right = values
    return _box(left), _box(right)
