"""The region model's score threshold against reading order, on the dev splits.

    python bench/tuning/region_threshold.py [--thresholds 0.5 0.45 0.4 0.35 0.3] [--cache FILE]

Every dev page (layout/dev PDFs at the configured dpi, FUNSD dev, SROIE dev) is read once by the
engine; the layout model's regions are found once at the lowest threshold; then, per threshold,
the same lines are laid out again from the regions scoring at least that much (a greedy NMS keeps
a region's fate independent of the weaker ones, so this equals running at that threshold).
Prints mean loose CER and bag-of-words F1 per split and threshold (shared/tools/ocr_score.py).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import SHARED, scorer, table


def read_dev(lowest: float) -> dict[str, list[tuple[str, Any, Any, str]]]:
    """Per split: (image name, page as read, regions at ``lowest``, reference text)."""
    from core.config import get_settings
    from models.layout_detector import RegionParams, get_region_detector
    from pipelines.load import open_document
    from workers.context import build_ocr_engine, load_params

    settings = get_settings()
    engine = build_ocr_engine(settings, "cpu")
    finder = get_region_detector(
        device="cpu", threads=2, params=RegionParams(score_threshold=lowest)
    )
    items: list[tuple[str, str, np.ndarray, str]] = []
    layout = SHARED / "data" / "layout" / "dev"
    key = json.loads((layout / "key.json").read_text())
    for pdf in key["pages"]:
        for page in open_document(layout / pdf, load_params(settings)).pages():
            name = f"{Path(pdf).stem}-p{page.number}.png"
            items.append(("layout", name, page.image, key["pages"][pdf][str(page.number)]))
    for ds in ("funsd", "sroie"):
        gt = SHARED / "data" / "ocr" / ds / "dev" / "gt.jsonl"
        for line in gt.read_text().splitlines():
            row = json.loads(line)
            image = np.asarray(Image.open(gt.parent / row["image"]).convert("RGB"))
            items.append((ds, Path(row["image"]).name, image, row["text"]))
    out: dict[str, list[tuple[str, Any, Any, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ds, name, image, text in items:
            path = Path(tmp) / name
            Image.fromarray(image).save(path)
            (page,) = engine.read_path(path)
            out.setdefault(ds, []).append((name, page, finder.detect([image])[0], text))
            print(f"# {ds} {name}", file=sys.stderr, flush=True)
    return out


def cached_dev(cache: Path | None, lowest: float) -> dict[str, list[tuple[str, Any, Any, str]]]:
    """``read_dev(lowest)``, kept in (or taken from) the file ``cache`` when one is given."""
    if cache and cache.exists():
        return pickle.loads(cache.read_bytes())
    data = read_dev(lowest)
    if cache:
        cache.write_bytes(pickle.dumps(data))
    return data


def score_layouts(
    pages: list[tuple[str, Any, Any, str]], regions: list[list[Any]], params: Any = None
) -> dict[str, float]:
    """Mean loose CER and bag-of-words F1 of ``pages`` (as ``read_dev`` gives them) laid out
    again from ``regions`` (one list per page; empty: the row rules) under ``params``
    (``RegionOrderParams``; None: the defaults)."""
    from pipelines.layout import LayoutParams
    from pipelines.regions import RegionOrderParams, page_layout

    params = params or RegionOrderParams()
    preds, gts = [], []
    for (name, page, _, text), kept in zip(pages, regions, strict=True):
        blocks = page_layout(page.lines, kept, page.height, LayoutParams(), params)
        preds.append({"image": name, "text": replace(page, blocks=tuple(blocks)).text})
        gts.append({"image": name, "text": text})
    rep, _ = scorer().score(gts, preds)
    return {"CER loose": rep["loose_mean_cer"], "BoW F1 loose": rep["bow_loose_f1"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.45, 0.4, 0.35, 0.3])
    ap.add_argument("--cache", type=Path, help="keep (or reuse) the pages read in this file")
    args = ap.parse_args()
    data = cached_dev(args.cache, min(args.thresholds))
    rows = []
    for ds, pages in data.items():
        for t in args.thresholds:
            kept = [[r for r in regions if r.score >= t] for _, _, regions, _ in pages]
            rep = score_layouts(pages, kept)
            rows.append({"split": f"{ds} dev", "threshold": t, "pages": len(pages), **rep})
    print(table(rows, ["split", "threshold", "pages", "CER loose", "BoW F1 loose"]))


if __name__ == "__main__":
    main()
