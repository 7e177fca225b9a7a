"""GET /v1/documents/{id}/pdf on the live service: the uploaded scan back with the stored
reading as its invisible text layer (its image bytes as uploaded), through the Python client
too; another tenant's document is 404; the web app downloads it in a real browser."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from api.client import NotFound, ScanragClient
from tests.e2e.conftest import Service
from tests.e2e.test_web_app import browser, page, sign_in  # noqa: F401 (fixtures)
from tests.pagegen import scanned, text_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils"),
]

LINES = ["Minutes of the river board", "Levels rose by twelve percent in March"]


def scan_pdf() -> bytes:
    buffer = io.BytesIO()
    scanned(text_page(LINES), angle=0.6).save(buffer, "PDF", resolution=200)
    return buffer.getvalue()


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def upload_done(service: Service, key: str, data: bytes, name: str) -> str:
    client = service.client(key)
    created = client.post("/v1/documents", files={"files": (name, data)})
    assert created.status_code == 202, created.text
    document_id: str = created.json()["documents"][0]["id"]
    assert service.wait_final(client, document_id)["status"] == "done"
    return document_id


def test_the_pdf_is_the_upload_with_the_stored_text(service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("pdf")
    original = scan_pdf()
    doc_id = upload_done(service, key, original, "minutes.pdf")
    client = service.client(key)

    got = client.get(f"/v1/documents/{doc_id}/pdf")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    assert 'filename="minutes.ocr.pdf"' in got.headers["content-disposition"]
    out = tmp_path / "got.pdf"
    out.write_bytes(got.content)
    stored_text = client.get(f"/v1/documents/{doc_id}/text").text
    assert pdf_text(out).split() == stored_text.split()
    assert "twelve" in stored_text.lower()
    with pikepdf.open(io.BytesIO(original)) as a, pikepdf.open(out) as b:
        (image_a,) = a.pages[0].get_images().values()
        (image_b,) = b.pages[0].get_images().values()
        assert image_a.read_raw_bytes() == image_b.read_raw_bytes()

    # the Python client streams the same file
    with ScanragClient(service.url, api_key=key) as python:
        written = python.pdf(doc_id, tmp_path / "client.pdf")
    assert written == len(got.content)
    assert pdf_text(tmp_path / "client.pdf") == pdf_text(out)

    # another tenant's document, and no such document: 404 as for every document route
    stranger = service.new_key("pdf-stranger")[0]
    other = service.client(stranger)
    for path in (f"/v1/documents/{doc_id}/pdf", "/v1/documents/nope/pdf"):
        refused = other.get(path)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "document_not_found"
    with ScanragClient(service.url, api_key=stranger) as python, pytest.raises(NotFound):
        python.pdf(doc_id, tmp_path / "never.pdf")


def test_the_web_app_downloads_the_pdf(page: Any, service: Service, tmp_path: Path) -> None:  # noqa: F811
    key, _ = service.new_key("pdf-web")
    doc_id = upload_done(service, key, scan_pdf(), "board.pdf")
    sign_in(page, service, key)
    page.wait_for_selector("#app:not([hidden])")
    page.locator(f"#documents tr[data-id='{doc_id}'] button", has_text="Open").click()
    page.wait_for_selector("#overlay rect.line")
    with page.expect_download() as info:
        page.click("#download-pdf")
    download = info.value
    assert download.suggested_filename == "board.ocr.pdf"
    saved = tmp_path / "downloaded.pdf"
    download.save_as(saved)
    stored = service.client(key).get(f"/v1/documents/{doc_id}/text").text
    assert pdf_text(saved).split() == stored.split()
