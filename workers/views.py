"""The public view of each entity: one set of fields and values, whoever shows it.

The API's response models, the CLI's ``--json`` output and the webhook body are all built from
these dicts; each edge only picks the fields it shows, renames them or adds its own (the API's
links and crop URLs, the CLI's local crop path), so a value is computed in one place.
Plain Python values: datetimes stay datetimes, each edge writes them as its format wants.
"""

from __future__ import annotations

from typing import Any

from core import strict_json
from core.errors import BadInput
from pipelines.citing import passage_lines
from pipelines.snippets import cited_cells, snippet
from pipelines.types import TableCell, union_box
from storage.search import SearchHit, query_tokens
from storage.tables import Document


def document_view(document: Document) -> dict[str, Any]:
    """Every public field of a document row.

    ``error`` is ``{"code", "message"}`` or None; ``queued_seconds`` runs from the upload to a
    worker taking it up, ``processing_seconds`` from then to the end (None until known).
    """
    queued = processing = None
    if document.started_at is not None:
        queued = (document.started_at - document.created_at).total_seconds()
        if document.finished_at is not None:
            processing = (document.finished_at - document.started_at).total_seconds()
    error = None
    if document.error_code is not None:
        error = {"code": document.error_code, "message": document.error_message or ""}
    return {
        "id": document.id,
        "tenant": document.tenant,
        "filename": document.filename,
        "media_type": document.media_type,
        "size_bytes": document.size_bytes,
        "sha256": document.sha256,
        "status": document.status,
        "page_count": document.page_count,
        "pages_done": document.pages_done,
        "error": error,
        "metadata": stored_metadata(document),
        "created_at": document.created_at,
        "started_at": document.started_at,
        "finished_at": document.finished_at,
        "queued_seconds": queued,
        "processing_seconds": processing,
    }


def hit_view(hit: SearchHit, query: str | None) -> dict[str, Any]:
    """A search hit: its document, page, box, text, score (6 decimals), line boxes, kind and
    section title, the snippet of its text that best matches ``query`` with the offsets
    of the matched words in it (``highlights``: ``[start, end)`` pairs), the legs that found
    it with its rank in each, and whether it is a chunk or an image region. A table hit has
    ``table`` (its 0-based index among the document's tables) and ``cells``, the cells it
    cites (``{"row", "col", "bbox", "text"}``: those matching the query, or its rows when no
    word matched: ``pipelines.snippets.cited_cells``); None for other hits. ``lines``: the
    lines of the hit that hold its snippet's sentence(s) and the next best matching one,
    ``{"text", "bbox"}`` each, with the page's lines past the chunk's edges that make such a
    sentence cut by them whole (``pipelines.citing``),
    or None when not known (an image region, a table, a chunk whose lines are not on its
    page)."""
    terms = query_tokens(query or "")
    best = snippet(hit.text, terms)
    lines = None
    if hit.line_texts is not None and hit.cells is None:
        held = passage_lines(
            hit.text, hit.line_boxes, hit.line_texts, terms, best, hit.lines_before, hit.lines_after
        )
        if held is not None:
            lines = [line.to_dict() for line in held]
    cells = None
    if hit.cells is not None:
        cited = cited_cells([TableCell.from_dict(c) for c in hit.cells], terms)
        cells = [{"row": c.row, "col": c.col, "bbox": list(c.bbox), "text": c.text} for c in cited]
    return {
        "document": {"id": hit.document_id, "filename": hit.filename},
        "page": hit.page_number,
        "bbox": list(hit.bbox),
        "text": hit.text,
        "score": round(hit.score, 6),
        "line_boxes": [list(box) for box in hit.line_boxes],
        "kind": hit.kind,
        "title": hit.title,
        "snippet": best.text,
        "highlights": [list(span) for span in best.highlights],
        "lines": lines,
        "found_by": hit.found_by,
        "ranks": dict(hit.ranks),
        "source": "chunk" if hit.chunk_id is not None else "image",
        "table": hit.table_index if cells is not None else None,
        "cells": cells,
    }


def crop_bbox(view: dict[str, Any]) -> list[float]:
    """The box a hit's crop shows: the union of the cells it cites in a table, of the lines
    that hold its snippet in a passage, else its box (a figure: the picture with its caption,
    which its lines alone would leave out)."""
    cited = view.get("cells") or (view.get("lines") if view.get("kind") != "figure" else None)
    if cited:
        return list(union_box([tuple(c["bbox"]) for c in cited]))
    return list(view["bbox"])


class InvalidMetadata(BadInput):
    code = "invalid_metadata"
    default_message = "metadata must be a JSON object"


MAX_METADATA_DEPTH = 16


def parse_metadata(text: str | None) -> dict[str, Any]:
    """A document's metadata as a client gives it (the upload's ``metadata`` field, ``scanrag
    ingest --metadata``): a JSON object that PostgreSQL and SQLite both store and give back
    (finite numbers, no lone surrogates, no NUL), nested at most ``MAX_METADATA_DEPTH`` levels
    (absent or blank: empty). Raises InvalidMetadata."""
    if text is None or not text.strip():
        return {}
    try:
        value = strict_json.loads(text, max_depth=MAX_METADATA_DEPTH, allow_nul=False)
    except strict_json.JsonRefused as exc:  # stored, each would break the tenant's list
        raise InvalidMetadata(f"metadata: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidMetadata()
    return value


def stored_metadata(document: Document) -> dict[str, Any]:
    """The document's metadata as it can be shown: a value stored before the rules above (a
    non-finite number, a lone surrogate) is null, so one bad row never breaks a listing."""
    meta = document.meta
    if not isinstance(meta, dict):
        return {}
    repaired: dict[str, Any] = strict_json.repair(
        meta, max_depth=MAX_METADATA_DEPTH, allow_nul=False
    )
    return repaired
