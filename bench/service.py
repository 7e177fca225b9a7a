"""Service benchmark: scanned PDFs uploaded by concurrent clients, against ``scanrag ingest``.

    python bench/service.py [--docs 200] [--clients 20] [--workers CORES] [--order ingest|service]
                            [--redis-url URL] [--timeout 3600] [--keep]
    python bench/service.py --rate 20 --duration 60     (open loop: accept latency only)

Open loop (``--rate``): uploads leave at fixed times (i / rate), each on a new connection,
whether or not the earlier ones were answered, while the worker reads them: the latency a user
feels at that arrival rate. The closed loop below (N clients back to back) measures N /
throughput instead, whatever the service does.

What it measures, in one run on the same files:
  upload accept latency  p50 / p99 of POST /v1/documents, from sending the request to its 202
                         (targets: p50 < 50 ms, p99 < 200 ms);
  API own p50 / p99      the app's own time per upload (its Server-Timing header: request
                         received to response started), to tell it from queueing and clients;
  service pages/s        pages done / seconds from the first upload sent to the last document
                         done or failed (its finished_at, seen by polling the list every 0.5 s);
  ingest pages/s         ``scanrag ingest DIR`` (one process, one reading thread per core) on the
                         same PDFs into a fresh SCANRAG_HOME: pages / seconds spent on them;
  overhead               1 - service pages/s / ingest pages/s (target: under 10%);
  lost / duplicated      documents never done or failed / extra document, page or chunk rows,
                         from the API list and the service's database (must both be 0).

How:
1. ``--docs`` image-only PDFs (A4 at 200 dpi, JPEG pages) from the OCR dev pages of
   ../shared/data/ocr/{funsd,sroie}/dev, cycled in order; every 10th document has 2-4 pages, the
   rest one. Each page carries a small printed label (document and page number), so every PDF
   is distinct content (the service deduplicates by SHA-256 per tenant). Deterministic.
2. The service: a fresh SCANRAG_HOME (SQLite) and Redis database (flushed first), ``scanrag
   serve`` with ``--api-workers`` API processes (default: cores) and one Celery worker with
   ``-c --workers`` processes (default: cores; each runs its models on one thread), default
   settings otherwise.
   Timing starts only after /readyz answers 200 and warm-up documents (another tenant's, not
   counted; ``--workers`` at a time, up to 3 rounds) are done, until the worker's log shows
   every pool process has read a page and finalized (embedded) a document (models loaded).
3. ``--clients`` concurrent clients (tasks of one asyncio loop in the benchmark process, each
   with its own httpx.AsyncClient and connection) upload their share of the documents back to
   back (document i goes to client i mod clients), all starting together; request bodies are
   encoded before timing.
4. The ingest baseline runs ``scanrag ingest WARMUP.pdf DIR``: the warm-up document first loads
   the models; ingest pages/s counts only the other files: the run's wall time less that of
   ``scanrag ingest WARMUP.pdf`` alone into another fresh home (start-up, model loading, the
   warm-up document). Files are read several at a time, so per-file seconds overlap.
   The process's whole wall time (start-up and warm-up included) is printed as well.
5. ``--order`` says which side runs first (default: ingest); they never run at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, broker, percentile, table, write_jsonl
from tests.harness import PYTHON, Service, ServiceError, scanrag_env

TENANT = "bench"
WARMUP_TENANT = "bench-warmup"
WARMUP_ROUNDS = 3  # at most, of --workers one-page documents each, until every process ran both
PDF_DATE = time.gmtime(1_704_067_200)  # fixed, so the same document is always the same bytes
PAGE_SIZE = (1654, 2339)  # A4 at 200 dpi
WORKER_GRACE = 30  # seconds the worker gets to shut down warm before it is killed
LOG_TROUBLE = re.compile(r"level=(warning|error|critical)|Traceback|(WARNING|ERROR|CRITICAL)/")


# ------------------------------------------------------------------------------------ documents


def source_images() -> list[Path]:
    """The OCR dev page images, FUNSD then SROIE, in file-name order."""
    base = SHARED / "data" / "ocr"
    images = sorted((base / "funsd" / "dev" / "images").glob("*.png"))
    images += sorted((base / "sroie" / "dev" / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no dev page images under {base}")
    return images


def page_counts(n: int) -> list[int]:
    """Pages of each of ``n`` documents: every 10th has 2, 3 or 4 pages, the others one."""
    return [2 + (i // 10) % 3 if i % 10 == 9 else 1 for i in range(n)]


def scan_page(source: Path, label: str, font: Any) -> Image.Image:
    """The scan pasted on an A4 page (like a flatbed gives it), with ``label`` printed below."""
    img = Image.open(source).convert("L")
    page = Image.new("L", PAGE_SIZE, 255)
    scale = min(1500 / img.width, 2150 / img.height)
    page.paste(img.resize((int(img.width * scale), int(img.height * scale))), (70, 70))
    ImageDraw.Draw(page).text((80, PAGE_SIZE[1] - 90), label, fill=0, font=font)
    return page


def build_documents(out: Path, counts: list[int], prefix: str, first_page: int = 0) -> list[Path]:
    """One PDF per entry of ``counts`` under ``out``, pages taken from the dev images in turn."""
    out.mkdir(parents=True, exist_ok=True)
    sources = source_images()
    font = ImageFont.load_default(size=32)
    paths = []
    k = first_page
    for i, pages in enumerate(counts):
        images = []
        for p in range(pages):
            label = f"{prefix} document {i:04d} page {p + 1} of {pages}"
            images.append(scan_page(sources[k % len(sources)], label, font))
            k += 1
        buf = io.BytesIO()
        images[0].save(
            buf,
            "PDF",
            save_all=True,
            append_images=images[1:],
            resolution=200.0,
            quality=75,
            creationDate=PDF_DATE,
            modDate=PDF_DATE,
        )
        path = out / f"{prefix}-{i:04d}.pdf"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ processes


def log_trouble(logs: list[Path], limit: int = 8) -> tuple[int, list[str]]:
    """How many warning/error lines the logs hold, and the first ``limit`` of them."""
    found = []
    for log in logs:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if LOG_TROUBLE.search(line):
                    found.append(f"{log.name}: {line[:300]}")
    return len(found), found[:limit]


def warmed_processes(worker_log: Path) -> tuple[int, int]:
    """How many pool processes of the worker have read a page, and embedded a document."""
    text = worker_log.read_text(errors="replace")

    def ran(task: str) -> int:
        done = rf"ForkPoolWorker-(\d+)\] Task scanrag\.{task}\[[^\]]*\] succeeded"
        return len(set(re.findall(done, text)))

    return ran("read_pages"), ran("finalize")


# ------------------------------------------------------------------------------------ uploads


@dataclass
class Uploads:
    """What the clients saw: one latency and response per document sent."""

    first_sent: float  # time.time() of the first request sent
    latencies_ms: list[float]  # of the 202 answers
    all_latencies_ms: list[float | None]  # per document; None when not answered 202
    ids: list[str | None]  # per document; None when the upload was not accepted
    created: list[bool]
    errors: list[str]
    server_ms: list[float] = field(default_factory=list)  # the API's own time (Server-Timing)


def encode_upload(name: str, data: bytes) -> tuple[str, bytes]:
    """The content type and body of a multipart upload of one PDF, as httpx sends it."""
    request = httpx.Request(
        "POST", "http://upload/v1/documents", files=[("files", (name, data, "application/pdf"))]
    )
    return request.headers["content-type"], request.read()


def upload_all(url: str, key: str, pdfs: list[Path], clients: int, client: str = "raw") -> Uploads:
    """Upload ``pdfs`` from ``clients`` concurrent clients (document i by client i mod clients),
    each sending its documents back to back over its own keep-alive connection, all starting
    together.

    The clients are tasks of one asyncio event loop in this process. ``client="httpx"`` (the
    default) uses httpx.AsyncClient; ``client="raw"`` writes each request's bytes, built before
    timing, to the socket and reads the response with a minimal HTTP/1.1 reader, as a load
    generator (wrk, hey) does, to see how much of the latency is the clients' own CPU on the
    cores they share with the service. Either way a latency runs from sending the request to
    having read its whole response.
    """
    # read and encoded before timing: no disk and no multipart encoding in the latency
    bodies = [encode_upload(p.name, p.read_bytes()) for p in pdfs]
    send = _raw_sender if client == "raw" else _httpx_sender
    return asyncio.run(_upload_all(url, key, pdfs, bodies, clients, send))


Answer = tuple[int, dict[str, str], bytes]  # status, headers (lower-case names), body
Post = Callable[[str, bytes], Awaitable[Answer]]  # (content type, body) -> answer
Sender = Callable[[str, str], AbstractAsyncContextManager[Post]]


@asynccontextmanager
async def _raw_sender(url: str, key: str) -> AsyncIterator[Post]:
    """One keep-alive connection; ``post(content_type, body)`` -> (status, headers, body)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"POST /v1/documents HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"

    async def post(content_type: str, body: bytes) -> Answer:
        request = (
            f"{head}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        writer.write(request)
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        answer = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, answer

    try:
        yield post
    finally:
        writer.close()
        await writer.wait_closed()


@asynccontextmanager
async def _httpx_sender(url: str, key: str) -> AsyncIterator[Post]:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:

        async def post(content_type: str, body: bytes) -> Answer:
            r = await http.post(
                "/v1/documents", content=body, headers={"content-type": content_type}
            )
            return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

        yield post


async def _upload_all(
    url: str,
    key: str,
    pdfs: list[Path],
    bodies: list[tuple[str, bytes]],
    clients: int,
    sender: Sender,
) -> Uploads:
    latencies: list[float] = [float("nan")] * len(pdfs)
    ids: list[str | None] = [None] * len(pdfs)
    created = [False] * len(pdfs)
    server_ms: list[float] = []
    errors: list[str] = []
    starts: list[float] = []
    barrier = asyncio.Barrier(clients)

    async def client(k: int) -> None:
        mine = range(k, len(pdfs), clients)
        async with sender(url, key) as post:
            await barrier.wait()  # all start together
            for i in mine:
                content_type, body = bodies[i]
                starts.append(time.time())
                t = time.perf_counter()
                try:
                    status, headers, answer = await asyncio.wait_for(
                        post(content_type, body), timeout=120
                    )
                    ms = (time.perf_counter() - t) * 1000
                    doc = json.loads(answer)["documents"][0] if status in (200, 202) else None
                except Exception as exc:  # any failure is this document's, not the run's
                    errors.append(f"{pdfs[i].name}: {type(exc).__name__}: {exc}")
                    continue
                if status != 202:
                    errors.append(f"{pdfs[i].name}: HTTP {status} {answer[:200]!r}")
                if doc is not None:
                    ids[i], created[i] = doc["id"], bool(doc["created"])
                if status == 202:
                    latencies[i] = ms
                    timing = re.search(r"app;dur=([0-9.]+)", headers.get("server-timing", ""))
                    if timing:
                        server_ms.append(float(timing.group(1)))

    await asyncio.gather(*(client(k) for k in range(clients)))
    answered = [None if math.isnan(x) else x for x in latencies]
    return Uploads(
        min(starts),
        [x for x in answered if x is not None],
        answered,
        ids,
        created,
        errors,
        server_ms,
    )


@dataclass
class OpenLoop:
    """Uploads sent at a fixed arrival rate: the latency a user feels, independent of how many
    clients happen to be waiting (a closed loop of N clients measures N / throughput)."""

    rate: float  # uploads per second asked for
    sent: int
    seconds: float  # from the first send to the last send
    latencies_ms: list[float]  # of the 202 answers
    server_ms: list[float]
    errors: list[str]
    late_ms: list[float]  # how far behind its arrival time each send actually left


def open_loop(url: str, key: str, pdfs: list[Path], rate: float) -> OpenLoop:
    """Send upload i at t0 + i / ``rate`` on a connection of its own (an independent client),
    whether or not earlier ones were answered; bodies are encoded before timing."""
    bodies = [encode_upload(p.name, p.read_bytes()) for p in pdfs]
    return asyncio.run(_open_loop(url, key, pdfs, bodies, rate))


async def _open_loop(
    url: str, key: str, pdfs: list[Path], bodies: list[tuple[str, bytes]], rate: float
) -> OpenLoop:
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    late: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.5

    async def one(i: int) -> None:
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append((loop.time() - due) * 1000)
        content_type, body = bodies[i]
        t = time.perf_counter()
        try:
            async with _raw_sender(url, key) as post:
                status, headers, answer = await asyncio.wait_for(
                    post(content_type, body), timeout=120
                )
        except Exception as exc:
            errors.append(f"{pdfs[i].name}: {type(exc).__name__}: {exc}")
            return
        ms = (time.perf_counter() - t) * 1000
        if status != 202:
            errors.append(f"{pdfs[i].name}: HTTP {status} {answer[:200]!r}")
            return
        latencies.append(ms)
        timing = re.search(r"app;dur=([0-9.]+)", headers.get("server-timing", ""))
        if timing:
            server_ms.append(float(timing.group(1)))

    await asyncio.gather(*(one(i) for i in range(len(pdfs))))
    return OpenLoop(rate, len(pdfs), (len(pdfs) - 1) / rate, latencies, server_ms, errors, late)


def start_service(
    home: Path, redis_url: str, workers: int, api_workers: int, timeout: float = 180
) -> tuple[Service, str, str]:
    """A fresh service (new home, a Redis database of its own): ``api_workers`` API processes and
    one worker of ``workers`` processes, ready (/readyz 200 within ``timeout`` s); with the measured
    tenant's key and the warm-up tenant's."""
    home.mkdir(parents=True)
    service = Service(home, scanrag_env(home, SCANRAG_REDIS_URL=redis_url))
    try:
        key = service.new_key(TENANT)[0]
        warm_key = service.new_key(WARMUP_TENANT)[0]
        service.start_api(api_workers)
        service.start_worker(workers, name="bench@%h")
        service.wait_ready(timeout, request_timeout=5)
    except BaseException as exc:
        service.stop(worker_grace=WORKER_GRACE)
        if isinstance(exc, ServiceError):  # a message, not a traceback, as before
            raise SystemExit(str(exc)) from None
        raise
    return service, key, warm_key


def run_open_loop(
    pdfs: list[Path],
    warmups: list[Path],
    home: Path,
    redis_url: str,
    workers: int,
    api_workers: int,
    rate: float,
) -> OpenLoop:
    """Start the service, warm it up (one round), send ``pdfs`` at ``rate`` while the workers
    read (nothing waits for them to finish), stop."""
    service, key, warm_key = start_service(home, redis_url, workers, api_workers)
    try:
        warm = upload_all(service.url, warm_key, warmups[:workers], workers)
        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {warm_key}"}, timeout=60
        ) as http:
            wait_final(http, {i for i in warm.ids if i}, 600)
        print(f"# warm; sending {len(pdfs)} uploads at {rate}/s", file=sys.stderr, flush=True)
        return open_loop(service.url, key, pdfs, rate)
    finally:
        service.stop(worker_grace=WORKER_GRACE)


