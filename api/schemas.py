"""Request and response bodies of the API."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from core.status import BatchStatus, DocumentStatus
from core.vocab import EncoderKind, HitKind, HitSource, LegName
from storage.tables import Document
from workers.views import document_view


class ErrorInfo(BaseModel):
    code: str
    message: str


_ERROR_MEANINGS = {
    400: "Malformed request (bad multipart body, no file, empty file, a JSON body its parser"
    " cannot read)",
    401: "No or unknown API key",
    403: "The path leads out of your import folder, or folder batches are off; /metrics"
    " without the operator's key",
    404: "No such document, page, table or batch (or another tenant's)",
    409: "Not ready yet (the document is still being read), or the Idempotency-Key's first"
    " request is still being answered",
    413: "The file or the request body is over its size limit",
    415: "Not multipart, or not a supported document type",
    422: "Invalid input (parameters, JSON, metadata, callback_url, a damaged document)",
    429: "Too many event streams open for this key at once",
    503: "The job queue or a dependency is unavailable, the database is busy (Retry-After),"
    " or the service is not ready",
    507: "The server's storage is full: nothing was stored",
}


_ERROR_SCHEMA = {  # every error the API answers: {"error": {"code", "message"}}
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_ERROR_CONTENT = {"application/json": {"schema": _ERROR_SCHEMA}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each the JSON error body (spelled out as
    content, not as a model, so that routes answering text or images still document JSON)."""
    return {c: {"description": _ERROR_MEANINGS[c], "content": _ERROR_CONTENT} for c in codes}


def request_body(*content: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An ``openapi_extra`` request body, for routes that read the request themselves."""
    return {"requestBody": {"required": True, "content": {t: {"schema": s} for t, s in content}}}


MULTIPART_FILES = (
    "multipart/form-data",
    {
        "type": "object",
        "required": ["files"],
        "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "metadata": {"type": "string", "description": "a JSON object, kept with each document"},
            "callback_url": {
                "type": "string",
                "maxLength": 2048,
                "description": "a public http(s) URL the outcome is POSTed to",
            },
        },
    },
)


class DocumentPublic(BaseModel):
    """A document as clients see it."""

    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    status: DocumentStatus
    page_count: int | None
    pages_done: int
    error: ErrorInfo | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None = Field(description="from upload to a worker taking it up")
    processing_seconds: float | None = Field(description="from a worker taking it up to the end")
    links: dict[str, str]

    @classmethod
    def of(cls, document: Document) -> DocumentPublic:
        """The public view of a document row."""
        return cls(**cls.fields_of(document))

    @staticmethod
    def fields_of(document: Document) -> dict[str, Any]:
        """The fields of ``of(document)``, for models extending this one: the document's view
        (less its tenant: a client sees only its own) and its links."""
        fields = document_view(document)
        del fields["tenant"]
        base = f"/v1/documents/{document.id}"
        fields["links"] = {
            "self": base,
            "events": f"{base}/events",
            "text": f"{base}/text",
            "hocr": f"{base}/hocr",
            "tables": f"{base}/tables",
        }
        return fields


class UploadedDocument(DocumentPublic):
    """A document of an upload, and whether this upload created it (False: already stored)."""

    created: bool


class UploadResponse(BaseModel):
    documents: list[UploadedDocument]


class DocumentsPage(BaseModel):
    documents: list[DocumentPublic]
    total: int
    limit: int
    offset: int


def _storable(text: str, what: str) -> str:
    """``text`` if a database can hold it: UTF-8 (no lone surrogate halves) without NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None
    if "\x00" in text:
        raise ValueError(f"{what} holds a NUL character")
    return text


class SearchFilters(BaseModel):
    document_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=1000
    )
    metadata: dict[str, str] | None = Field(
        default=None,
        max_length=32,
        description="key == value on the document's metadata (keys without quotes, backslashes"
        " or control characters)",
    )

    @field_validator("document_ids")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            _storable(item, "a document id")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            _storable(key, "a metadata key")
            _storable(item, "a metadata value")
            # a JSON path (SQLite's json_extract) cannot spell these in a key
            if not key or any(c in '"\\' or unicodedata.category(c)[0] == "C" for c in key):
                raise ValueError(
                    f"metadata key {key!r} is empty or holds a quote, backslash or control code"
                )
        return value


class EncodedImage(BaseModel):
    data: str = Field(description="the image file's bytes, base64")
    format: Literal["jpeg", "jpg", "png"] = Field(description="what the bytes are")


