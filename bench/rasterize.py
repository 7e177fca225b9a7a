"""PDF rasteriser benchmark: pdfium vs pdf2image (poppler pdftoppm) on scanned and text PDFs.

    python bench/rasterize.py [--pages 20] [--dpi 200] [--repeat 3]

Times ``pipelines.load`` page streaming (the code path ``scanrag ocr`` uses) for each renderer,
best of ``--repeat`` runs, single-threaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import table
from bench.memory import build_pdf
from pipelines.load import LoadParams, open_document


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scanrag-raster-"))
    scanned = tmp / "scanned.pdf"
    build_pdf(scanned, args.pages)
    rows = []
    base = None
    for renderer in ("pdf2image", "pdfium"):
        best = float("inf")
        for _ in range(args.repeat):
            doc = open_document(scanned, LoadParams(dpi=args.dpi, renderer=renderer))
            start = time.perf_counter()
            n = sum(1 for _ in doc.pages())
            best = min(best, time.perf_counter() - start)
        pps = n / best
        base = base or pps
        rows.append(
            {
                "renderer": renderer,
                "pages": n,
                "dpi": args.dpi,
                "seconds": best,
                "pages/s": pps,
                "x pdf2image": pps / base,
            }
        )
    print(table(rows, ["renderer", "pages", "dpi", "seconds", "pages/s", "x pdf2image"]))


if __name__ == "__main__":
    main()
