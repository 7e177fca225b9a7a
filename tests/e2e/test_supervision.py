"""`scanrag up` supervises its children: the worker killed with kill -9 mid-document is started
again, the pages it held are taken up again long before the broker's one-hour visibility
timeout, and the document finishes once, without duplicates."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PYTHON, Service, free_port, service_env
from tests.e2e.test_service import make_pdf
from tests.harness import RedisServer, terminate

pytestmark = pytest.mark.slow

PAGES = [
    [f"Ledger page {n} of the canal company.", f"Tolls collected at lock {n} in spring."]
    for n in range(1, 7)
]


@pytest.fixture()
def up(
    tmp_path: Path, private_redis: RedisServer
) -> Iterator[tuple[Service, subprocess.Popen[bytes], Path]]:
    redis_url = f"{private_redis.url}/0"
    home = tmp_path / "home"
    home.mkdir()
    # the production visibility timeout: only the orphan rescue can bring the tasks back soon
    env = service_env(
        home,
        redis_url,
        None,
        SCANRAG_SERVICE__VISIBILITY_TIMEOUT="3600",
        SCANRAG_SERVICE__SOFT_TIME_LIMIT="540",
        SCANRAG_SERVICE__TIME_LIMIT="600",
    )
    service = Service(home, env, port=free_port())
    proc = service.spawn(
        [PYTHON, "-m", "cli.main", "up", "--port", str(service.port), "-c", "1"], "up"
    )
    service.api = proc  # waiting fails at once if `scanrag up` exits
    try:
        service.wait_ready(120, request_timeout=5)
        yield service, proc, service.logs[-1]
    finally:
        terminate(proc, signal.SIGTERM, grace=60)


def worker_pids(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"worker started(?: again)? \(pid (\d+)\)", log.read_text())]


def test_a_worker_killed_under_up_is_restarted_and_the_document_finishes(
    up: tuple[Service, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    service, proc, log = up
    client = service.client(service.new_key("canal")[0])
    pdf = make_pdf(tmp_path / "ledger.pdf", PAGES)
    with pdf.open("rb") as f:
        created = client.post(
            "/v1/documents", files={"files": ("ledger.pdf", f, "application/pdf")}
        )
    doc_id = created.json()["documents"][0]["id"]
    deadline = time.monotonic() + 120
    while client.get(f"/v1/documents/{doc_id}").json()["pages_done"] < 1:
        assert time.monotonic() < deadline, service.tail()
        time.sleep(0.3)
    (first,) = worker_pids(log)
    os.kill(first, signal.SIGKILL)  # the worker's main process, as `kill -9 <pid>` would
    deadline = time.monotonic() + 60
    while len(worker_pids(log)) < 2:
        assert time.monotonic() < deadline, service.tail()
        time.sleep(0.2)
    restarted = time.monotonic()
    document = service.wait_final(client, doc_id, timeout=120)
    took = time.monotonic() - restarted
    assert document["status"] == "done", (document, service.tail())
    assert took < 60, (took, service.tail())
    assert proc.poll() is None
    assert httpx.get(service.url + "/healthz", timeout=10).json()["status"] == "ok"
    with closing(sqlite3.connect(service.home / "scanrag.db")) as db:
        pages = db.execute(
            "SELECT number FROM pages WHERE document_id = ? ORDER BY number", (doc_id,)
        ).fetchall()
        chunks = db.execute(
            "SELECT count(*), count(DISTINCT ordinal) FROM chunks WHERE document_id = ?", (doc_id,)
        ).fetchone()
    assert [p[0] for p in pages] == list(range(1, len(PAGES) + 1))
    assert chunks[0] == chunks[1] > 0
    text = client.get(f"/v1/documents/{doc_id}/text").text
    for n in range(1, len(PAGES) + 1):
        assert text.count(f"Ledger page {n} of") == 1, text
