"""A Python client for the scanrag API: upload files or folders, wait for them with progress,
search, and fetch pages, crops and Markdown, with typed results and one exception per error
code the API answers.

    from api.client import ScanragClient

    with ScanragClient("http://127.0.0.1:8000", api_key="sk_...") as client:
        docs = client.upload(["scans/"], metadata={"project": "harbour"})
        client.wait(docs, progress=print)
        for hit in client.search("when is the lighthouse lamp replaced", k=5):
            print(hit.document.filename, hit.page, hit.snippet)

It needs only ``httpx`` (none of the server's packages), so an application can use it alone.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import httpx

SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
FINAL = ("done", "failed")


def _id(value: str) -> str:
    """An id as one URL path segment: escaped, so that no id can reach another route."""
    return quote(str(value), safe="")


class ScanragError(Exception):
    """An error answer of the API: its HTTP ``status``, ``code`` (e.g. ``document_not_found``)
    and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status, self.code, self.message = status, code, message


class Unauthorized(ScanragError):
    """401: no API key, or one the service does not know."""


class NotFound(ScanragError):
    """404: no such document, page or batch (for this key's tenant)."""


class Refused(ScanragError):
    """400/409/413/415/422: the request or file was refused; ``code`` says why."""


class Unavailable(ScanragError):
    """503 or 429: the service cannot take the request now (queue full, starting, a model
    missing); or status 0, ``service_unreachable``: no answer at all (nothing listens, a
    reset, a timeout). Worth retrying later."""


class DocumentFailed(ScanragError):
    """A document the client waited for ended ``failed``; ``code``/``message`` are its error."""


_BY_STATUS: dict[int, type[ScanragError]] = {
    401: Unauthorized,
    404: NotFound,
    429: Unavailable,
    503: Unavailable,
}


@dataclass(frozen=True)
class DocumentRef:
    id: str
    filename: str


@dataclass(frozen=True)
class Document:
    """A document's state as the API reports it."""

    id: str
    filename: str
    status: str
    page_count: int | None
    pages_done: int
    error_code: str | None = None
    error_message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Document:
        error = body.get("error") or {}
        return cls(
            id=body["id"],
            filename=body["filename"],
            status=body["status"],
            page_count=body.get("page_count"),
            pages_done=body.get("pages_done", 0),
            error_code=error.get("code"),
            error_message=error.get("message"),
            metadata=body.get("metadata") or {},
        )

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class Hit:
    """A search hit: where the passage is, its text, why it matched and how well."""

    document: DocumentRef
    page: int
    bbox: tuple[float, float, float, float]
    text: str
    score: float
    kind: str
    title: str | None
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    crop_url: str
    line_boxes: tuple[tuple[float, ...], ...] = ()
    found_by: tuple[str, ...] = ()  # the legs that found it: lexical, dense, text_to_image, image
    source: str = "chunk"  # chunk (a passage), or image (a page or figure by its image vector)
    # a hit in a table: the cells it matched ({"row", "col", "bbox"} each) and the table's
    # index in its document (``ScanragClient.tables``), when the service gives them
    cells: tuple[dict[str, Any], ...] | None = None
    table: int | None = None
    # the lines that hold the snippet ({"text", "bbox"} each): the passage to cite, when known
    lines: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Hit:
        return cls(
            document=DocumentRef(**body["document"]),
            page=body["page"],
            bbox=tuple(body["bbox"]),
            text=body["text"],
            score=body["score"],
            kind=body.get("kind", "text"),
            title=body.get("title"),
            snippet=body.get("snippet", ""),
            highlights=tuple(tuple(h) for h in body.get("highlights", [])),
            crop_url=body["crop_url"],
            line_boxes=tuple(tuple(b) for b in body.get("line_boxes", [])),
            found_by=tuple(body.get("found_by", ())),
            source=body.get("source", "chunk"),
            cells=None if body.get("cells") is None else tuple(body["cells"]),
            table=body.get("table"),
            lines=None if body.get("lines") is None else tuple(body["lines"]),
        )

    @property
    def marked(self) -> list[str]:
        """The words of the snippet that matched the query."""
        return [self.snippet[a:b] for a, b in self.highlights]

    def metadata(self, base_url: str) -> dict[str, Any]:
        """What a retrieved passage carries besides its text (the RAG adapters' metadata):
        document id and filename, page, bbox, kind, title, score, snippet, absolute crop URL;
        for a hit in a table, also the ``cells`` it matched (row, col, bbox each) and the
        ``table``'s index in its document when the service gives it; for a passage, the
        ``lines`` that hold its snippet (text, bbox each) when the service gives them."""
        meta: dict[str, Any] = {
            "document_id": self.document.id,
            "filename": self.document.filename,
            "page": self.page,
            "bbox": list(self.bbox),
            "kind": self.kind,
            "title": self.title,
            "score": self.score,
            "snippet": self.snippet,
            "crop_url": base_url.rstrip("/") + self.crop_url,
        }
        if self.cells is not None:
            meta["cells"] = [dict(c) for c in self.cells]
        if self.table is not None:
            meta["table"] = self.table
        if self.lines is not None:
            meta["lines"] = [dict(line) for line in self.lines]
        return meta


