"""Faults of the service's own machine, told as they are and recovered from: an Idempotency-Key
held by an API killed with kill -9, temp files and orphan blobs left behind, a database locked
by another process, and a document that failed, sent again."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from storage.blobs import BlobStore
from tests.e2e.conftest import Service
from tests.harness import RedisServer, terminate
from tests.pagegen import text_page

LEASE = 3.0  # seconds: the service's idempotency lease, short so the tests wait little
METRICS_KEY = "operator-metrics-key-0123"
OLD = time.time() - 7200  # older than the sweep's grace period (an hour)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this module's own, which a test may pause (SIGSTOP)."""
    server = RedisServer(tmp_path_factory.mktemp("broker")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bare(make_service: Callable[..., Service], broker: RedisServer) -> Service:
    """A service with no worker yet (the test that needs one starts it), short leases."""
    return make_service(
        own_redis=f"{broker.url}/0",
        workers=0,
        SCANRAG_SERVICE__IDEMPOTENCY_LEASE=str(LEASE),
        SCANRAG_SERVICE__METRICS_KEY=METRICS_KEY,
    )


def png(text: str) -> bytes:
    buffer = io.BytesIO()
    text_page([text]).save(buffer, "PNG")
    return buffer.getvalue()


def restart_api(service: Service, sig: int) -> None:
    assert service.api is not None
    terminate(service.api, sig)
    service.start_api()
    service.wait_healthy()


def claim_status(service: Service, key: str) -> int | None:
    with closing(sqlite3.connect(f"file:{service.home / 'scanrag.db'}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT status_code FROM idempotent_requests WHERE key = ?", (key,))
        found = row.fetchone()
    return None if found is None else int(found[0])


def test_a_key_held_by_an_api_killed_with_kill_9_is_answered_anew(
    bare: Service, broker: RedisServer
) -> None:
    api_key, _ = bare.new_key("killed")
    upload = {"files": ("held.png", png("Killed while it held the key."), "image/png")}
    headers = {"Idempotency-Key": "held-by-the-dead"}
    assert broker.proc is not None
    os.kill(broker.proc.pid, signal.SIGSTOP)  # the task cannot be sent: the request holds on
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(
                lambda: bare.client(api_key).post("/v1/documents", files=upload, headers=headers)
            )
            deadline = time.monotonic() + 20
            while claim_status(bare, "held-by-the-dead") != 0:
                assert time.monotonic() < deadline, "the upload never claimed its key"
                time.sleep(0.05)
            time.sleep(LEASE * 1.5)  # past one lease: a live holder renews its claim
            retry = bare.client(api_key).post("/v1/documents", files=upload, headers=headers)
            assert retry.status_code == 409, retry.text
            assert retry.json()["error"]["code"] == "idempotency_key_in_progress"
            assert bare.api is not None
            terminate(bare.api, signal.SIGKILL)  # kill -9, mid-request
            with pytest.raises(httpx.HTTPError):
                first.result()
    finally:
        os.kill(broker.proc.pid, signal.SIGCONT)
    bare.start_api()
    bare.wait_healthy()
    assert claim_status(bare, "held-by-the-dead") == 0  # the dead request's claim is still there

    deadline = time.monotonic() + LEASE + 15
    while True:  # at most one lease after the kill, a retry is answered (was 409 for good)
        retry = bare.client(api_key).post("/v1/documents", files=upload, headers=headers)
        if retry.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert retry.status_code in (200, 202), retry.text
    (document,) = retry.json()["documents"]
    replay = bare.client(api_key).post("/v1/documents", files=upload, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["documents"][0]["id"] == document["id"]


def swept(metrics: str, kind: str) -> float:
    found = re.search(rf'^scanrag_blobs_swept_total\{{kind="{kind}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_api_sweeps_stale_temp_files_and_orphan_blobs_as_it_starts(bare: Service) -> None:
    client = bare.client(bare.new_key("sweeper")[0])
    body = png("A stored original is never swept.")
    assert client.post("/v1/documents", files={"files": ("kept.png", body, "image/png")}).is_success
    blobs = BlobStore(bare.home / "blobs")
    referenced = hashlib.sha256(body).hexdigest()
    orphan = blobs.put_bytes(b"the original of an upload that ended in 500")
    stale, fresh = blobs.temp_file(), blobs.temp_file()
    for path in (blobs.path(referenced), blobs.path(orphan), stale):
        os.utime(path, (OLD, OLD))
    operator = bare.client(METRICS_KEY)
    before = operator.get("/metrics").text

    restart_api(bare, signal.SIGTERM)

    deadline = time.monotonic() + 30
    while blobs.exists(orphan) or stale.exists():
        assert time.monotonic() < deadline, "the sweep at start did not remove them"
        time.sleep(0.2)
    assert blobs.exists(referenced) and fresh.exists()  # referenced, or young: in flight
    after = operator.get("/metrics").text
    assert swept(after, "orphan") >= swept(before, "orphan") + 1
    assert swept(after, "temp") >= swept(before, "temp") + 1


def test_a_locked_database_is_503_with_retry_after_and_not_ready(bare: Service) -> None:
    client = bare.client(bare.new_key("locked")[0])
    upload = {"files": ("locked.png", png("Sent while the database was locked."), "image/png")}
    holder = sqlite3.connect(bare.home / "scanrag.db", isolation_level=None, timeout=30)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds SQLite's write lock
    try:
        answer = client.post("/v1/documents", files=upload)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_busy"
        assert int(answer.headers["Retry-After"]) > 0
        ready = httpx.get(bare.url + "/readyz", timeout=30)
        assert ready.status_code == 503
        assert "database: error: the database is busy" in ready.json()["error"]["message"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.post("/v1/documents", files=upload).status_code == 202
    deadline = time.monotonic() + 15
    while "database" in httpx.get(bare.url + "/readyz", timeout=30).text:  # no worker: still 503
        assert time.monotonic() < deadline, "the database stayed not ready after the lock went"
        time.sleep(0.5)


def test_a_failed_document_uploaded_again_is_retried_with_the_same_id(
    bare: Service, tmp_path: Path
) -> None:
    client = bare.client(bare.new_key("retried")[0])
    body = png("Lost once, read on the second try.")
    upload = {"files": ("retry.png", body, "image/png")}
    first = client.post("/v1/documents", files=upload)
    assert first.status_code == 202
    document_id = first.json()["documents"][0]["id"]
    BlobStore(bare.home / "blobs").delete(hashlib.sha256(body).hexdigest())  # a disk fault
    if not bare.workers:
        bare.start_worker()
        bare.wait_ready()
    failed = bare.wait_final(client, document_id)
    assert failed["status"] == "failed" and failed["error"] is not None, failed

    again = client.post("/v1/documents", files=upload)

    assert again.status_code == 202, again.text  # something was queued
    (document,) = again.json()["documents"]
    assert (document["id"], document["created"], document["status"]) == (
        document_id,
        False,
        "queued",
    )
    assert document["error"] is None
    done = bare.wait_final(client, document_id)
    assert (done["status"], done["error"]) == ("done", None), done
    assert "second try" in client.get(f"/v1/documents/{document_id}/text").text
