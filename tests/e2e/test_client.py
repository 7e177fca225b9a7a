"""The Python client (api.client) against the real service: upload a folder, wait with
progress, search for a known passage, fetch page, crop and Markdown, and the API's error codes
as exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.client import (
    Document,
    DocumentFailed,
    NotFound,
    Refused,
    ScanragClient,
    Unauthorized,
)
from tests.e2e.conftest import Service
from tests.e2e.test_service import REPORT, make_pdf

pytestmark = pytest.mark.slow


def test_client_uploads_a_folder_waits_and_finds_the_passage(
    service: Service, tmp_path: Path
) -> None:
    key, _ = service.new_key("client")
    folder = tmp_path / "scans"
    folder.mkdir()
    make_pdf(folder / "harbour.pdf", REPORT)
    (folder / "notes.txt").write_text("not a scan: skipped by the folder walk")
    seen: list[Document] = []
    with ScanragClient(service.url, api_key=key) as client:
        (doc,) = client.upload([folder], metadata={"project": "harbour"})
        assert doc.filename == "harbour.pdf" and doc.status == "queued"
        (final,) = client.wait([doc], timeout=180, progress=seen.append)
        assert final.status == "done" and final.page_count == 2 and final.pages_done == 2
        assert seen[-1] == final and len(seen) >= 2  # told of the changes, the last one done
        assert [d.id for d in client.documents()] == [doc.id]

        hits = client.search("when will the lighthouse lamp be replaced", k=3)
        top = hits[0]
        assert (top.document.id, top.page) == (doc.id, 2)
        assert "lighthouse" in [w.lower() for w in top.marked]
        assert client.search("lighthouse", metadata={"project": "other"}) == []
        assert client.search("lighthouse", document_ids=[doc.id])[0].document.id == doc.id
        assert client.crop(top)[:4] == b"\x89PNG"
        page = client.page(doc.id, 2)
        assert "lighthouse" in page["text"].lower() and page["width"] > 0
        assert "lighthouse" in client.markdown(doc.id).lower()
        assert client.page_image(doc.id, 1)[:2] == b"\xff\xd8"  # JPEG

        with pytest.raises(NotFound) as missing:
            client.document("no-such-document")
        assert missing.value.status == 404 and missing.value.code == "document_not_found"
        junk = tmp_path / "junk.pdf"
        junk.write_bytes(b"this is not a PDF at all")
        with pytest.raises((Refused, DocumentFailed)) as refused:
            client.wait(client.upload([junk]), timeout=60)
        assert refused.value.code and refused.value.message
        client.delete(doc.id)
        with pytest.raises(NotFound):
            client.document(doc.id)

    with ScanragClient(service.url, api_key="sk-wrong") as stranger:
        with pytest.raises(Unauthorized) as denied:
            stranger.search("lighthouse")
        assert denied.value.status == 401 and denied.value.code