@dataclass(frozen=True)
class TableCell:
    """One cell of a table: its first grid row and column (from 0), spans, box in page
    pixels, text, and whether it is a header cell."""

    row: int
    col: int
    row_span: int
    col_span: int
    bbox: tuple[float, float, float, float]
    text: str
    header: bool = False

    @classmethod
    def of(cls, body: dict[str, Any]) -> TableCell:
        return cls(
            row=body["row"],
            col=body["col"],
            row_span=body.get("row_span", 1),
            col_span=body.get("col_span", 1),
            bbox=tuple(body["bbox"]),
            text=body.get("text", ""),
            header=body.get("header", False),
        )


@dataclass(frozen=True)
class Table:
    """A table of a document: its ``index`` there (from 0; a search hit's ``table``), page,
    box, grid size and cells, text and caption."""

    index: int
    page: int
    bbox: tuple[float, float, float, float]
    rows: int
    cols: int
    cells: tuple[TableCell, ...]
    text: str = ""
    caption: str | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Table:
        return cls(
            index=body["index"],
            page=body["page"],
            bbox=tuple(body["bbox"]),
            rows=body["rows"],
            cols=body["cols"],
            cells=tuple(TableCell.of(c) for c in body.get("cells", [])),
            text=body.get("text", ""),
            caption=body.get("caption"),
        )

    def grid(self) -> list[list[str]]:
        """The table as ``rows`` lists of ``cols`` texts (a spanning cell's text in its first
        slot, the slots it covers empty), as its CSV has it."""
        out = [["" for _ in range(self.cols)] for _ in range(self.rows)]
        for c in self.cells:
            if 0 <= c.row < self.rows and 0 <= c.col < self.cols:
                out[c.row][c.col] = c.text
        return out


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the files under folders (recursively, sorted) whose suffix the
    service reads."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        else:
            out.append(p)
    return out


