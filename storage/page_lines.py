"""The lines of stored pages, read from their layouts: what a search hit needs to say which of
its lines hold the passage it cites (``workers.searching``, ``pipelines.citing``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, literal_column, or_, select, true
from sqlalchemy.orm import Session

from storage.db import backend
from storage.tables import Page

__all__ = ["PageLine", "page_lines"]

PageLine = tuple[str, list[float]]  # a line of a page's layout: its text and box


def page_lines(
    session: Session, pages: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[PageLine]]:
    """The text and box of every line of each ``(document id, page number)``'s stored
    layout (``PageResult.to_dict()``), in order.

    Only the lines leave the database: a page's layout is ~150 kB with its words, and
    decoding whole layouts cost ~6 ms a page (38 SQuAD pages)."""
    wanted = sorted(set(pages))
    if not wanted:
        return {}
    which = or_(*((Page.document_id == doc) & (Page.number == number) for doc, number in wanted))
    out: dict[tuple[str, int], list[PageLine]] = {}
    if backend(session.get_bind().engine) == "postgresql":
        path: Any = literal_column("'$.blocks[*].lines[*]'::jsonpath")
        lines = func.jsonb_path_query_array(Page.layout, path)
        for row in session.execute(select(Page.document_id, Page.number, lines).where(which)):
            out[(row[0], row[1])] = [(ln["text"], ln["bbox"]) for ln in row[2]]
        return out
    blocks = func.json_each(Page.layout, "$.blocks").table_valued("value", "key").alias("b")
    line = func.json_each(blocks.c.value, "$.lines").table_valued("value", "key").alias("l")
    stmt = (
        select(
            Page.document_id,
            Page.number,
            func.json_extract(line.c.value, "$.text"),
            func.json_extract(line.c.value, "$.bbox"),
        )
        .select_from(Page)
        .join(blocks, true())
        .join(line, true())
        .where(which)
        .order_by(Page.document_id, Page.number, blocks.c.key, line.c.key)
    )
    for doc, number, text, box in session.execute(stmt):
        out.setdefault((doc, number), []).append((str(text), json.loads(box)))
    return out
