"""Orientation benchmark: dev pages turned by 0/90/180/270 degrees; how often they come out upright.

    python bench/orientation.py [--split dev] [--datasets funsd sroie] [--limit N]

Each page image is turned clockwise by each angle; scanrag must report ``rotation`` that undoes
it (rotation + angle = 0 mod 360). Made from dev pages (the orientation logic is tuned there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, table
from pipelines.engine import EngineParams, OcrEngine

ANGLES = (0, 90, 180, 270)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", default="dev", choices=["dev", "holdout"])
    ap.add_argument("--datasets", nargs="+", default=["funsd", "sroie"])
    ap.add_argument("--limit", type=int, default=0, help="pages per dataset (0 = all)")
    args = ap.parse_args()
    engine = OcrEngine(EngineParams(device="cpu"))
    rows = []
    misses = []
    tmp = Path(tempfile.mkdtemp(prefix="scanrag-orient-"))
    for ds in args.datasets:
        gt = SHARED / "data" / "ocr" / ds / args.split / "gt.jsonl"
        pages = [json.loads(line)["image"] for line in gt.read_text().splitlines() if line]
        if args.limit:
            pages = pages[: args.limit]
        for angle in ANGLES:
            ok = 0
            start = time.perf_counter()
            for rel in pages:
                img = Image.open(gt.parent / rel)
                path = tmp / f"{Path(rel).stem}-{angle}.png"
                img.rotate(-angle, expand=True).save(path)  # PIL turns counter-clockwise
                (page,) = engine.read_path(path)
                if (page.rotation + angle) % 360 == 0:
                    ok += 1
                else:
                    misses.append(f"{ds}/{rel} turned {angle}: reported {page.rotation}")
            rows.append(
                {
                    "dataset": f"{ds} {args.split}",
                    "turned by": angle,
                    "pages": len(pages),
                    "upright": ok,
                    "rate": ok / len(pages),
                    "s/page": (time.perf_counter() - start) / len(pages),
                }
            )
    total = sum(r["pages"] for r in rows if r["turned by"])
    upright = sum(r["upright"] for r in rows if r["turned by"])
    print(table(rows, ["dataset", "turned by", "pages", "upright", "rate", "s/page"]))
    print(f"\nturned pages (90/180/270) upright: {upright}/{total} = {upright / total:.3f}")
    for m in misses:
        print("miss:", m)


if __name__ == "__main__":
    main()