class ScanragClient:
    """The scanrag API at ``url`` with ``api_key`` (sent as a Bearer token, never in a URL)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.TransportError as exc:  # nothing listens, a reset, a timeout
            why = str(exc) or type(exc).__name__
            raise Unavailable(
                0,
                "service_unreachable",
                f"cannot reach the scanrag service at {self.http.base_url} ({why}):"
                " is it running (scanrag up)?",
            ) from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    # documents

    def upload(
        self,
        paths: Iterable[str | Path],
        *,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        batch: int = 16,
    ) -> list[Document]:
        """Upload files (and the readable files under folders), ``batch`` per request; returns
        each one's document (an already stored file comes back as its existing document)."""
        files = expand(paths)
        out: list[Document] = []
        data: dict[str, str] = {}
        if metadata is not None:
            data["metadata"] = json.dumps(metadata)
        if callback_url is not None:
            data["callback_url"] = callback_url
        for start in range(0, len(files), batch):
            group = files[start : start + batch]
            handles = [f.open("rb") for f in group]
            try:
                parts = [("files", (f.name, h)) for f, h in zip(group, handles, strict=True)]
                body = self._call("POST", "/v1/documents", files=parts, data=data).json()
            finally:
                for h in handles:
                    h.close()
            out += [Document.of(d) for d in body["documents"]]
        return out

    def document(self, document_id: str) -> Document:
        return Document.of(self._call("GET", f"/v1/documents/{_id(document_id)}").json())

    def documents(self, *, status: str | None = None, limit: int = 50) -> Iterator[Document]:
        """Every document of the tenant (newest first), fetched ``limit`` at a time."""
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": limit, "offset": offset}
            if status is not None:
                params["status"] = status
            page = self._call("GET", "/v1/documents", params=params).json()
            yield from (Document.of(d) for d in page["documents"])
            offset += len(page["documents"])
            if not page["documents"] or offset >= page["total"]:
                return

    def delete(self, document_id: str) -> None:
        self._call("DELETE", f"/v1/documents/{_id(document_id)}")

    def wait(
        self,
        documents: Iterable[Document | str],
        *,
        timeout: float = 600.0,
        interval: float = 0.5,
        progress: Callable[[Document], None] | None = None,
        raise_on_failure: bool = True,
    ) -> list[Document]:
        """Poll until every document is done or failed; ``progress`` is told each change of a
        document (status or pages done). Raises DocumentFailed for the first failed one (unless
        ``raise_on_failure`` is False) and TimeoutError past ``timeout`` seconds."""
        ids = [d.id if isinstance(d, Document) else d for d in documents]
        latest: dict[str, Document] = {}
        deadline = time.monotonic() + timeout
        while True:
            for i in ids:
                if i in latest and latest[i].final:
                    continue
                now = self.document(i)
                if progress is not None and now != latest.get(i):
                    progress(now)
                latest[i] = now
            if all(d.final for d in latest.values()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"documents not finished after {timeout} s")
            time.sleep(interval)
        if raise_on_failure:
            for d in latest.values():
                if d.status == "failed":
                    raise DocumentFailed(200, d.error_code or "failed", d.error_message or "")
        return [latest[i] for i in ids]

    # content

    def page(self, document_id: str, number: int) -> dict[str, Any]:
        """One page as ``scanrag ocr`` JSON (blocks, lines, words, boxes)."""
        return self._call("GET", f"/v1/documents/{_id(document_id)}/pages/{number}").json()

    def text(self, document_id: str) -> str:
        return self._call("GET", f"/v1/documents/{_id(document_id)}/text").text

    def markdown(self, document_id: str) -> str:
        return self._call("GET", f"/v1/documents/{_id(document_id)}/markdown").text

    def pdf(self, document_id: str, out: str | Path) -> int:
        """The document as a searchable PDF (the original with an invisible text layer),
        streamed into the file ``out``; returns the bytes written."""
        path = f"/v1/documents/{_id(document_id)}/pdf"
        try:
            with self.http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                written = 0
                with Path(out).open("wb") as f:
                    for chunk in response.iter_bytes():
                        written += f.write(chunk)
        except httpx.TransportError as exc:
            why = f"cannot reach the scanrag service at {self.http.base_url} ({exc})"
            raise Unavailable(0, "service_unreachable", why) from exc
        return written

    def page_image(self, document_id: str, number: int) -> bytes:
        return self._call("GET", f"/v1/documents/{_id(document_id)}/pages/{number}/image").content

    def tables(self, document_id: str) -> list[Table]:
        """Every table of a document (read: 409 ``Refused`` while it is being read), in page
        and reading order, with its cells."""
        body = self._call("GET", f"/v1/documents/{_id(document_id)}/tables").json()
        return [Table.of(t) for t in body["tables"]]

    def table_csv(self, document_id: str, index: int) -> str:
        """Table ``index`` (from 0) of a document as CSV (``NotFound`` past its last table)."""
        path = f"/v1/documents/{_id(document_id)}/tables/{int(index)}"
        return self._call("GET", path, params={"format": "csv"}).text

    def crop(self, hit: Hit) -> bytes:
        """The PNG of a hit's region of its page."""
        return self._call("GET", hit.crop_url).content

    def crop_of(self, document_id: str, number: int, bbox: Iterable[float]) -> bytes:
        """The PNG of the region ``bbox`` (x0, y0, x1, y1 in page pixels) of a page."""
        box = ",".join(f"{v:g}" for v in bbox)
        path = f"/v1/documents/{_id(document_id)}/pages/{number}/crop"
        return self._call("GET", path, params={"bbox": box}).content

    # search

    def search(
        self,
        query: str | None = None,
        *,
        image: bytes | Path | None = None,
        k: int = 10,
        document_ids: list[str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> list[Hit]:
        """The ``k`` passages (and, with an image model, pages and figures) that best match
        ``query`` and/or ``image`` (a JPEG or PNG, as bytes or a file), optionally only in
        ``document_ids`` and documents whose metadata has every ``key: value`` of
        ``metadata``."""
        filters: dict[str, Any] = {}
        if document_ids is not None:
            filters["document_ids"] = document_ids
        if metadata is not None:
            filters["metadata"] = metadata
        body: dict[str, Any] = {"k": k, "filters": filters}
        if query is not None:
            body["query"] = query
        if image is not None:
            body["image"] = _image_json(image)
        return [Hit.of(h) for h in self._call("POST", "/v1/search", json=body).json()["hits"]]

    def encode(
        self,
        model: str = "text",
        *,
        texts: list[str] | None = None,
        images: list[bytes | Path] | None = None,
    ) -> list[list[float]]:
        """Vectors from the service's encoders, the same the index holds: ``model`` "text"
        reads ``texts``; "image" reads ``images`` (JPEG or PNG) and ``texts`` (its text tower),
        texts first."""
        items: list[dict[str, Any]] = [{"text": t} for t in texts or []]
        items += [{"image": _image_json(i)} for i in images or []]
        body = {"model": model, "items": items}
        vectors: list[list[float]] = self._call("POST", "/v1/encode", json=body).json()["vectors"]
        return vectors


def _image_json(image: bytes | Path) -> dict[str, str]:
    """A JPEG or PNG as the API takes it: ``{"data": <base64>, "format"}``."""
    data = image.read_bytes() if isinstance(image, Path) else image
    fmt = "png" if data.startswith(b"\x89PNG") else "jpeg"
    return {"data": base64.b64encode(data).decode("ascii"), "format": fmt}


def _error(response: httpx.Response) -> ScanragError:
    """The exception for an error answer (``{"error": {"code", "message"}}``, or a bare
    status from a proxy)."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{response.status_code}", response.text[:200]
    status = response.status_code
    kind = _BY_STATUS.get(status, Refused if 400 <= status < 500 else ScanragError)
    return kind(status, code, message)
