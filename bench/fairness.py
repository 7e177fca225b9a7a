"""Fair queueing benchmark: another tenant's 1-page upload while a long document is read.

    python bench/fairness.py [--pages 300] [--windows 0,default] [--b-after 8] [--workers CORES]
                             [--redis-url URL] [--timeout 3600] [--keep]

For each value of ``--windows`` (``SCANRAG_SERVICE__PAGE_WINDOW``; 0: every page range sent at
once at one priority, the behaviour before issue 32; ``default``: the setting's default, the CPU
count), on a fresh service:

1. a fresh SCANRAG_HOME (SQLite), a redis-server of the run's own (or ``--redis-url``), one API
   process and one worker of ``--workers`` processes (default: cores), default settings
   otherwise (``page_range`` 4);
2. warm-up: one-page documents of a third tenant, ``--workers`` at a time, until every pool
   process has read a page and finalized a document (models loaded), at most 3 rounds;
3. tenant A uploads one ``--pages`` PDF: A4 scans at 200 dpi (JPEG) of the OCR dev pages of
   ../shared/data/ocr/{funsd,sroie}/dev, labelled, as bench/service.py builds them;
4. once A has ``--b-after`` pages done, tenant B uploads a 1-page document (another dev page);
5. measured: B's seconds from sending its upload to its ``finished_at``; A's pages done when B
   was done; A's seconds from sending its upload to its ``finished_at``, and A's pages/s over
   that time. Both documents must end ``done`` with every page stored once.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import broker, cpu_class, table
from bench.service import build_documents, epoch, warmed_processes
from tests.harness import PYTHON, Service, scanrag_env

WARMUP_ROUNDS = 3
WORKER_GRACE = 30


def upload(http: httpx.Client, pdf: Path) -> tuple[str, float]:
    """Upload one PDF; its document id and the time.time() the request was sent."""
    sent = time.time()
    response = http.post(
        "/v1/documents", files={"files": (pdf.name, pdf.read_bytes(), "application/pdf")}
    )
    response.raise_for_status()
    return str(response.json()["documents"][0]["id"]), sent


def wait(http: httpx.Client, document_id: str, ready: Any, timeout: float) -> dict[str, Any]:
    """Poll the document every 0.5 s until ``ready(document)``; SystemExit when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        document = dict(http.get(f"/v1/documents/{document_id}").json())
        if ready(document):
            return document
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {document_id}: {document}")
        time.sleep(0.5)


def final(document: dict[str, Any]) -> bool:
    return document["status"] in ("done", "failed")


def stored_once(home: Path, document_id: str, pages: int) -> bool:
    """Whether the document has exactly pages 1..pages stored, once each."""
    with closing(sqlite3.connect(f"file:{home / 'scanrag.db'}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT number FROM pages WHERE document_id = ?", (document_id,))
        numbers = sorted(n for (n,) in rows)
    return numbers == list(range(1, pages + 1))


def run_one(
    window: str, docs: dict[str, list[Path]], home: Path, redis_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One service with this window: warm it up, then A's long document and B's short one."""
    extra = {
        "SCANRAG_REDIS_URL": redis_url,
        "SCANRAG_LIMITS__MAX_BYTES": str(1024**3),
    }
    if window != "default":
        extra["SCANRAG_SERVICE__PAGE_WINDOW"] = window
    home.mkdir(parents=True)
    service = Service(home, scanrag_env(home, **extra))
    try:
        keys = {t: service.new_key(t)[0] for t in ("acme", "globex", "warmup")}
        service.start_api(1)
        service.start_worker(args.workers, name="fair@%h")
        service.wait_ready(180, request_timeout=5)

        def client(tenant: str) -> httpx.Client:
            headers = {"Authorization": f"Bearer {keys[tenant]}"}
            return httpx.Client(base_url=service.url, headers=headers, timeout=300)

        with client("warmup") as warm, client("acme") as a, client("globex") as b:
            for n in range(WARMUP_ROUNDS):
                ids = [upload(warm, pdf)[0] for pdf in docs["warmup"][n::WARMUP_ROUNDS]]
                for document_id in ids:
                    wait(warm, document_id, final, args.timeout)
                time.sleep(0.5)  # the worker logs a task's success just after its commit
                if min(warmed_processes(service.logs[-1])) >= args.workers:
                    break
            print(f"# window {window}: warm; tenant A uploads", file=sys.stderr, flush=True)
            a_id, a_sent = upload(a, docs["long"][0])
            wait(a, a_id, lambda d: d["pages_done"] >= args.b_after or final(d), args.timeout)
            b_id, b_sent = upload(b, docs["short"][0])
            b_done = wait(b, b_id, final, args.timeout)
            a_then = a.get(f"/v1/documents/{a_id}").json()
            print(f"# window {window}: B {b_done['status']}", file=sys.stderr, flush=True)
            a_done = wait(a, a_id, final, args.timeout)
        service.stop(worker_grace=WORKER_GRACE)
        a_seconds = epoch(a_done["finished_at"]) - a_sent
        return {
            "window": window,
            "B s to done": epoch(b_done["finished_at"]) - b_sent,
            "A pages done then": a_then["pages_done"],
            "A s": a_seconds,
            "A pages/s": a_done["pages_done"] / a_seconds,
            "status A / B": f"{a_done['status']} / {b_done['status']}",
            "pages once": stored_once(home, a_id, args.pages) and stored_once(home, b_id, 1),
        }
    finally:
        service.stop(worker_grace=WORKER_GRACE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=300, help="pages of tenant A's document")
    ap.add_argument("--windows", default="0,default", help="page_window values, comma-separated")
    ap.add_argument("--b-after", type=int, default=8, help="A's pages done before B uploads")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--redis-url", default=None, help="default: a redis-server of the run's own")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for a document")
    ap.add_argument("--keep", action="store_true", help="keep the documents and homes")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="scanrag-bench-fairness-"))
    try:
        docs = {
            "long": build_documents(work / "long", [args.pages], "acme"),
            "short": build_documents(work / "short", [1], "globex", first_page=args.pages),
            "warmup": build_documents(
                work / "warmup", [1] * (WARMUP_ROUNDS * args.workers), "warmup", first_page=7
            ),
        }
        rows = []
        with broker(args.redis_url, work) as redis_url:
            for n, window in enumerate(args.windows.split(",")):
                rows.append(run_one(window, docs, work / f"home-{n}", redis_url, args))
        print(f"\nCPU: {cpu_class()}; {os.cpu_count()} cores; worker of {args.workers} processes")
        print(f"A: one {args.pages}-page PDF; B: 1 page, sent once A had {args.b_after} done\n")
        columns = ["window", "B s to done", "A pages done then", "A s", "A pages/s"]
        print(table(rows, [*columns, "status A / B", "pages once"]))
        print(f"\ncommand: {shlex.join([PYTHON, *sys.argv])}")
    finally:
        if args.keep:
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
