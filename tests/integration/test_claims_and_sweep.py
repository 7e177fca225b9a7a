"""Idempotency leases, failed documents retried, the blob sweep and faults told as they are, on
real databases (SQLite and PostgreSQL) and a real blob store."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from core.errors import DatabaseBusy, StorageFull
from core.status import DocumentStatus
from storage import jobs
from storage import repository as repo
from storage.blobs import BlobStore
from storage.db import make_sql_engine, migrate, session_factory, write_lock_free
from storage.errors import fault_of
from storage.tables import IdempotentRequest, utcnow
from tests.stored_documents import stored_document
from workers.blob_sweep import ORPHANS_SWEPT, TEMP_SWEPT, sweep_blobs
from workers.runtime import Runtime

HOUR = 3600.0


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = (
        f"sqlite:///{tmp_path / 'scanrag.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    engine = make_sql_engine(url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def claim(
    sessions: sessionmaker[Session], holder: str, lease: float = 30, fingerprint: str = "f"
) -> IdempotentRequest | None:
    with sessions.begin() as s:
        row = jobs.claim_key(
            s, tenant="acme", key="k1", fingerprint=fingerprint, holder=holder, lease_seconds=lease
        )
        if row is not None:
            s.expunge(row)
        return row


def test_a_claim_is_held_while_its_lease_lives_and_taken_over_once_it_ran_out(
    sessions: sessionmaker[Session],
) -> None:
    assert claim(sessions, "a", lease=30) is None
    held = claim(sessions, "b")
    assert held is not None and held.status_code == jobs.PENDING
    assert held.response["holder"] == "a"  # a live holder keeps it: 409 for the retry

    assert claim(sessions, "a2", lease=-1, fingerprint="f") is not None  # still a's
    with sessions.begin() as s:  # a dies: its lease is never renewed and runs out
        assert jobs.renew_key(s, tenant="acme", key="k1", holder="a", lease_seconds=-1)
    assert claim(sessions, "c", fingerprint="other") is not None  # another request: 422
    assert claim(sessions, "b") is None  # the retry takes it over
    again = claim(sessions, "c")  # and only one retry does
    assert again is not None and again.response["holder"] == "b"

    with sessions.begin() as s:  # the dead holder can neither renew, answer nor release it
        assert not jobs.renew_key(s, tenant="acme", key="k1", holder="a", lease_seconds=30)
        assert not jobs.save_response(
            s, tenant="acme", key="k1", holder="a", status_code=202, response={"x": 1}
        )
        jobs.release_key(s, tenant="acme", key="k1", holder="a")
        assert jobs.save_response(
            s, tenant="acme", key="k1", holder="b", status_code=202, response={"x": 2}
        )
    done = claim(sessions, "d", lease=-1)
    assert done is not None and (done.status_code, done.response) == (202, {"x": 2})


def test_a_pending_claim_kept_before_leases_is_taken_over(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:  # what a killed API left before claims had leases
        s.add(
            IdempotentRequest(
                tenant="acme",
                key="k1",
                status_code=0,
                response={},
                fingerprint="f",
                created_at=utcnow(),
            )
        )
    assert claim(sessions, "b") is None
    with sessions.begin() as s:
        jobs.release_key(s, tenant="acme", key="k1", holder="b")
    assert claim(sessions, "c") is None  # released: claimed anew


FILE = {
    "tenant": "acme",
    "sha256": "a" * 64,
    "filename": "scan.png",
    "media_type": "image/png",
    "size_bytes": 10,
    "blob_key": "a" * 64,
}


def store(sessions: sessionmaker[Session], queue: str | None = None) -> repo.StoredDocument:
    with sessions.begin() as s:
        stored = repo.store_document(s, **FILE, queue=queue)  # type: ignore[arg-type]
        s.expunge(stored.document)
        return stored


def test_a_failed_document_sent_again_is_queued_again_with_the_same_id(
    sessions: sessionmaker[Session],
) -> None:
    first = store(sessions)
    assert (first.created, first.retried) == (True, False)
    again = store(sessions)
    assert (again.created, again.retried, again.queued) == (False, False, False)
    with sessions.begin() as s:
        assert repo.mark_started(s, document_id=first.document.id, page_count=2)
        assert repo.finish(
            s,
            document_id=first.document.id,
            status=DocumentStatus.FAILED,
            error_code="storage_full",
            error_message="disk full",
        )
    retry = store(sessions, queue="interactive")
    assert (retry.created, retry.retried, retry.queued) == (False, True, True)
    document = retry.document
    assert document.id == first.document.id
    assert (document.status, document.error_code, document.error_message) == ("queued", None, None)
    assert (document.started_at, document.finished_at, document.queue) == (
        None,
        None,
        "interactive",
    )
    assert store(sessions).queued is False  # queued now: not retried twice
    with sessions.begin() as s:  # the batches' and the CLI's call says "queued" too
        _, queued = repo.get_or_create_document(s, **FILE)
        assert queued is False


def test_shared_counts_add_up(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        assert jobs.get_count(s, name="n") == 0
        jobs.add_to_count(s, name="n", amount=3)
    with sessions.begin() as s:
        jobs.add_to_count(s, name="n", amount=4)
        assert jobs.get_count(s, name="n") == 7


def put_old(blobs: BlobStore, data: bytes, age: float = 2 * HOUR) -> str:
    key = blobs.put_bytes(data)
    old = time.time() - age
    os.utime(blobs.path(key), (old, old))
    return key


def test_the_sweep_removes_stale_temp_files_and_orphan_blobs_only(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(home=tmp_path))
    blobs = runtime.blobs
    referenced, image, orphan = (
        put_old(blobs, b"original"),
        put_old(blobs, b"page", 3 * HOUR),
        put_old(blobs, b"orphan"),
    )
    young_orphan = blobs.put_bytes(b"just adopted, its row not committed yet")
    with runtime.sessions.begin() as s:
        stored_document(
            s,
            tenant="acme",
            sha256=referenced,
            filename="a.png",
            media_type="image/png",
            size_bytes=8,
            pages=[repo.PageRow(1, 10, 10, "", {}, image_key=image)],
        )
    stale_tmp, fresh_tmp = blobs.temp_file(), blobs.temp_file()
    old = time.time() - 2 * HOUR
    os.utime(stale_tmp, (old, old))
    # an orphan adopted again (same content uploaded) is young again: kept
    readopted = put_old(blobs, b"uploaded again")
    path, out = blobs.open_temp()
    out.write(b"uploaded again")
    out.close()
    assert blobs.adopt(path, hashlib.sha256(b"uploaded again").hexdigest()) == readopted

    swept = sweep_blobs(runtime)

    assert (swept.temp, swept.orphans) == (1, 1)
    assert not stale_tmp.exists() and fresh_tmp.exists()
    assert not blobs.exists(orphan)
    assert all(blobs.exists(k) for k in (referenced, image, young_orphan, readopted))
    with runtime.sessions() as s:
        assert jobs.get_count(s, name=TEMP_SWEPT) == 1
        assert jobs.get_count(s, name=ORPHANS_SWEPT) == 1
    assert sweep_blobs(runtime, now=time.time() + 2 * HOUR).orphans == 2  # young_orphan, readopted
    runtime.close()


def test_a_blob_touched_while_it_is_swept_is_put_back(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    key = put_old(blobs, b"x")
    cutoff = time.time() - HOUR
    assert blobs.delete_if_stale(key, cutoff)
    key = put_old(blobs, b"y")
    os.utime(blobs.path(key))  # adopted just before the sweep moved it
    assert not blobs.delete_if_stale(key, cutoff) and blobs.exists(key)
    assert list(blobs.stale_keys(cutoff)) == []


@pytest.fixture()
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_sql_engine(f"sqlite:///{tmp_path / 'scanrag.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_locked_database_and_a_full_disk_are_told_as_such(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "scanrag.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        assert not write_lock_free(sqlite_engine, wait_seconds=0.2)
        with sqlite_engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout = 100")
            with pytest.raises(Exception) as raised:
                connection.execute(text("INSERT INTO service_state VALUES ('a', 'b', '2020')"))
        assert isinstance(fault_of(raised.value), DatabaseBusy)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert write_lock_free(sqlite_engine, wait_seconds=0.2)
    assert isinstance(fault_of(OSError(errno.ENOSPC, "No space left on device")), StorageFull)
    full = sqlite3.OperationalError("database or disk is full")
    assert isinstance(fault_of(OperationalError("INSERT", {}, full)), StorageFull)
    assert fault_of(OSError(errno.EIO, "I/O error")) is None
    assert fault_of(ValueError("x")) is None