def report_open_loop(args: argparse.Namespace, run: OpenLoop) -> None:
    """The open-loop latency table and its targets."""

    row = {
        "rate /s": run.rate,
        "seconds": round(run.seconds, 1),
        "sent": run.sent,
        "accepted": len(run.latencies_ms),
        "errors": len(run.errors),
        "accept p50 ms": percentile(run.latencies_ms, 50),
        "accept p90 ms": percentile(run.latencies_ms, 90),
        "accept p99 ms": percentile(run.latencies_ms, 99),
        "API own p50 ms": percentile(run.server_ms, 50),
        "API own p99 ms": percentile(run.server_ms, 99),
        "send late p99 ms": percentile(run.late_ms, 99),
    }
    print(table([row], list(row)))
    p50, p99 = row["accept p50 ms"], row["accept p99 ms"]
    print("\ntargets (open loop):")
    print(f"  accept p50 < 50 ms:  {'ok' if p50 is not None and p50 < 50 else 'MISSED'}")
    print(f"  accept p99 < 200 ms: {'ok' if p99 is not None and p99 < 200 else 'MISSED'}")
    print(
        f"\nnotes: {args.api_workers} API processes, 1 worker x {args.workers} processes reading"
        f" the uploads meanwhile; each upload on a new connection; cpu cores: {os.cpu_count()};"
        " 'send late' is how far the load generator (same machine) fell behind its schedule"
    )
    for err in run.errors[:5]:
        print(f"  {err}")
    print(f"\ncommand: {shlex.join([PYTHON, *sys.argv])}")


