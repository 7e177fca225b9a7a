"""Memory benchmark: peak RSS of ``scanrag ocr`` and ``scanrag ingest`` on a long scanned PDF,
sampled as pages go by, and their speed on the same file.

    python bench/memory.py [--pages 300] [--dpi 200] [--source forms|dense]
                           [--commands ocr ingest index worker] [--repeat 1]
                           [--redis-url URL] [--files 1]
                           [--warm] [--service-log FILE] [--set KEY=VALUE ...]

Builds a scanned PDF (no text layer, JPEG pages, A4 at 200 dpi) of ``--pages`` pages cycled from
``--source``: ``forms`` pastes the FUNSD and SROIE dev scans on A4 pages; ``dense`` takes the
multi-column pages of ``shared/data/layout/dev`` rasterised at 200 dpi. Runs each of
``--commands`` on it in a subprocess, one after the other (``scanrag ocr PDF --out DIR``;
``scanrag ingest PDF`` into a fresh SCANRAG_HOME: OCR, page images, chunks, embeddings, SQLite),
samples the process's RSS every 0.5 s (``worker``: ``scanrag up`` on a fresh SCANRAG_HOME and
Redis database, the PDF uploaded through the API and the document polled until done; the RSS
sampled is that of the largest Celery worker process, the one that reads, and the wall time is
from the upload to done; with ``--warm``, then the same pages again as another file, to the warm
worker: "worker, warm"), and prints the maximum RSS in each tenth of the run (pages
flow at a steady rate, so growth with page count shows) and, for ocr and ingest, the cores kept
busy in each tenth (CPU seconds per second: where cores sat idle), then per command: pages, wall
seconds, CPU seconds, pages/s (start-up and model loading included) and peak RSS, and ingest's
pages/s against ocr's. Where there is an NVIDIA GPU (read through ``nvidia-ml-py``), ocr and
ingest also get the GPU's busy percent (the share of each 0.5 s sample in which a kernel ran) in
each tenth and on average, and the peak GPU memory in use over what was in use before the run.
This VM's runs vary by up to 10%, so ``--repeat N`` runs the ocr/ingest pair N times, in turn
(fresh homes), and reports the median of the N ratios with each one.

``--files N`` splits the pages into N PDFs in one folder and gives the folder to ``ocr`` and
``ingest``, as a batch user would (ingest keeps one file in flight per worker).

``index`` (after ``ingest``) indexes the stored document again in a fresh process, alone: the
runtime and the text encoder are loaded first, then the peak RSS of chunking, embedding and
storing is measured over what was resident after loading (``documents.index``, the last step
of ingest and of the worker's tasks), so its growth with the document's length shows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, Gpu, broker, create_key, peak_rss_mb, table
from tests.harness import PYTHON, Service


def _forms(pages: int) -> list[Image.Image]:
    """FUNSD and SROIE dev scans pasted on A4 pages at 200 dpi, as a flatbed would give."""
    sources = sorted((SHARED / "data" / "ocr" / "funsd" / "dev" / "images").glob("*.png"))
    sources += sorted((SHARED / "data" / "ocr" / "sroie" / "dev" / "images").glob("*.jpg"))
    images = []
    for k in range(pages):
        img = Image.open(sources[k % len(sources)]).convert("L")
        page = Image.new("L", (1654, 2339), 255)
        scale = min(1500 / img.width, 2200 / img.height)
        page.paste(img.resize((int(img.width * scale), int(img.height * scale))), (70, 70))
        images.append(page)
    return images


def _dense(pages: int, dpi: int) -> list[Image.Image]:
    """The layout dev pages (two- and three-column papers and newsletters, figures, tables)."""
    import pypdfium2

    sources = []
    for pdf in sorted((SHARED / "data" / "layout" / "dev").glob("*.pdf")):
        document = pypdfium2.PdfDocument(pdf)
        for page in document:
            sources.append(page.render(scale=dpi / 72).to_pil().convert("L"))
        document.close()
    return [sources[k % len(sources)] for k in range(pages)]


def _pages(pages: int, source: str, dpi: int) -> list[Image.Image]:
    return _forms(pages) if source == "forms" else _dense(pages, dpi)


def build_pdf(
    path: Path, pages: int, source: str = "forms", dpi: int = 200, title: str = ""
) -> None:
    """A ``pages``-page image-only PDF of ``source`` pages (see the module docstring); another
    ``title`` makes another file of the same pages (not a duplicate to the service)."""
    _save_pdf(path, _pages(pages, source, dpi), dpi, title)


def _save_pdf(path: Path, images: list[Image.Image], dpi: int, title: str = "") -> None:
    images[0].save(
        path, save_all=True, append_images=images[1:], resolution=dpi, quality=75, title=title
    )


def build_folder(folder: Path, pages: int, files: int, source: str, dpi: int) -> None:
    """The ``pages`` pages of build_pdf split in order into ``files`` PDFs of (nearly) equal
    length in ``folder``; SystemExit when two of them would hold the same pages (ingest would
    store the second as a duplicate of the first)."""
    images = _pages(pages, source, dpi)
    folder.mkdir(parents=True)
    size = -(-pages // files)
    digests = set()
    for k in range(files):
        part = folder / f"part-{k + 1:02d}.pdf"
        _save_pdf(part, images[k * size : (k + 1) * size], dpi)
        digests.add(hashlib.sha256(part.read_bytes()).hexdigest())
    if len(digests) < files:
        raise SystemExit(
            f"{files} files of {size} pages repeat the same {source} pages: choose a page count"
            " per file that is not a multiple of the source's"
        )


@dataclass
class Run:
    """One measured command: wall seconds, peak RSS MB, (seconds, RSS MB) samples every 0.5 s,
    and, for a command run here, its CPU seconds with (seconds, CPU seconds so far) samples."""

    wall: float
    peak: float
    samples: list[tuple[float, float]]
    cpu: float | None = None
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)
    system: float | None = None  # of cpu: in the kernel (page faults, I/O, futexes)
    gpu_busy: list[tuple[float, float]] = field(default_factory=list)  # (s, percent), on a GPU
    gpu_mb: float | None = None  # peak GPU memory in use over what was in use at the start


def measure(cmd: list[str], env: dict[str, str]) -> Run:
    """Run ``cmd`` and sample its RSS and CPU time every 0.5 s (and the GPU's load and memory,
    where there is one)."""
    gpu = Gpu.find()
    gpu_base = gpu.sample()[1] if gpu else 0.0
    gpu_busy: list[tuple[float, float]] = []
    gpu_peak = gpu_base
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    ps = psutil.Process(proc.pid)
    peak = 0.0
    samples: list[tuple[float, float]] = []
    cpu_samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss / 2**20
            times = ps.cpu_times()
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        now = time.perf_counter() - start
        samples.append((now, rss))
        cpu_samples.append((now, times.user + times.system))
        if gpu:
            load, used = gpu.sample()
            gpu_busy.append((now, load))
            gpu_peak = max(gpu_peak, used)
        time.sleep(0.5)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:5])} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    system = after.ru_stime - before.ru_stime
    cpu = after.ru_utime - before.ru_utime + system
    gpu_mb = gpu_peak - gpu_base if gpu else None
    return Run(wall, peak, samples, cpu, cpu_samples, system, gpu_busy, gpu_mb)


def tenths(samples: list[tuple[float, float]], wall: float) -> list[list[tuple[float, float]]]:
    """The (seconds, value) samples falling in each tenth of a run of ``wall`` seconds."""
    return [
        [(t, v) for t, v in samples if wall * (k - 1) / 10 <= t < wall * k / 10]
        for k in range(1, 11)
    ]


def busy(cpu_samples: list[tuple[float, float]], wall: float) -> list[float | None]:
    """The cores kept busy (CPU seconds per second) in each tenth of the run."""
    out: list[float | None] = []
    for window in tenths(cpu_samples, wall):
        (t0, c0), (t1, c1) = (window[0], window[-1]) if window else ((0.0, 0.0), (0.0, 0.0))
        out.append(round((c1 - c0) / (t1 - t0), 2) if t1 > t0 else None)
    return out


def measure_worker(
    pdfs: list[Path], env: dict[str, str], redis_url: str, log: Path | None = None
) -> list[Run]:
    """``scanrag up`` (API + worker, started by tests/harness.py's Service) reading ``pdfs``
    uploaded through the API one after the other, each once the previous one is done (the first
    as soon as the API is ready, the next to a warm worker): for each, (seconds from the upload
    to done, peak RSS MB of the largest worker process, samples every 0.5 s). The service's log
    (debug lines, where its time went) is copied to ``log`` when given."""
    import httpx

    env = {**env, "SCANRAG_REDIS_URL": redis_url}
    if log is not None:  # with the index step's timings (load, chunk, embed, store)
        env["SCANRAG_LOG_LEVEL"] = "DEBUG"
    home = Path(env["SCANRAG_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    key = create_key(env, "bench")
    service = Service(home, env)
    # `scanrag up` is the API and the worker in one process group: the harness's API slot
    service.api = up = service.spawn(
        [PYTHON, "-m", "cli.main", "up", "--port", str(service.port)], "up"
    )
    http = httpx.Client(
        base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )

    def worker_rss() -> float:
        sizes = [
            child.memory_info().rss / 2**20
            for child in psutil.Process(up.pid).children(recursive=True)
            if "worker" in child.cmdline()
        ]
        return max(sizes, default=0.0)

    try:
        service.wait_ready(timeout=300)
        return [poll_until_done(http, pdf, worker_rss) for pdf in pdfs]
    finally:
        http.close()
        service.stop(api_grace=60)
        if log is not None:
            shutil.copyfile(service.logs[-1], log)


def poll_until_done(http: Any, pdf: Path, worker_rss: Callable[[], float]) -> Run:
    """Upload ``pdf`` and poll it until done: (seconds, peak worker RSS MB, samples)."""
    start = time.perf_counter()
    with pdf.open("rb") as f:
        answer = http.post("/v1/documents", files={"files": (pdf.name, f, "application/pdf")})
    document = answer.json()["documents"][0]["id"]
    peak, samples = 0.0, []
    status = ""
    while status not in ("done", "failed"):
        rss = worker_rss()
        peak = max(peak, rss)
        samples.append((time.perf_counter() - start, rss))
        status = http.get(f"/v1/documents/{document}").json()["status"]
        time.sleep(0.5)
    wall = time.perf_counter() - start
    if status != "done":
        raise SystemExit(
            f"the worker failed the document: {http.get(f'/v1/documents/{document}').text}"
        )
    return Run(wall, peak, samples)


def cli_command(command: str, pdf: Path, dpi: int, tmp: Path) -> list[str]:
    """The ``scanrag ocr`` or ``scanrag ingest`` command line run on ``pdf``."""
    base = [sys.executable, "-m", "cli.main", command, str(pdf)]
    return [*base, "--dpi", str(dpi), "--out", str(tmp / "out")] if command == "ocr" else base


def measure_index(env: dict[str, str]) -> dict[str, float]:
    """``documents.index`` on the one document stored in ``env``'s SCANRAG_HOME, in a fresh
    process (this script with ``--index-home``): chunks, wall and CPU seconds, resident MB
    after loading, and the peak and final MB over that."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--index-home"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"index failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def index_here() -> None:
    """The ``--index-home`` child: print measure_index's JSON for this SCANRAG_HOME."""
    from sqlalchemy import select

    from core.config import get_settings
    from core.memory import trim_heap
    from storage.tables import Document
    from workers import documents
    from workers.runtime import Runtime

    runtime = Runtime.build(get_settings())
    _ = runtime.embedder
    with runtime.sessions() as session:
        document = session.scalars(select(Document.id)).one()
    trim_heap()
    loaded = psutil.Process().memory_info().rss / 2**20
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on
    cpu, start = time.process_time(), time.perf_counter()
    chunks, _ = documents.index(runtime, document)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = psutil.Process().memory_info().rss / 2**20
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "chunks": chunks,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                "loaded_mb": round(loaded),
                "peak_over_mb": round(peak - loaded),
                "after_over_mb": round(after - loaded),
            }
        )
    )


