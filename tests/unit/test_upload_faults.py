"""A disk that fails while an upload is written is told as it is (507 storage_full, or the fault
itself), never as the client's malformed body; the partial temp files go."""

from __future__ import annotations

import asyncio
import errno
import io
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.errors import ApiError, install_error_handlers
from api.uploads import receive_upload
from core.errors import StorageFull
from storage.blobs import BlobStore

BOUNDARY = "b0undary"


class FailingFile(io.BufferedWriter):
    """A temp file on a disk that fails every write with ``code``."""

    def __init__(self, path: Path, code: int) -> None:
        super().__init__(io.FileIO(path, "wb"))
        self.code = code

    def write(self, data: Any) -> int:
        raise OSError(self.code, "No space left on device")


class FailingDisk(BlobStore):
    """The blob store's seam: its temp files fail to be written."""

    def __init__(self, root: Path, code: int) -> None:
        super().__init__(root)
        self.code = code

    def open_temp(self) -> tuple[Path, BinaryIO]:
        path = self.temp_file()
        return path, FailingFile(path, self.code)


def upload_request(payload: bytes) -> Request:
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/documents",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
    }
    return Request(scope, receive)


def test_a_full_disk_is_507_storage_full_not_a_malformed_body(tmp_path: Path) -> None:
    blobs = FailingDisk(tmp_path, errno.ENOSPC)
    with pytest.raises(StorageFull) as raised:
        asyncio.run(receive_upload(upload_request(b"x" * 1000), blobs, max_bytes=10**6))
    assert raised.value.http_status == 507
    assert raised.value.code == "storage_full"
    assert list((tmp_path / "tmp").iterdir()) == []  # the partial file is gone


def test_another_disk_fault_is_not_told_as_the_clients(tmp_path: Path) -> None:
    blobs = FailingDisk(tmp_path, errno.EIO)
    with pytest.raises(OSError) as raised:
        asyncio.run(receive_upload(upload_request(b"x" * 1000), blobs, max_bytes=10**6))
    assert not isinstance(raised.value, ApiError)
    assert raised.value.errno == errno.EIO


def test_the_translator_tells_a_full_disk_anywhere_a_route_writes() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/full")
    def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    @app.post("/eio")
    def eio() -> None:
        raise OSError(errno.EIO, "I/O error")

    client = TestClient(app, raise_server_exceptions=False)
    answer = client.post("/full")
    assert answer.status_code == 507
    assert answer.json()["error"]["code"] == "storage_full"
    answer = client.post("/eio")
    assert (answer.status_code, answer.json()["error"]["code"]) == (500, "internal")
