"""Fair queueing across tenants (issue 32): one tenant's long document does not hold up another
tenant's short one, and is itself read completely, once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Service
from tests.e2e.test_service import make_pdf

pytestmark = pytest.mark.slow

LONG = 30  # pages of tenant A's document, one page per task (the e2e page_range)


def test_a_short_document_of_another_tenant_passes_a_long_one(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    # one worker process; a window of 2 range tasks per document (not the CPU count: the same
    # test on any machine)
    service = make_service(SCANRAG_SERVICE__PAGE_WINDOW="2")
    a = service.client(service.new_key("acme")[0])
    b = service.client(service.new_key("globex")[0])
    long_pdf = make_pdf(
        tmp_path / "ledger.pdf",
        [
            [f"Ledger page {n} of the toll bridge.", f"Crossings on day {n}: {n * 7}."]
            for n in range(1, LONG + 1)
        ],
    )
    short_pdf = make_pdf(tmp_path / "note.pdf", [["A note about the ferry timetable."]])

    def upload(client: httpx.Client, pdf: Path) -> str:
        response = client.post(
            "/v1/documents", files={"files": (pdf.name, pdf.read_bytes(), "application/pdf")}
        )
        assert response.status_code == 202, response.text
        return str(response.json()["documents"][0]["id"])

    long_id = upload(a, long_pdf)
    service.wait_for(a, long_id, lambda d: d["status"] == "processing" and d["pages_done"] >= 1)
    sent = time.monotonic()
    short_id = upload(b, short_pdf)
    short = service.wait_final(b, short_id, timeout=240)
    waited = time.monotonic() - sent
    long_then = a.get(f"/v1/documents/{long_id}").json()

    assert short["status"] == "done", short
    # before: B's tasks queued behind all 30 of A's and B was done after A's last page
    assert long_then["status"] == "processing", long_then
    assert long_then["pages_done"] <= LONG // 2, (long_then["pages_done"], waited)
    assert waited < 60, waited  # a few pages' time (loaded 2-core machine: generous)

    done = service.wait_final(a, long_id, timeout=600)
    assert (done["status"], done["pages_done"]) == ("done", LONG)
    with closing(sqlite3.connect(service.home / "scanrag.db")) as db:
        numbers = [
            n for (n,) in db.execute("SELECT number FROM pages WHERE document_id = ?", (long_id,))
        ]
    assert sorted(numbers) == list(range(1, LONG + 1))
    assert "ferry timetable" in b.get(f"/v1/documents/{short_id}/text").text
