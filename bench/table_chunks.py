"""Which text of a table chunk the embedder should read, and which cells a hit cites (issue 33).

    python bench/table_chunks.py [--max-tokens 160]

The dev tables' reference cells (shared/data/tables/dev/gt.jsonl, README section D) made into
table blocks by hand (no OCR, no structure model: this measures the chunk text alone), chunked
by ``pipelines.chunk`` with the built-in MiniLM's token count and budget, every chunk of every
table embedded, and each question of bench/data/table_questions.jsonl (one answer cell each)
asked by its embedding alone (the dense leg; the full-text leg reads the stored raw text, the
same in every variant). ``dense@k``: a top-k chunk covers the answer cell (its table, and the
cell among the chunk's rows). Variants of the embedded text:

* ``raw``: the stored text (caption, header rows, rows as cells joined by " | ");
* ``named``: each value after its row label and column header (what ingest embeds);
* ``named+header``: ``named`` with the raw header rows before the rows;
* ``label-once``: the row label once, then each column header and value.

``cited``: of the questions whose answer chunk is in the top 5, how often
``pipelines.snippets.cited_cells`` (the query's words against the chunk's cells) cites the
answer cell, and ``cited alone`` how often it is the only cell cited.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, table
from models.embedder import EmbedParams, get_embedder
from pipelines import table_text
from pipelines.chunk import Chunk, ChunkParams, chunk_document
from pipelines.snippets import cited_cells
from pipelines.types import Block, PageResult, Table, TableCell, TextLine, union_box
from storage.search import query_tokens

GT = SHARED / "data" / "tables" / "dev" / "gt.jsonl"
QUESTIONS = Path(__file__).resolve().parent / "data" / "table_questions.jsonl"
TableKey = tuple[str, int, int]  # doc, page, table on the page


def _label_once(grid: table_text.TableGrid, row: int) -> str:
    label = grid.row_label(row)
    values = []
    for cell in grid._starting(row):
        text = " ".join(cell.text.split())
        if text and cell is not label:
            header = grid.column_header(cell.col, cell.col + cell.col_span - 1)
            values.append(f"{header} {text}" if header else text)
    head = " ".join(label.text.split()) if label is not None else ""
    return f"{head}: {'; '.join(values)}" if head and values else head or "; ".join(values)


def load_tables() -> dict[TableKey, Block]:
    """Each reference table as a table block with its cells (header found by the chunker)."""
    tables: dict[TableKey, Block] = {}
    per_page: dict[tuple[str, int], int] = {}
    for line in GT.read_text().splitlines():
        item = json.loads(line)
        n = per_page.get((item["doc"], item["page"]), 0)
        per_page[(item["doc"], item["page"])] = n + 1
        cells = tuple(
            TableCell(c["row"], c["col"], c["row_span"], c["col_span"], tuple(c["bbox"]), c["text"])
            for c in item["cells"]
        )
        rows = max(c.row + c.row_span for c in cells)
        cols = max(c.col + c.col_span for c in cells)
        lines = tuple(TextLine(c.text, c.bbox, 1.0) for c in cells if c.text.strip())
        box = union_box([c.bbox for c in cells])
        tables[(item["doc"], item["page"], n)] = Block(
            "table", box, lines, Table(rows, cols, cells)
        )
    return tables


def chunks_of(
    tables: dict[TableKey, Block], params: ChunkParams, count: Callable[[str], int]
) -> list[tuple[TableKey, Chunk]]:
    """(table key, chunk) of every table, each table a page of its own."""
    out: list[tuple[TableKey, Chunk]] = []
    for key, block in tables.items():
        page = PageResult(key[0], key[1], 1700, 2200, 200, 0, blocks=(block,))
        out += [(key, c) for c in chunk_document([page], params, count)]
    return out


def covers(chunk: Chunk, row: int, col: int) -> bool:
    return any(
        c.row <= row < c.row + c.row_span and c.col <= col < c.col + c.col_span
        for c in chunk.cells or ()
        if not c.header
    ) or any(c.row == row and c.col == col for c in chunk.cells or ())


def measure(
    variant: str,
    tables: dict[TableKey, Block],
    questions: list[dict[str, Any]],
    embedder: Any,
    params: ChunkParams,
) -> dict[str, Any]:
    named = table_text.TableGrid.named_row
    if variant == "raw":
        setattr(table_text.TableGrid, "named_row", table_text.TableGrid.raw_row)  # noqa: B010
    elif variant == "label-once":
        setattr(table_text.TableGrid, "named_row", _label_once)  # noqa: B010
    try:
        chunks = chunks_of(tables, params, embedder.count_tokens)
    finally:
        setattr(table_text.TableGrid, "named_row", named)  # noqa: B010
    texts = []
    for _, c in chunks:
        text = c.embedded
        if variant == "named+header" and c.cells is not None:
            head = "\n".join(c.text.split("\n")[: _header_lines(c)])
            text = f"{head}\n{c.embedded}" if head else c.embedded
        texts.append(text)
    vectors = embedder.embed(texts)
    asked = embedder.embed([q["question"] for q in questions])
    at = {1: 0, 5: 0}
    cited = alone = in_top5 = 0
    for q, v in zip(questions, asked, strict=True):
        order = np.argsort(-(vectors @ v))[:5]
        key = (q["doc"], q["page"], q["table"])
        good = [
            i for i in order if chunks[i][0] == key and covers(chunks[i][1], q["row"], q["col"])
        ]
        if good:
            in_top5 += 1
            at[5] += 1
            at[1] += int(good[0] == order[0])
            cells = cited_cells(chunks[good[0]][1].cells or (), query_tokens(q["question"]))
            hit = [(c.row, c.col) for c in cells]
            cited += int((q["row"], q["col"]) in hit)
            alone += int(hit == [(q["row"], q["col"])])
    n = len(questions)
    return {
        "variant": variant,
        "chunks": len(chunks),
        "dense@1": at[1] / n,
        "dense@5": at[5] / n,
        "cited": cited / max(1, in_top5),
        "cited alone": alone / max(1, in_top5),
    }


def _header_lines(chunk: Chunk) -> int:
    """How many leading lines of a table chunk's stored text are its header rows."""
    return len({c.row for c in chunk.cells or () if c.header})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()
    embedder = get_embedder(params=EmbedParams(device="cpu"))
    params = ChunkParams(max_tokens=min(args.max_tokens, embedder.max_length - 2), min_tokens=0)
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    tables = load_tables()
    rows = [
        measure(v, tables, questions, embedder, params)
        for v in ("raw", "named", "named+header", "label-once")
    ]
    print(f"{len(questions)} questions, {len(tables)} tables, max_tokens {params.max_tokens}")
    print(table(rows, ["variant", "chunks", "dense@1", "dense@5", "cited", "cited alone"]))


if __name__ == "__main__":
    main()
