"""Memory benchmark: peak RSS of ``scanrag ocr`` on a long scanned PDF, sampled as pages go by.

    python bench/memory.py [--pages 300] [--dpi 200]

Builds a scanned PDF (no text layer) from dev page images cycled to ``--pages`` pages, runs
``scanrag ocr PDF --out DIR`` in a subprocess, samples its RSS every 0.5 s and prints the RSS
after every 10% of the pages, so growth with page count shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, table


def build_pdf(path: Path, pages: int) -> None:
    """A ``pages``-page PDF of dev scans (JPEG pages, A4-ish at 200 dpi), written incrementally."""
    sources = sorted((SHARED / "data" / "ocr" / "funsd" / "dev" / "images").glob("*.png"))
    sources += sorted((SHARED / "data" / "ocr" / "sroie" / "dev" / "images").glob("*.jpg"))
    images = []
    for k in range(pages):
        img = Image.open(sources[k % len(sources)]).convert("L")
        # every page A4 at 200 dpi, the scan pasted on it like a flatbed would give
        page = Image.new("L", (1654, 2339), 255)
        scale = min(1500 / img.width, 2200 / img.height)
        page.paste(img.resize((int(img.width * scale), int(img.height * scale))), (70, 70))
        images.append(page)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=200, quality=75)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--dpi", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scanrag-mem-"))
    pdf = tmp / f"scan-{args.pages}.pdf"
    build_pdf(pdf, args.pages)
    out = tmp / "out"
    cmd = [
        sys.executable,
        "-m",
        "cli.main",
        "ocr",
        str(pdf),
        "--dpi",
        str(args.dpi),
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0.0
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        samples.append((time.perf_counter() - start, rss))
        time.sleep(0.5)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"scanrag ocr failed ({proc.returncode}): {err}")
    result = out / (pdf.name + ".jsonl")
    pages_done = sum(1 for _ in result.open())
    # RSS in each tenth of the run (pages flow at a steady rate, so tenths of time ~ of pages)
    rows = []
    for k in range(1, 11):
        t_hi = wall * k / 10
        window = [r for t, r in samples if wall * (k - 1) / 10 <= t < t_hi]
        rows.append(
            {
                "pages done (approx.)": round(pages_done * k / 10),
                "max RSS MB in window": round(max(window)) if window else None,
            }
        )
    print(table(rows, ["pages done (approx.)", "max RSS MB in window"]))
    print(
        f"\npages: {pages_done}, wall: {wall:.1f} s, pages/s: {pages_done / wall:.3f}, "
        f"peak RSS: {peak:.0f} MB"
    )
    print(json.dumps({"pages": pages_done, "peak_rss_mb": round(peak), "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
