"""OCR benchmark: scanrag vs the packaged RapidOCR pipeline vs Tesseract, same pages, same run.

    python bench/ocr.py [--split holdout|dev] [--datasets funsd sroie] [--engines ...]
                        [--device cpu|cuda|auto]

Every engine runs in its own subprocess (so peak RSS is its own) over the same page images,
after one warm-up page, using the whole machine:
  scanrag    one process, as `scanrag ocr DIR`: one reading thread per core (onnxruntime
             one thread each), pages of consecutive files in flight together
  scanrag-rules  the same without the layout model (SCANRAG_OCR__LAYOUT_MODEL=false), on request
  scanrag-notables  the same without the table structure step (EngineParams.tables=False), on
                 request
  scanrag-small  the same with PP-OCRv6 small reading every line (no tiny first:
                 SCANRAG_OCR__FAST_RECOGNIZER=false), on request
  scanrag-fp32det  the same with the fp32 detector on every CPU (`auto` picks int8 where it
                 pays: models.ort_sessions.cpu_int8_pays), on request
  scanrag-fixed  with a GPU's fixed shapes (detector input padded to 256s, recognizer runs to
                 the full batch and a WIDTH_LADDER width), on request; on a CPU the rest as a
                 GPU runs too (fp32 detector, small for every line): a GPU's readings
  scanrag-dynamic  scanrag-fixed's configuration with every run its own shape, on request
  rapidocr   RapidOCR 3.10.0 packaged pipeline, PP-OCRv6 small det+rec, line classifier off,
             onnxruntime threads = cores, one image at a time; lines put in rows like the
             ground truth (as in shared/tools/run_rapidocr_baseline.py)
  tesseract  Tesseract 5 `--oem 1 --psm 3`, OMP_THREAD_LIMIT=1, one process per core
Scored with shared/tools/ocr_score.py; throughput = pages / wall seconds of the whole set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, peak_rss_mb, scorer, table, write_jsonl


def _rows_text(items: list[tuple[float, float, float, float, str]]) -> str:
    """Lines put in rows top-to-bottom, left-to-right (the ground truth's reading order)."""
    items = sorted(items, key=lambda it: ((it[1] + it[3]) / 2, it[0]))
    rows: list[dict] = []
    for it in items:
        cy, h = (it[1] + it[3]) / 2, it[3] - it[1]
        if rows and abs(rows[-1]["cy"] - cy) <= 0.5 * min(h, rows[-1]["h"]):
            rows[-1]["items"].append(it)
        else:
            rows.append({"cy": cy, "h": h, "items": [it]})
    return "\n".join(" ".join(i[4] for i in sorted(r["items"], key=lambda i: i[0])) for r in rows)


def run_scanrag(
    images: list[Path],
    threads: int,
    device: str = "cpu",
    layout_model: bool = True,
    fast_recognizer: bool = True,
    fixed_shapes: bool | None = None,
    tables: bool = True,
    det_precision: str = "auto",
) -> list[dict]:
    from models.detector import DetectorParams
    from pipelines.engine import EngineParams, OcrEngine

    # as `scanrag ocr DIR` runs: one worker thread per core (one on a GPU), pages of consecutive
    # files in flight
    off: dict = {} if layout_model else {"regions": None}
    if not tables:
        off["tables"] = False
    if not fast_recognizer:
        off["cascade"] = None
    if det_precision != "auto":
        off["detector"] = DetectorParams(precision=det_precision)  # type: ignore[arg-type]
    if fixed_shapes is not None:
        off["fixed_shapes"] = fixed_shapes
        if device == "cpu":  # the rest as a GPU runs too: fp32 detector, small, no column cap
            off |= {"cascade": None, "rec_columns": 1 << 30}
            off["detector"] = DetectorParams(precision="fp32")
    workers = threads if device == "cpu" else 0
    engine = OcrEngine(EngineParams(device=device, workers=workers, **off))
    list(engine.read_path(images[0]))  # warm-up
    out = []
    for event in engine.read_paths(images):
        if event.kind == "failed":
            raise SystemExit(f"{event.source}: {event.error}")
        if event.page is not None:
            d = event.page.to_dict()
            out.append(
                {
                    "image": Path(event.source).name,
                    "text": d["text"],
                    "lines": d["lines"],
                    "words": d["words"],
                    "seconds": d["seconds"],
                }
            )
    return out


def run_rapidocr(images: list[Path], threads: int) -> list[dict]:
    from rapidocr import RapidOCR

    eng = RapidOCR(
        params={
            "Global.use_cls": False,
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        }
    )
    eng(str(images[0]))  # warm-up
    out = []
    for path in images:
        t = time.perf_counter()
        r = eng(str(path))
        items = []
        for b, tx in zip(r.boxes if r.boxes is not None else [], r.txts or [], strict=False):
            xs, ys = [p[0] for p in b], [p[1] for p in b]
            items.append((float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)), str(tx)))
        out.append(
            {
                "image": path.name,
                "text": _rows_text(items),
                "lines": [{"text": i[4], "bbox": list(i[:4])} for i in items],
                "seconds": time.perf_counter() - t,
            }
        )
    return out