def per_tenth(
    samples: list[tuple[float, float]], wall: float, reduce: Callable[[list[float]], float] = max
) -> list[float | None]:
    """The samples' values reduced (default: their maximum) in each tenth of the run."""
    return [
        round(reduce([v for _, v in window])) if window else None
        for window in tenths(samples, wall)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--source", choices=["forms", "dense"], default="forms")
    ap.add_argument(
        "--commands", nargs="+", choices=["ocr", "ingest", "index", "worker"], default=["ocr"]
    )
    ap.add_argument(
        "--redis-url",
        help="worker: this Redis (default: a redis-server of its own, on a free port)",
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="run ocr and ingest this many times each, in turn"
    )
    ap.add_argument(
        "--files",
        type=int,
        default=1,
        help="split the pages into this many PDFs in one folder, given to ocr and ingest (a batch)",
    )
    ap.add_argument(
        "--warm", action="store_true", help="worker: the same pages again, to the warm worker"
    )
    ap.add_argument(
        "--service-log", type=Path, help="worker: write the service's log lines (debug) here"
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the commands, as SCANRAG_KEY=VALUE (e.g. OCR__WORKERS=4)",
    )
    ap.add_argument("--index-home", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.index_home:
        index_here()
        return
    if args.files < 1 or args.files > args.pages:
        raise SystemExit(f"--files must be between 1 and --pages ({args.pages})")
    if args.files > 1 and {"index", "worker"} & set(args.commands):
        raise SystemExit("index and worker take one PDF: leave --files at 1 for them")
    if "index" in args.commands and "ingest" not in args.commands[: args.commands.index("index")]:
        raise SystemExit("index indexes what ingest stored: put ingest before it")
    tmp = Path(tempfile.mkdtemp(prefix="scanrag-mem-"))
    if args.files == 1:
        pdf = tmp / f"scan-{args.pages}.pdf"
        build_pdf(pdf, args.pages, args.source, args.dpi)
    else:  # a folder: scanrag ocr and ingest take every PDF in it
        pdf = tmp / f"scan-{args.pages}-in-{args.files}"
        build_folder(pdf, args.pages, args.files, args.source, args.dpi)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_")}
    env["SCANRAG_OCR__DPI"] = str(args.dpi)
    for setting in args.set:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE, not {setting!r}")
        env[f"SCANRAG_{key.upper()}"] = value
    runs: dict[str, Run] = {}
    indexed: dict[str, float] = {}
    for command in args.commands:
        if command == "index":
            indexed = measure_index({**env, "SCANRAG_HOME": str(tmp / "home-ingest")})
            continue
        home = {**env, "SCANRAG_HOME": str(tmp / f"home-{command}")}
        if command == "worker":
            pdfs = [pdf]
            if args.warm:
                pdfs.append(tmp / f"scan-{args.pages}-again.pdf")  # the same pages, another file
                build_pdf(pdfs[1], args.pages, args.source, args.dpi, title="again")
            with broker(args.redis_url, tmp) as redis_url:
                measured = measure_worker(pdfs, home, redis_url, args.service_log)
            names = ("worker", "worker, warm")[: len(measured)]
            runs.update(zip(names, measured, strict=True))
            continue
        runs[command] = measure(cli_command(command, pdf, args.dpi, tmp), home)
    ratios = []
    if {"ocr", "ingest"} <= runs.keys():
        ratios.append(runs["ocr"].wall / runs["ingest"].wall)
        for k in range(2, args.repeat + 1):  # the same pair again, fresh homes
            wall_of = {
                c: measure(
                    cli_command(c, pdf, args.dpi, tmp),
                    {**env, "SCANRAG_HOME": str(tmp / f"{c}-{k}")},
                ).wall
                for c in args.commands
                if c in ("ocr", "ingest")
            }
            ratios.append(wall_of["ocr"] / wall_of["ingest"])
    rss = {c: per_tenth(r.samples, r.wall) for c, r in runs.items()}
    cores = {c: busy(r.cpu_samples, r.wall) for c, r in runs.items() if r.cpu_samples}
    mean = statistics.mean
    gpus = {c: per_tenth(r.gpu_busy, r.wall, mean) for c, r in runs.items() if r.gpu_busy}
    rows = [
        {"pages done (approx.)": round(args.pages * k / 10)}
        | {f"{c}: max RSS MB": rss[c][k - 1] for c in runs}
        | {f"{c}: cores busy": cores[c][k - 1] for c in cores}
        | {f"{c}: GPU busy %": gpus[c][k - 1] for c in gpus}
        for k in range(1, 11)
    ]
    columns = [f"{c}: max RSS MB" for c in runs] + [f"{c}: cores busy" for c in cores]
    columns += [f"{c}: GPU busy %" for c in gpus]
    print(table(rows, ["pages done (approx.)", *columns]))
    print()
    summary = [
        {
            "command": c,
            "pages": args.pages,
            "wall s": round(r.wall, 1),
            "CPU s": "" if r.cpu is None else round(r.cpu, 1),
            "of which system": "" if r.system is None else round(r.system, 1),
            "pages/s": args.pages / r.wall,
            "peak RSS MB": round(r.peak),
            "GPU busy %": round(statistics.mean(b for _, b in r.gpu_busy)) if r.gpu_busy else "",
            "GPU MB": "" if r.gpu_mb is None else round(r.gpu_mb),
        }
        for c, r in runs.items()
    ]
    columns = ["command", "pages", "wall s", "CPU s", "of which system", "pages/s", "peak RSS MB"]
    if any(r.gpu_busy for r in runs.values()):  # mean busy percent, peak memory over the start
        columns += ["GPU busy %", "GPU MB"]
    print(table(summary, columns))
    if ratios:
        each = ", ".join(f"{r:.3f}" for r in ratios)
        print(
            f"\ningest pages/s / ocr pages/s: {statistics.median(ratios):.3f} (target >= 0.90;"
            f" the median of {len(ratios)} pair(s), each run in turn: {each})"
        )
    if indexed:
        columns = ["chunks", "wall_s", "cpu_s", "loaded_mb", "peak_over_mb", "after_over_mb"]
        print("\nindex alone (fresh process, MB over what was resident after loading):")
        print(table([indexed], columns))
    print(
        json.dumps(
            {c: {"wall_s": round(r.wall, 1), "peak_rss_mb": round(r.peak)} for c, r in runs.items()}
        )
    )


if __name__ == "__main__":
    main()
