"""Measure the int8 detector's activation ranges, then check the int8 model against fp32.

    python bench/calibrate_detector.py [--check-only] [--pages N]

1. Calibration (skipped with --check-only): the fp32 detector runs on synthetic pages only
   (tests/pagegen text pages at four print sizes, ruled half-resolution "fax" pages, and the
   two pages of docs/sample-scan.pdf), never on evaluation pages. The activation ranges are
   written to models/data/, where scanrag reads them to build its int8 model.
2. Check: on the first N FUNSD dev pages, the int8 and fp32 detectors' boxes are matched and
   compared, and single-thread detector time is measured for both. For scale, the same is done
   for fp32 against fp32 on the page with +-2 grey levels of noise added.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, table
from models.detector import DetectorParams, TextDetector, detector_scale, preprocess
from models.ort_sessions import make_session
from models.quantize import prepare_fp32, quantize, ranges_path
from models.weights import PPOCR_V6_DET, verified_path

ROOT = Path(__file__).resolve().parents[1]
SIDE = 832  # percentile calibration stacks its inputs (in memory): one size, not too large
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "invoice",
    "total",
    "amount",
    "date",
    "12/03/1998",
    "TO:",
    "FROM:",
    "subject",
    "report",
    "page",
    "of",
    "account",
    "number",
    "volume",
    "stores",
    "region",
    "division",
    "name",
    "telephone",
    "(212)",
    "450-4000",
]


def calibration_pages() -> list[np.ndarray]:
    """Synthetic scans of several print sizes and resolutions, and the sample scan."""
    from PIL import Image, ImageDraw

    from pipelines.load import open_document
    from tests import pagegen

    rnd = random.Random(0)

    def lines(n: int, most: int) -> list[str]:
        return [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, most))) for _ in range(n)]

    pages = [p.image for p in open_document(ROOT / "docs" / "sample-scan.pdf").pages()]
    for k, size in enumerate((16, 18, 20, 24, 28, 32, 40)):
        img = pagegen.scanned(pagegen.text_page(lines(25, 9), size=size), seed=k)
        pages.append(np.asarray(img.convert("RGB")))
    for k, size in enumerate((18, 20, 22, 24, 26, 28, 32)):
        # a ruled form printed small and scanned at half resolution, like a 100 dpi fax
        img = pagegen.text_page(lines(40, 6), size=size, width=1500)
        draw = ImageDraw.Draw(img)
        for y in range(100, img.height - 100, 120):
            draw.line([(60, y), (img.width - 60, y)], fill=0, width=3)
        img = img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR)
        pages.append(np.asarray(pagegen.scanned(img, seed=10 + k).convert("RGB")))
    return pages


class _Reader:
    """onnxruntime CalibrationDataReader over the pages, prepared as the detector does."""

    def __init__(self, pages: list[np.ndarray], input_name: str) -> None:
        self.pages = iter(pages)
        self.input_name = input_name
        self.params = DetectorParams()

    def get_next(self) -> dict[str, np.ndarray] | None:
        page = next(self.pages, None)
        if page is None:
            return None
        h, w = page.shape[:2]
        x = preprocess(page, detector_scale(h, w, self.params))[:, :SIDE, :SIDE]
        batch = np.full((1, 3, SIDE, SIDE), 1.0, dtype=np.float32)  # 1.0: white after normalising
        batch[0, :, : x.shape[1], : x.shape[2]] = x
        return {self.input_name: batch}


def calibrate(tmp: Path) -> Path:
    """Measure the ranges (written to models/data/); return the int8 model built with them."""
    import onnx

    prepared, out = tmp / "prepared.onnx", tmp / "int8.onnx"
    prepare_fp32(verified_path(PPOCR_V6_DET), prepared)
    ranges = ranges_path(PPOCR_V6_DET)
    ranges.parent.mkdir(parents=True, exist_ok=True)
    ranges.unlink(missing_ok=True)
    name = onnx.load(str(prepared)).graph.input[0].name
    pages = calibration_pages()
    start = time.perf_counter()
    quantize(prepared, out, ranges, _Reader(pages, name))
    ranges.chmod(0o644)  # written private by onnxruntime; it ships with the package
    print(f"# {len(pages)} pages calibrated in {time.perf_counter() - start:.0f} s -> {ranges}")
    return out


def _boxes(det: TextDetector, image: np.ndarray) -> tuple[list[tuple[float, ...]], float]:
    start = time.perf_counter()
    quads = det.detect([image])[0].quads
    seconds = time.perf_counter() - start
    return [(q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()) for q in quads], seconds


def _height_changes(ref: list[tuple[float, ...]], other: list[tuple[float, ...]]) -> list[float]:
    """Height change of each reference box against the box overlapping it most."""

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else -1.0

    out = []
    for a in ref:
        b = max(other, key=lambda b: overlap(a, b))
        out.append((b[3] - b[1]) - (a[3] - a[1]))
    return out


def check(int8: Path, n_pages: int) -> None:
    from PIL import Image

    params = DetectorParams()
    fp32 = TextDetector(make_session(verified_path(PPOCR_V6_DET), device="cpu", threads=1), params)
    q8 = TextDetector(make_session(int8, device="cpu", threads=1), params)
    images = sorted((SHARED / "data" / "ocr" / "funsd" / "dev" / "images").glob("*.png"))
    images = images[:n_pages]
    rng = np.random.default_rng(0)
    stats: dict[str, list[float]] = {"int8": [], "fp32 + noise": []}
    counts = {"fp32": 0, "int8": 0, "fp32 + noise": 0}
    seconds = {"fp32": 0.0, "int8": 0.0}
    for path in images:
        image = np.asarray(Image.open(path).convert("RGB"))
        noisy = np.clip(image.astype(int) + rng.integers(-2, 3, image.shape), 0, 255)
        ref, s32 = _boxes(fp32, image)
        got, s8 = _boxes(q8, image)
        noise, _ = _boxes(fp32, noisy.astype(np.uint8))
        seconds["fp32"] += s32
        seconds["int8"] += s8
        counts["fp32"] += len(ref)
        counts["int8"] += len(got)
        counts["fp32 + noise"] += len(noise)
        stats["int8"] += _height_changes(ref, got)
        stats["fp32 + noise"] += _height_changes(ref, noise)
    rows = [
        {
            "detector": "fp32",
            "boxes": counts["fp32"],
            "s/page (1 thread)": seconds["fp32"] / len(images),
        }
    ]
    for name, dh in stats.items():
        d = np.asarray(dh)
        rows.append(
            {
                "detector": name,
                "boxes": counts[name],
                "mean height change px": float(d.mean()),
                "boxes changed > 1.5 px": float((np.abs(d) > 1.5).mean()),
                "s/page (1 thread)": seconds["int8"] / len(images) if name == "int8" else None,
            }
        )
    rows[1]["x fp32 speed"] = seconds["fp32"] / seconds["int8"]
    cols = [
        "detector",
        "boxes",
        "mean height change px",
        "boxes changed > 1.5 px",
        "s/page (1 thread)",
        "x fp32 speed",
    ]
    print(f"FUNSD dev, first {len(images)} pages, against fp32 on the clean page")
    print(table(rows, cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check-only", action="store_true", help="keep the shipped ranges")
    ap.add_argument("--pages", type=int, default=8, help="FUNSD dev pages to check on")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="scanrag-calib-") as tmp:
        if args.check_only:
            from models.quantize import int8_model

            int8 = int8_model(PPOCR_V6_DET, Path(tmp))
        else:
            int8 = calibrate(Path(tmp))
        check(int8, args.pages)


if __name__ == "__main__":
    main()
