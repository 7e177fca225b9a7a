"""The lines of stored pages, read from their layouts: what a search hit needs to say which of
its lines hold the passage it cites (``workers.searching``, ``pipelines.citing``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, or_, select, true
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
    postgres = backend(session.get_bind().engine) == "postgresql"
    params: dict[str, Any] = {}
    for i, (doc, number) in enumerate(wanted):
        params[f"d{i}"], params[f"n{i}"] = doc, number
    rows = session.execute(_statement(postgres, len(wanted)), params)
    out: dict[tuple[str, int], list[PageLine]] = {}
    if postgres:
        for row in rows:
            out[(row[0], row[1])] = [(ln["text"], ln["bbox"]) for ln in row[2]]
        return out
    for doc, number, text, box in rows:
        out.setdefault((doc, number), []).append((str(text), json.loads(box)))
    return out


@lru_cache(maxsize=256)
def _statement(postgres: bool, count: int) -> Select[Any]:
    """The query of the lines of ``count`` pages, their ids bound as ``d0, n0, d1, n1...``:
    made once per count (building the expression of ten pages cost ~1 ms a search)."""
    which = or_(
        *(
            (Page.document_id == bindparam(f"d{i}")) & (Page.number == bindparam(f"n{i}"))
            for i in range(count)
        )
    )
    if postgres:
        path: Any = literal_column("'$.blocks[*].lines[*]'::jsonpath")
        lines = func.jsonb_path_query_array(Page.layout, path)
        return select(Page.document_id, Page.number, lines).where(which)
    blocks = func.json_each(Page.layout, "$.blocks").table_valued("value", "key").alias("b")
    line = func.json_each(blocks.c.value, "$.lines").table_valued("value", "key").alias("l")
    return (
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