def _tesseract_one(path: str) -> dict:
    import pytesseract
    from PIL import Image

    t = time.perf_counter()
    data = pytesseract.image_to_data(
        Image.open(path), config="--oem 1 --psm 3", output_type=pytesseract.Output.DICT
    )
    words, lines = [], {}
    for i, text in enumerate(data["text"]):
        if not text.strip():
            continue
        box = [
            data["left"][i],
            data["top"][i],
            data["left"][i] + data["width"][i],
            data["top"][i] + data["height"][i],
        ]
        words.append({"text": text, "bbox": box})
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append((text, box))
    line_rows = [
        {
            "text": " ".join(t for t, _ in ws),
            "bbox": [
                min(b[0] for _, b in ws),
                min(b[1] for _, b in ws),
                max(b[2] for _, b in ws),
                max(b[3] for _, b in ws),
            ],
        }
        for _, ws in sorted(lines.items())
    ]
    return {
        "image": Path(path).name,
        "text": "\n".join(r["text"] for r in line_rows),
        "lines": line_rows,
        "words": words,
        "seconds": time.perf_counter() - t,
    }


def run_tesseract(images: list[Path], threads: int) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor

    os.environ["OMP_THREAD_LIMIT"] = "1"
    with ProcessPoolExecutor(max_workers=threads) as pool:
        list(pool.map(_tesseract_one, [str(images[0])] * threads))  # warm-up
        return list(pool.map(_tesseract_one, [str(p) for p in images]))


