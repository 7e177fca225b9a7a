"""Crashes and outages: a worker SIGKILLed in the middle of a document, Redis restarted during a
batch, and the same flow on PostgreSQL + pgvector."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Service
from tests.e2e.test_service import idempotency_race, make_pdf
from tests.harness import RedisServer

pytestmark = pytest.mark.slow


def _copies(rows: list[tuple[Any, ...]]) -> int:
    return len(rows) - len(set(rows))


def test_worker_killed_mid_document_is_finished_by_another(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service()
    client = service.client(service.new_key("crash")[0])
    pages = [
        [f"Page {n} of the dredging log.", f"Depth at buoy {n} was {n + 3} metres."]
        for n in range(1, 7)
    ]
    pdf = make_pdf(tmp_path / "log.pdf", pages)
    doc_id = client.post(
        "/v1/documents", files={"files": ("log.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]["id"]
    middle = service.wait_for(
        client, doc_id, lambda d: d["status"] == "processing" and d["pages_done"] >= 2
    )
    assert middle["pages_done"] < 6
    service.kill_workers(signal.SIGKILL)  # the worker and its pool process, mid-task
    time.sleep(1)
    assert client.get(f"/v1/documents/{doc_id}").json()["status"] == "processing"
    service.start_worker()
    done = service.wait_final(client, doc_id, timeout=240)
    assert (done["status"], done["pages_done"], done["page_count"]) == ("done", 6, 6)

    with closing(sqlite3.connect(service.home / "scanrag.db")) as db:
        page_rows = db.execute(
            "SELECT number FROM pages WHERE document_id = ?", (doc_id,)
        ).fetchall()
        chunk_rows = db.execute(
            "SELECT page_number, text FROM chunks WHERE document_id = ?", (doc_id,)
        ).fetchall()
        documents = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    assert sorted(n for (n,) in page_rows) == [1, 2, 3, 4, 5, 6]
    assert chunk_rows and _copies(chunk_rows) == 0
    assert {page for page, _ in chunk_rows} == {1, 2, 3, 4, 5, 6}
    assert documents == 1
    text = client.get(f"/v1/documents/{doc_id}/text").text
    assert text.count("dredging log") == 6


def test_redis_restarted_during_a_batch(
    make_service: Callable[..., Service],
    private_redis: RedisServer,
    tmp_path: Path,
) -> None:
    root = tmp_path / "imports"
    (root / "outage" / "crate").mkdir(parents=True)  # tenant outage's import folder
    for n in range(4):
        lines = [
            [f"Letter {n} page {p} about the toll bridge.", f"Reference {1000 + n}-{p}."]
            for p in range(1, 4)
        ]
        make_pdf(root / "outage" / "crate" / f"letter-{n}.pdf", lines)
    service = make_service(
        own_redis=f"{private_redis.url}/0", SCANRAG_SERVICE__IMPORT_ROOT=str(root)
    )
    client = service.client(service.new_key("outage")[0])
    batch_id = client.post("/v1/batches", json={"path": "crate"}).json()["id"]

    def batch() -> dict[str, Any]:
        return dict(client.get(f"/v1/batches/{batch_id}").json())

    def pages_read() -> int:
        documents = client.get("/v1/documents").json()["documents"]
        return sum(d["pages_done"] for d in documents)

    # restart while most of the batch's tasks (12 page reads, 4 finalisations) wait in Redis
    deadline = time.monotonic() + 120
    while pages_read() < 2:
        assert time.monotonic() < deadline, service.tail()
        time.sleep(0.1)
    private_redis.restart()
    assert pages_read() < 12
    deadline = time.monotonic() + 240
    while True:
        state = batch()
        if state["counts"]["done"] == 4:
            break
        assert time.monotonic() < deadline, (state, service.tail())
        time.sleep(0.5)
    assert state["files_total"] == 4 and state["counts"]["failed"] == 0
    assert re.search(
        r"broker restarted: unfinished work sent again.* documents=[1-4]\b", service.tail(400)
    )
    with closing(sqlite3.connect(service.home / "scanrag.db")) as db:
        pages = db.execute("SELECT document_id, number FROM pages").fetchall()
        chunks = db.execute("SELECT document_id, ordinal FROM chunks").fetchall()
    assert len(pages) == 12 and _copies(pages) == 0 and _copies(chunks) == 0


def test_postgresql_upload_to_search(
    make_service: Callable[..., Service], pg_database: str, tmp_path: Path
) -> None:
    service = make_service(database_url=pg_database)
    client = service.client(service.new_key("pg")[0])
    pdf = make_pdf(
        tmp_path / "pg.pdf",
        [["Cover page of the tide tables."], ["High water at the harbour mouth is at 06:40."]],
    )
    doc_id = client.post(
        "/v1/documents", files={"files": ("pg.pdf", pdf.read_bytes(), "application/pdf")}
    ).json()["documents"][0]["id"]
    assert service.wait_final(client, doc_id)["status"] == "done"
    hits = client.post("/v1/search", json={"query": "high water harbour mouth"}).json()["hits"]
    assert hits[0]["document"]["id"] == doc_id and hits[0]["page"] == 2
    with psycopg.connect(pg_database) as db:
        rows = db.execute(
            "SELECT count(*), count(embedding) FROM chunks WHERE document_id = %s", (doc_id,)
        ).fetchone()
    assert rows is not None and rows[0] >= 2 and rows[0] == rows[1]
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    assert client.post("/v1/search", json={"query": "high water"}).json()["hits"] == []
    # where PostgreSQL differs from SQLite: the Idempotency-Key claim, JSONB metadata, filters
    idempotency_race(service, "pg-racing")
    nan = client.post(
        "/v1/documents",
        files={"files": ("pg.pdf", pdf.read_bytes(), "application/pdf")},
        data={"metadata": '{"x": NaN}'},
    )
    assert nan.status_code == 422 and nan.json()["error"]["code"] == "invalid_metadata"
    odd = {"query": "tide", "filters": {"metadata": {"it's \u00e9": "v"}}}
    assert client.post("/v1/search", json=odd).status_code == 200
    bad = {"query": "tide", "filters": {"metadata": {'a"b': "v"}}}
    assert client.post("/v1/search", json=bad).status_code == 422
