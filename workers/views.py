"""The public view of each entity: one set of fields and values, whoever shows it.

The API's response models, the CLI's ``--json`` output and the webhook body are all built from
these dicts; each edge only picks the fields it shows, renames them or adds its own (the API's
links and crop URLs, the CLI's local crop path), so a value is computed in one place.
Plain Python values: datetimes stay datetimes, each edge writes them as its format wants.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import BadInput
from pipelines.snippets import snippet
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
        "metadata": document.meta or {},
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
    it with its rank in each, and whether it is a chunk or an image region."""
    best = snippet(hit.text, query_tokens(query or ""))
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
        "found_by": hit.found_by,
        "ranks": dict(hit.ranks),
        "source": "chunk" if hit.chunk_id is not None else "image",
    }


class InvalidMetadata(BadInput):
    code = "invalid_metadata"
    default_message = "metadata must be a JSON object"


MAX_METADATA_DEPTH = 16


def parse_metadata(text: str | None) -> dict[str, Any]:
    """A document's metadata as a client gives it (the upload's ``metadata`` field, ``scanrag
    ingest --metadata``): a JSON object without NaN or Infinity, nested at most
    ``MAX_METADATA_DEPTH`` levels (absent or blank: empty). Raises InvalidMetadata."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidMetadata(f"metadata is not JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidMetadata("metadata is nested too deeply") from exc
    except ValueError as exc:  # NaN, Infinity: stored, they would break every filtered search
        raise InvalidMetadata(str(exc)) from exc
    if not isinstance(value, dict):
        raise InvalidMetadata()
    if _depth(value) > MAX_METADATA_DEPTH:
        raise InvalidMetadata(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"metadata holds {name}, which is not JSON: send a number or null")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