def run_scanrag_rules(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag without the layout model: the row rules order every page."""
    return run_scanrag(images, threads, device, layout_model=False)


def run_scanrag_notables(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag without the table structure step (as before tables: layout model where the
    page has enough long lines)."""
    return run_scanrag(images, threads, device, tables=False)


def run_scanrag_small(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag with PP-OCRv6 small reading every line."""
    return run_scanrag(images, threads, device, fast_recognizer=False)


def run_scanrag_fp32det(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag with the fp32 detector whatever the CPU (``auto`` runs int8 where it pays)."""
    return run_scanrag(images, threads, device, det_precision="fp32")


def run_scanrag_fixed(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag with a GPU's fixed shapes (on a CPU: as a GPU reads, to check its readings)."""
    return run_scanrag(images, threads, device, fixed_shapes=True)


def run_scanrag_dynamic(images: list[Path], threads: int, device: str = "cpu") -> list[dict]:
    """scanrag_fixed's configuration with every run its own shape."""
    return run_scanrag(images, threads, device, fixed_shapes=False)


ENGINES = {
    "scanrag": run_scanrag,
    "scanrag-rules": run_scanrag_rules,
    "scanrag-notables": run_scanrag_notables,
    "scanrag-small": run_scanrag_small,
    "scanrag-fp32det": run_scanrag_fp32det,
    "scanrag-fixed": run_scanrag_fixed,
    "scanrag-dynamic": run_scanrag_dynamic,
    "rapidocr": run_rapidocr,
    "tesseract": run_tesseract,
}
DEFAULT_ENGINES = ["scanrag", "rapidocr", "tesseract"]


def worker(engine: str, gt: Path, out: Path, threads: int, device: str) -> None:
    """Child process: run one engine over the pages of ``gt``; print wall time and peak RSS."""
    base = gt.parent
    images = [base / json.loads(line)["image"] for line in gt.read_text().splitlines() if line]
    start = time.perf_counter()
    if engine.startswith("scanrag"):
        preds = ENGINES[engine](images, threads, device)  # type: ignore[call-arg]
    else:
        preds = ENGINES[engine](images, threads)
    wall = time.perf_counter() - start
    write_jsonl(out, preds)
    rss = peak_rss_mb()
    if engine == "tesseract":
        import resource

        rss += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "pages": len(images), "peak_rss_mb": rss}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", default="holdout", choices=["dev", "holdout"])
    ap.add_argument("--datasets", nargs="+", default=["funsd", "sroie"])
    ap.add_argument("--engines", nargs="+", default=DEFAULT_ENGINES, choices=list(ENGINES))
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda", "auto"],
        help="where scanrag's networks run (the baselines run on the CPU)",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--gt", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--keep", type=Path, help="keep predictions in this folder")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.gt, args.out, args.threads, args.device)
        return
    score = scorer()
    rows = []
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="scanrag-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    for ds in args.datasets:
        gt = SHARED / "data" / "ocr" / ds / args.split / "gt.jsonl"
        base_pps = None
        for engine in args.engines:
            pred = tmp / f"{engine}.{ds}-{args.split}.jsonl"
            res = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    engine,
                    "--gt",
                    str(gt),
                    "--out",
                    str(pred),
                    "--threads",
                    str(args.threads),
                    "--device",
                    args.device,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            stats = json.loads(res.stdout.strip().splitlines()[-1])
            rep, _ = score.score(score.load_jsonl(gt), score.load_jsonl(pred))
            pps = stats["pages"] / stats["wall"]
            if engine == "rapidocr":
                base_pps = pps
            rows.append(
                {
                    "dataset": f"{ds} {args.split}",
                    "engine": engine,
                    "pages": stats["pages"],
                    "CER strict": rep["strict_mean_cer"],
                    "WER strict": rep["strict_mean_wer"],
                    "CER loose": rep["loose_mean_cer"],
                    "WER loose": rep["loose_mean_wer"],
                    "BoW F1 loose": rep["bow_loose_f1"],
                    "line recall": rep.get("det_lines_recall@0.5"),
                    "word recall": rep.get("det_words_recall@0.5"),
                    "pages/s": pps,
                    "peak RSS MB": round(stats["peak_rss_mb"]),
                }
            )
            print(f"# {ds} {engine}: done in {stats['wall']:.1f} s", file=sys.stderr, flush=True)
        for row in rows:
            if row["dataset"] == f"{ds} {args.split}" and base_pps:
                row["x rapidocr speed"] = row["pages/s"] / base_pps
    cols = [
        "dataset",
        "engine",
        "pages",
        "CER strict",
        "WER strict",
        "CER loose",
        "WER loose",
        "BoW F1 loose",
        "line recall",
        "word recall",
        "pages/s",
        "x rapidocr speed",
        "peak RSS MB",
    ]
    print(
        f"threads/processes per engine: {args.threads}; scanrag on {args.device};"
        f" predictions in {tmp}"
    )
    print(table(rows, cols))


if __name__ == "__main__":
    main()