def list_documents(http: httpx.Client) -> list[dict[str, Any]]:
    """All the tenant's documents, from the list endpoint, 500 at a time."""
    out: list[dict[str, Any]] = []
    while True:
        r = http.get("/v1/documents", params={"limit": 500, "offset": len(out)})
        r.raise_for_status()
        body = r.json()
        out += body["documents"]
        if not body["documents"] or len(out) >= body["total"]:
            return out


def wait_final(http: httpx.Client, ids: set[str], timeout: float) -> tuple[list[dict], float]:
    """Poll the list every 0.5 s until every document of ``ids`` is done or failed (or time is
    up); returns the last listing and the time.time() it was seen complete."""
    deadline = time.monotonic() + timeout
    while True:
        docs = list_documents(http)
        final = {d["id"] for d in docs if d["status"] in ("done", "failed")}
        if ids <= final or time.monotonic() > deadline:
            return docs, time.time()
        time.sleep(0.5)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------------------------ integrity


def check_database(db: Path, tenant: str, expected: int) -> dict[str, Any]:
    """Rows of the tenant's documents in the service's SQLite database, checked.

    Every document: exactly page_count page rows numbered 1..page_count, chunks with unique
    ordinals, and at least one chunk unless none of its pages has text.
    """
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        docs = con.execute(
            "SELECT id, status, page_count FROM documents WHERE tenant = ?", (tenant,)
        ).fetchall()
        pages = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT p.document_id, COUNT(*),"
                " COUNT(DISTINCT CASE WHEN p.number BETWEEN 1 AND d.page_count"
                " THEN p.number END),"
                " SUM(CASE WHEN LENGTH(TRIM(p.text)) > 0 THEN 1 ELSE 0 END)"
                " FROM pages p JOIN documents d ON d.id = p.document_id"
                " WHERE d.tenant = ? GROUP BY p.document_id",
                (tenant,),
            )
        }
        chunks = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT c.document_id, COUNT(*), COUNT(DISTINCT c.ordinal)"
                " FROM chunks c JOIN documents d ON d.id = c.document_id"
                " WHERE d.tenant = ? GROUP BY c.document_id",
                (tenant,),
            )
        }
    finally:
        con.close()
    extra_pages = missing_pages = extra_chunks = chunkless = 0
    for doc_id, status, page_count in docs:
        rows, in_range, with_text = pages.get(doc_id, (0, 0, 0))
        n_chunks, n_ordinals = chunks.get(doc_id, (0, 0))
        extra_pages += rows - in_range  # a number twice, or one past the page count
        extra_chunks += n_chunks - n_ordinals
        if status == "done":
            missing_pages += (page_count or 0) - in_range
            if n_chunks == 0 and with_text:
                chunkless += 1
    return {
        "documents": len(docs),
        "extra_documents": max(0, len(docs) - expected),
        "extra_pages": extra_pages,
        "missing_pages": missing_pages,
        "extra_chunks": extra_chunks,
        "chunkless": chunkless,
    }


