"""Streaming multipart uploads: each file goes straight to the blob store's temp folder, hashed
and counted as it arrives, so an upload never sits whole in memory and an oversized file is
refused (413) as soon as it crosses the limit, before the rest is stored."""

from __future__ import annotations

import contextlib
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from api.errors import ApiError
from core.errors import FileTooLarge
from storage.blobs import BlobStore
from storage.errors import fault_of

FILE_FIELD = "files"
MAX_FIELD_BYTES = 64 * 1024
MAX_FILES = 100
_DRAIN_BYTES = 64 * 1024 * 1024  # read (and drop) this much of a refused body, so the 413 arrives


@dataclass
class UploadedFile:
    """One file part, stored in the blob store's temp folder."""

    form_field: str
    filename: str
    path: Path
    size: int = 0
    head: bytes = b""
    digest: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the content."""
        return str(self.digest.hexdigest())


@dataclass
class UploadForm:
    """The parts of a multipart request: files (on disk) and text fields."""

    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """SHA-256 of what the request asks for (each file's name and content hash, the text
        fields): the same request sent again has the same fingerprint."""
        parts = {
            "files": [(u.filename, u.sha256) for u in self.files],
            "fields": sorted(self.fields.items()),
        }
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()

    def discard(self) -> None:
        """Delete the files' temp copies (the request was refused)."""
        for upload in self.files:
            upload.path.unlink(missing_ok=True)


def content_disposition(value: str) -> tuple[str, str | None]:
    """The part's field name and file name (None: a plain field) from its Content-Disposition,
    with RFC 5987/2231 ``filename*=UTF-8''...`` taking precedence over ``filename``."""
    message = Message()
    message["content-disposition"] = value
    name, filename, extended = "", None, None
    for key, raw in message.get_params(header="content-disposition") or []:
        if key == "name" and isinstance(raw, str):
            name = raw
        elif key == "filename":
            if isinstance(raw, tuple):
                extended = collapse_rfc2231_value(raw, errors="replace")
            else:
                filename = raw
    return name, extended if extended is not None else filename


def safe_filename(name: str) -> str:
    """The last component of a sent file name (either slash), without control characters, at
    most 255 characters; "upload" when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:255] if name not in ("", ".", "..") else "upload"


class _Receiver:
    """Callbacks of the multipart parser, writing file parts to disk as they come."""

    def __init__(self, blobs: BlobStore, max_bytes: int) -> None:
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.form = UploadForm()
        self._headers: dict[str, str] = {}
        self._header_field = b""
        self._header_value = b""
        self._file: UploadedFile | None = None
        self._out: BinaryIO | None = None
        self._name = ""
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._file, self._out, self._name = None, None, ""
        self._value = bytearray()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_field.decode("latin-1").lower()
        try:
            # browsers send the file name as raw UTF-8 (RFC 7578); older clients in Latin-1
            self._headers[name] = self._header_value.decode("utf-8")
        except UnicodeDecodeError:
            self._headers[name] = self._header_value.decode("latin-1")
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        self._name, filename = content_disposition(self._headers.get("content-disposition", ""))
        if filename is not None:
            if self._name != FILE_FIELD:
                raise ApiError(
                    "bad_request", f"send files in the field '{FILE_FIELD}', not {self._name!r}"
                )
            if len(self.form.files) >= MAX_FILES:
                raise ApiError(
                    "bad_request", f"too many files in one request (at most {MAX_FILES})"
                )
            filename = safe_filename(filename)
            path, self._out = self.blobs.open_temp()
            self._file = UploadedFile(self._name, filename[:512], path)
            self.form.files.append(self._file)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = memoryview(data)[start:end]  # no copy: hashed and written as it is
        if self._file is None:
            self._value += chunk
            if len(self._value) > MAX_FIELD_BYTES:
                raise ApiError("bad_request", f"the form field {self._name!r} is too long")
            return
        upload, out = self._file, self._out
        assert out is not None
        upload.size += len(chunk)
        if upload.size > self.max_bytes:
            raise FileTooLarge(
                f"{upload.filename} is over the size limit of {self.max_bytes / 1e6:.1f} MB"
            )
        if len(upload.head) < 1024:
            upload.head += bytes(chunk[: 1024 - len(upload.head)])
        upload.digest.update(chunk)
        out.write(chunk)

    def _part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive_upload(request: Request, blobs: BlobStore, *, max_bytes: int) -> UploadForm:
    """Parse a ``multipart/form-data`` request body as it streams in.

    Raises ApiError (415 when not multipart, 400 for a malformed body), FileTooLarge (413) or
    StorageFull (507: the temp folder's disk is full); on any error the files written so far
    are deleted. Another fault of the disk is raised as it is (500), never told as the body's.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(
            "not_multipart", "send the files as multipart/form-data (field 'files')", 415
        )
    receiver = _Receiver(blobs, max_bytes)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    stream = request.stream()
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:  # finalize() does not check it (python-multipart)
            raise ApiError(
                "multipart_truncated",
                "the multipart body ends before its closing boundary: send the whole body again",
            )
    except Exception as exc:
        with contextlib.suppress(OSError):  # flushing onto a full disk fails again
            receiver.close()
        receiver.form.discard()
        if isinstance(exc, FileTooLarge):
            drained = 0
            async for chunk in stream:  # let the client finish sending, so it reads the 413
                drained += len(chunk)
                if drained > _DRAIN_BYTES:
                    break
        if isinstance(exc, ApiError | FileTooLarge):
            raise
        if isinstance(exc, OSError):  # writing the file failed, not the client's body
            fault = fault_of(exc)
            if fault is not None:
                raise fault from exc
            raise
        raise ApiError("bad_request", f"the multipart body is malformed: {exc}") from exc
    return receiver.form