class SearchRequest(BaseModel):
    query: str | None = Field(default=None, min_length=1, max_length=2000)
    image: EncodedImage | None = Field(
        default=None,
        description="search by image (needs an image model): pages and figures that look like it",
    )
    k: int = Field(default=10, ge=1, le=100)
    filters: SearchFilters = SearchFilters()

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        return None if value is None else _storable(value, "the query")

    @model_validator(mode="after")
    def _something(self) -> SearchRequest:
        if self.query is None and self.image is None:
            raise ValueError("give a query, an image, or both")
        return self


class DocumentRef(BaseModel):
    id: str
    filename: str


class HitCell(BaseModel):
    row: int = Field(description="0-based row of the cell in its table")
    col: int = Field(description="0-based column of the cell in its table")
    bbox: list[float] = Field(description="the cell's box in page pixels")
    text: str


class HitLine(BaseModel):
    text: str = Field(description="the line's text as the hit's text has it")
    bbox: list[float] = Field(description="the line's box in page pixels: x0, y0, x1, y1")


class SearchHitPublic(BaseModel):
    document: DocumentRef
    page: int
    bbox: list[float]
    text: str
    score: float
    line_boxes: list[list[float]]
    kind: HitKind = Field(
        description="text, table or figure (a chunk); page or figure (an image region)"
    )
    title: str | None = Field(default=None, description="the heading of the hit's section")
    snippet: str = Field(
        description="the sentence or two of the text that best match the query ('…' where cut)"
    )
    highlights: list[list[int]] = Field(
        description="[start, end) character offsets in snippet of the words that match the query"
    )
    lines: list[HitLine] | None = Field(
        default=None,
        description="the lines of the hit that hold its snippet's sentence(s) and the next"
        " best matching sentence (the passage to cite; the page's lines that complete a"
        " sentence cut at the chunk's edge too), with their boxes; crop_url shows them. Null"
        " for tables (see cells), image regions and passages whose lines are not known",
    )
    crop_url: str
    found_by: list[LegName] = Field(
        description="the legs that found the hit, best rank first: lexical, dense (text"
        " model), text_to_image (the query through the image model's text tower), image"
    )
    ranks: dict[LegName, int] = Field(
        description="the hit's 1-based rank in each leg that found it"
    )
    source: HitSource = Field(
        description="chunk: a passage of text; image: a page or figure found by its image vector"
    )
    table: int | None = Field(
        default=None,
        description="a hit in a table: the table's 0-based index in the document (as in"
        " GET /v1/documents/{id}/tables); null for other hits",
    )
    cells: list[HitCell] | None = Field(
        default=None,
        description="a hit in a table: the cells it cites, those matching the query's words"
        " (a value by its own text, its row's label and its column's header), or the hit's rows"
        " when no word matched; crop_url shows them. Null for other hits",
    )


class SearchResponse(BaseModel):
    query: str | None
    hits: list[SearchHitPublic]


class EncodeItem(BaseModel):
    text: str | None = None
    image: EncodedImage | None = None


class EncodeRequestBody(BaseModel):
    """The documented shape of ``POST /v1/encode`` (the body is checked by pipelines.encode)."""

    model: EncoderKind
    items: list[EncodeItem]


class EncodeResponse(BaseModel):
    model: EncoderKind
    name: str = Field(description="the model's name (its folder's name; MiniLM's hub id)")
    dim: int
    vectors: list[list[float]]


class BatchRequest(BaseModel):
    path: str = Field(
        description="a folder of your import folder (<import root>/<tenant>), relative to it"
    )


class BatchPublic(BaseModel):
    id: str
    status: BatchStatus
    source: str
    files_total: int | None
    counts: dict[DocumentStatus, int]
    error: str | None
    created_at: datetime
    links: dict[str, str]


class TableCellPublic(BaseModel):
    row: int = Field(description="the cell's first grid row, from 0")
    col: int = Field(description="the cell's first grid column, from 0")
    row_span: int = Field(description="how many grid rows the cell covers (1 or more)")
    col_span: int = Field(description="how many grid columns the cell covers (1 or more)")
    bbox: list[float] = Field(description="x0, y0, x1, y1 in page pixels")
    text: str = Field(description="the words inside the cell, in reading order")
    header: bool = Field(description="a header cell")


class TablePublic(BaseModel):
    index: int = Field(description="the table's number in the document, from 0")
    page: int
    bbox: list[float] = Field(description="the table's region: x0, y0, x1, y1 in page pixels")
    rows: int = Field(description="grid rows")
    cols: int = Field(description="grid columns")
    cells: list[TableCellPublic] = Field(description="the cells covering the grid, row-major")
    text: str = Field(description="the table's text, line by line")
    caption: str | None = Field(description="the table's caption, if it has one")
    links: dict[str, str]


class TablesResponse(BaseModel):
    tables: list[TablePublic]