# ------------------------------------------------------------------------------------ the sides


def run_ingest(docs_dir: Path, warmup: Path, home: Path) -> dict[str, Any]:
    """``scanrag ingest WARMUP DIR`` into a fresh home; pages/s over DIR's files only.

    DIR's seconds are the run's wall time less that of ``scanrag ingest WARMUP`` alone (start-up,
    model loading and the warm-up document) into another fresh home: files are read several at
    a time, so per-file seconds overlap and cannot be summed.
    """
    home.mkdir(parents=True)

    def run(args: list[Path], where: Path) -> tuple[subprocess.CompletedProcess[str], float]:
        cmd = [PYTHON, "-m", "cli.main", "ingest", *map(str, args)]
        t = time.perf_counter()
        done = subprocess.run(
            cmd, cwd=ROOT, env=scanrag_env(where), capture_output=True, text=True, check=False
        )
        return done, time.perf_counter() - t

    alone = home.with_name(home.name + "-warmup-only")
    alone.mkdir(parents=True)
    _, base = run([warmup], alone)
    done, wall = run([warmup, docs_dir], home)
    (home / "ingest.log").write_text(done.stdout + "\n--- stderr\n" + done.stderr)
    rows = []
    for line in done.stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0] in ("done", "duplicate", "failed"):
            rows.append((parts[0], int(parts[1]), float(parts[2]), Path(parts[4].split("  ")[0])))
    counted = [r for r in rows if r[3].parent == docs_dir]
    if not counted:
        raise SystemExit(f"scanrag ingest printed no files ({done.returncode}):\n{done.stderr}")
    seconds = wall - base
    pages = sum(r[1] for r in counted if r[0] == "done")
    return {
        "files": len(counted),
        "failed": sum(r[0] == "failed" for r in counted),
        "pages": pages,
        "seconds": seconds,
        "pages_per_s": pages / seconds,
        "warmup_s": base,
        "wall_s": wall,
        "returncode": done.returncode,
        "log": home / "ingest.log",
    }


