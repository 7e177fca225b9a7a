"""Import folders are per tenant: a folder batch reads ``<import root>/<tenant>/`` and nothing
else, and answers show paths relative to it, never the server's."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Service
from tests.e2e.test_service import make_pdf


def wait_listed(service: Service, client: httpx.Client, batch_id: str, files: int) -> Any:
    deadline = time.monotonic() + 180
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        counts = batch["counts"]
        if batch["status"] == "listed" and counts["done"] + counts["failed"] == files:
            return batch
        assert time.monotonic() < deadline, (batch, service.tail())
        time.sleep(0.5)


def test_a_tenant_reads_only_its_own_import_folder(service: Service, import_root: Path) -> None:
    acme = service.client(service.new_key("acme")[0])
    (import_root / "globex" / "private").mkdir(parents=True)
    (import_root / "acme" / "inbox").mkdir(parents=True)
    make_pdf(
        import_root / "globex" / "private" / "salary.pdf", [["Salary of the lighthouse crew."]]
    )
    make_pdf(import_root / "acme" / "inbox" / "letter.pdf", [["Letter about the ferry timetable."]])

    # another tenant's folder by its name is not in acme's folder: not found, like any name
    for path in ("globex", "globex/private"):
        r = acme.post("/v1/batches", json={"path": path})
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "folder_not_found"
    # out of acme's folder: refused whether the target exists or not (nothing is told about it)
    for path in (
        "../globex",
        "../globex/private",
        "../no-such-tenant",
        "inbox/../../globex",
        str(import_root / "globex"),
        str(import_root / "acme" / "inbox"),  # absolute paths are refused, even to acme's own
        "/",
    ):
        r = acme.post("/v1/batches", json={"path": path})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "path_not_allowed"
        assert str(import_root) not in r.text
    for escape in ("\\ud800", "\\udc80"):  # a lone surrogate in the JSON: refused, not a 500
        body = '{"path": "inbox' + escape + '"}'
        r = acme.post("/v1/batches", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text

    started = acme.post("/v1/batches", json={"path": "inbox"})
    assert started.status_code == 202, started.text
    assert started.json()["source"] == "inbox"
    batch = wait_listed(service, acme, started.json()["id"], 1)
    assert batch["source"] == "inbox" and batch["counts"]["done"] == 1
    assert str(import_root) not in str(batch)

    # acme's whole folder ("." and "" are it) holds no other tenant's text
    whole = acme.post("/v1/batches", json={"path": "."})
    assert whole.status_code == 202 and whole.json()["source"] == "."
    wait_listed(service, acme, whole.json()["id"], 1)
    names = {d["filename"] for d in acme.get("/v1/documents").json()["documents"]}
    assert names == {"letter.pdf"}
    # globex's text is never found (the score floor may answer nothing at all: acme's own
    # letter is about something else), acme's own is
    hits = acme.post("/v1/search", json={"query": "salary of the lighthouse crew"}).json()["hits"]
    assert all("Salary" not in h["text"] for h in hits)
    hits = acme.post("/v1/search", json={"query": "the ferry"}).json()["hits"]
    assert any("ferry" in h["text"] for h in hits)


def test_a_tenant_without_an_import_folder_finds_none(service: Service) -> None:
    initech = service.client(service.new_key("initech")[0])
    for path in (".", "inbox"):
        r = initech.post("/v1/batches", json={"path": path})
        assert r.status_code == 404 and r.json()["error"]["code"] == "folder_not_found", r.text