def run_service(
    pdfs: list[Path],
    warmups: list[Path],
    home: Path,
    redis_url: str,
    workers: int,
    clients: int,
    timeout: float,
    api_workers: int = 1,
    client: str = "httpx",
) -> dict[str, Any]:
    """Start the service, warm it up, upload ``pdfs`` from ``clients`` clients, wait, check."""
    service, key, warm_key = start_service(home, redis_url, workers, api_workers)
    try:
        print(f"# service ready on {service.url}; warming up", file=sys.stderr, flush=True)
        t = time.perf_counter()
        warmed = (0, 0)
        rounds = 0
        while rounds * workers < len(warmups) and min(warmed) < workers:
            batch = warmups[rounds * workers : (rounds + 1) * workers]
            rounds += 1
            warm = upload_all(service.url, warm_key, batch, len(batch))
            if warm.errors:
                raise SystemExit("warm-up upload failed: " + "; ".join(warm.errors))
            with httpx.Client(
                base_url=service.url, headers={"Authorization": f"Bearer {warm_key}"}, timeout=60
            ) as http:
                wait_final(http, {i for i in warm.ids if i}, timeout)
            time.sleep(0.5)  # the worker logs a task's success just after its commit
            warmed = warmed_processes(service.logs[-1])
        warmup_s = time.perf_counter() - t
        print(
            f"# warm-up done in {warmup_s:.1f} s ({rounds} rounds); uploading",
            file=sys.stderr,
            flush=True,
        )

        up = upload_all(service.url, key, pdfs, clients, client)
        accepted = {i for i in up.ids if i}
        write_jsonl(
            home / "uploads.jsonl",
            [
                {"file": p.name, "client": n % clients, "id": i, "created": c, "accept_ms": ms}
                for n, (p, i, c, ms) in enumerate(
                    zip(pdfs, up.ids, up.created, up.all_latencies_ms, strict=True)
                )
            ],
        )
        with httpx.Client(
            base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            docs, seen_at = wait_final(http, accepted, timeout)
        # nothing is written any more: the database can be read as it is
        service.stop(worker_grace=WORKER_GRACE)

        final = [d for d in docs if d["status"] in ("done", "failed")]
        finished = [epoch(d["finished_at"]) for d in final if d.get("finished_at")]
        end = max(finished) if finished else seen_at
        seconds = end - up.first_sent
        pages_done = sum(d["pages_done"] for d in docs if d["status"] == "done")
        listed_ids = [d["id"] for d in docs]
        finished_ids = {d["id"] for d in final}
        db = check_database(home / "scanrag.db", TENANT, len(pdfs))
        trouble, trouble_lines = log_trouble(service.logs)
        return {
            "pages": pages_done,
            "seconds": seconds,
            "poll_seconds": seen_at - up.first_sent,
            "pages_per_s": pages_done / seconds,
            "p50": percentile(up.latencies_ms, 50),
            "p99": percentile(up.latencies_ms, 99),
            "server_p50": percentile(up.server_ms, 50),
            "server_p99": percentile(up.server_ms, 99),
            "accepted": len(up.latencies_ms),
            "not_created": sum(1 for i, c in zip(up.ids, up.created, strict=True) if i and not c),
            "distinct_ids": len(accepted),
            "upload_errors": up.errors,
            "listed": len(docs),
            "lost": len(pdfs) - len(accepted & finished_ids),
            "duplicated": (len(listed_ids) - len(set(listed_ids)))
            + db["extra_documents"]
            + db["extra_pages"]
            + db["extra_chunks"],
            "failed": sum(d["status"] == "failed" for d in docs),
            "failures": sorted(
                {f"{(d.get('error') or {}).get('code')}" for d in docs if d["status"] == "failed"}
            ),
            "db": db,
            "warmup_s": warmup_s,
            "warmup_docs": min(len(warmups), rounds * workers),
            "warmed": warmed,
            "trouble": trouble,
            "trouble_lines": trouble_lines,
            "logs": service.logs,
        }
    finally:
        service.stop(worker_grace=WORKER_GRACE)


# ------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--docs", type=int, default=200, help="documents uploaded (default 200)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent upload clients")
    ap.add_argument(
        "--api-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API processes (scanrag serve --workers; default: cores)",
    )
    ap.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker concurrency (cores)"
    )
    ap.add_argument("--order", choices=["ingest", "service"], default="ingest", help="run first")
    ap.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="upload client: raw HTTP/1.1 on asyncio streams (a load generator), or httpx",
    )
    ap.add_argument(
        "--redis-url",
        help="a Redis database the service may own (default: a redis-server of the run's own)",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for processing")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the work folder (PDFs, homes, logs, per-upload latencies)",
    )
    ap.add_argument(
        "--rate",
        type=float,
        help="open loop: send uploads at this many per second for --duration seconds (latency"
        " only; no ingest baseline, nothing waits for the documents)",
    )
    ap.add_argument("--duration", type=float, default=60, help="open loop: seconds of sending")
    args = ap.parse_args()
    if args.docs < 1 or args.clients < 1 or args.workers < 1:
        ap.error("--docs, --clients and --workers must be at least 1")
    with broker(args.redis_url, Path(tempfile.mkdtemp(prefix="scanrag-bench-redis-"))) as url:
        args.redis_url = url
        run(args)


def run(args: argparse.Namespace) -> None:
    """The run that ``args`` ask for, on the Redis database ``args.redis_url``."""
    if args.rate is not None:
        main_open_loop(args)
        return

    # a plain kill (SIGTERM) unwinds too, so the finally clauses stop the service's processes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="scanrag-bench-service-"))
    try:
        counts = page_counts(args.docs)
        pdfs = build_documents(work / "docs", counts, "bench")
        # warm-up documents: other pages and labels, so none is a copy of a measured one
        warmups = build_documents(
            work / "warmup", [1] * (WARMUP_ROUNDS * args.workers), "warmup", first_page=7
        )
        print(
            f"# {len(pdfs)} PDFs, {sum(counts)} pages ({sum(c > 1 for c in counts)} multi-page) "
            f"in {work}",
            file=sys.stderr,
            flush=True,
        )
        sides = ["ingest", "service"] if args.order == "ingest" else ["service", "ingest"]
        ingest: dict[str, Any] = {}
        svc: dict[str, Any] = {}
        for side in sides:
            print(f"# running {side}", file=sys.stderr, flush=True)
            if side == "ingest":
                ingest = run_ingest(work / "docs", warmups[0], work / "home-ingest")
            else:
                svc = run_service(
                    pdfs,
                    warmups,
                    work / "home-service",
                    args.redis_url,
                    args.workers,
                    args.clients,
                    args.timeout,
                    args.api_workers,
                    args.client,
                )
        report(args, counts, ingest, svc, work)
    finally:
        if args.keep:
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main_open_loop(args: argparse.Namespace) -> None:
    """``--rate``: uploads at a fixed arrival rate while the workers read."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="scanrag-bench-openloop-"))
    try:
        n = max(1, round(args.rate * args.duration))
        pdfs = build_documents(work / "docs", [1] * n, "open")
        warmups = build_documents(work / "warmup", [1] * args.workers, "warmup", first_page=7)
        print(f"# {n} one-page PDFs in {work}", file=sys.stderr, flush=True)
        run = run_open_loop(
            pdfs,
            warmups,
            work / "home",
            args.redis_url,
            args.workers,
            args.api_workers,
            args.rate,
        )
        report_open_loop(args, run)
    finally:
        if args.keep:
            print(f"# kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    counts: list[int],
    ingest: dict[str, Any],
    svc: dict[str, Any],
    work: Path,
) -> None:
    """The result table, the per-side timings, the checks against the targets, and notes."""
    overhead = 1 - svc["pages_per_s"] / ingest["pages_per_s"] if ingest["pages"] else float("nan")
    row = {
        "docs": args.docs,
        "pages": sum(counts),
        "clients": args.clients,
        "workers": args.workers,
        "accept p50 ms": svc["p50"],
        "accept p99 ms": svc["p99"],
        "API own p50 ms": svc["server_p50"],
        "API own p99 ms": svc["server_p99"],
        "service pages/s": svc["pages_per_s"],
        "ingest pages/s": ingest["pages_per_s"],
        "overhead %": f"{100 * overhead:.1f}",
        "lost": svc["lost"],
        "duplicated": svc["duplicated"],
        "failed": svc["failed"],
    }
    print(table([row], list(row)))
    print()
    sides = [
        {
            "side": f"service ({args.api_workers} API + 1 worker x {args.workers} processes, "
            f"{args.clients} {args.client} clients)",
            "pages": svc["pages"],
            "seconds": svc["seconds"],
            "pages/s": svc["pages_per_s"],
            "warm-up s (not counted)": svc["warmup_s"],
        },
        {
            "side": "scanrag ingest (1 process, one reading thread per core)",
            "pages": ingest["pages"],
            "seconds": ingest["seconds"],
            "pages/s": ingest["pages_per_s"],
            "warm-up s (not counted)": ingest["warmup_s"],
        },
    ]
    print(table(sides, ["side", "pages", "seconds", "pages/s", "warm-up s (not counted)"]))
    print()

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    p50, p99 = svc["p50"], svc["p99"]
    print("targets:")
    print(f"  accept p50 < 50 ms:  {verdict(p50 is not None and p50 < 50)}")
    print(f"  accept p99 < 200 ms: {verdict(p99 is not None and p99 < 200)}")
    print(f"  overhead < 10%:      {verdict(overhead < 0.10)}")
    print(f"  0 lost, 0 duplicated: {verdict(svc['lost'] == 0 and svc['duplicated'] == 0)}")
    print()
    db = svc["db"]
    print("notes:")
    print(
        f"  run first: {args.order}; cpu cores: {os.cpu_count()}; documents: "
        f"{sum(c == 1 for c in counts)} one-page, {sum(c > 1 for c in counts)} of 2-4 pages"
    )
    read, embedded = svc["warmed"]
    print(
        f"  warm-up: service, /readyz 200, then {svc['warmup_docs']} one-page documents of "
        f"another tenant ({args.workers} at a time, until every worker process had run both a "
        f"page read and a finalize, at most {WARMUP_ROUNDS} rounds), all done before timing: "
        f"{read}/{args.workers} processes read pages, {embedded}/{args.workers} embedded; "
        f"ingest, one such document first, its seconds left out"
    )
    print(
        f"  service seconds: first upload sent -> last finished_at; seen complete by polling "
        f"the list at {svc['poll_seconds']:.1f} s"
    )
    print(
        f"  ingest: {ingest['files']} files, {ingest['failed']} failed, exit {ingest['returncode']}"
        f"; whole process {ingest['wall_s']:.1f} s with start-up and warm-up"
    )
    print(
        f"  uploads: {svc['accepted']} accepted (202), {svc['distinct_ids']} distinct ids, "
        f"{svc['not_created']} answered as already stored, {len(svc['upload_errors'])} errors; "
        f"{svc['listed']} documents listed"
    )
    for err in svc["upload_errors"][:5]:
        print(f"    {err}")
    print(
        f"  database: {db['documents']} document rows, {db['extra_pages']} extra page rows, "
        f"{db['missing_pages']} missing pages of done documents, {db['extra_chunks']} repeated "
        f"chunk ordinals, {db['chunkless']} documents with text but no chunks"
    )
    if svc["failures"]:
        print(f"  failed documents' error codes: {', '.join(svc['failures'])}")
    print(f"  service log warnings/errors: {svc['trouble']}")
    for line in svc["trouble_lines"]:
        print(f"    {line}")
    if args.keep:
        print(f"  work folder (PDFs, homes, logs): {work}")
    print(f"\ncommand: {shlex.join([PYTHON, *sys.argv])}")


if __name__ == "__main__":
    main()
