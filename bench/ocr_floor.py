"""Where a page's CPU goes, one thread: scanrag by network, RapidOCR by stage, and the ceiling
that scanrag's recognizer sets on its speed against RapidOCR.

    python bench/ocr_floor.py [--split holdout|dev] [--datasets funsd sroie] [--pages N]
                              [--rate]

Both engines read the same pages one at a time on one thread (onnxruntime and BLAS at one
thread each), after one warm-up page; CPU seconds are this process's (``time.process_time``),
each network's its calling thread's (``time.thread_time`` around its ``detect``/``recognize``).

On forms and receipts PP-OCRv6 small reads nearly every line in scanrag (tiny's reading stands
only where it is sure, and on form fields it rarely is), and small is the network RapidOCR's
pipeline reads every line with. So, whatever else scanrag does, its pages cannot cost less
than small's CPU, and ``ceiling x RapidOCR`` (RapidOCR's CPU a page over small's) bounds its
speed against RapidOCR on one thread. RapidOCR on two threads keeps fewer than two cores busy,
so the same bound on two cores is its two-thread wall time times two over small's CPU: pass
``--rapidocr-pps`` with the pages/s that ``bench/ocr.py`` measured in the same session.

``--rate``: also run small's batches from these pages again under onnxruntime's profiler and
print the arithmetic rate of its convolutions (GFLOP/s; multiply-adds count 2) beside a plain
fp32 matrix product on this thread: the rate there is left to gain at fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import SHARED, table

SMALL_MIN_CLASSES = 1000  # small's narrowed head has 1,503 classes, tiny's far fewer


class Timings:
    """CPU seconds by network (``cpu``), recognizer pixel columns (``columns``) and, when
    ``keep``, small's crops call by call (``batches``), gathered while ``timed()`` is open."""

    def __init__(self, keep: bool) -> None:
        self.cpu: Counter[str] = Counter()
        self.columns: Counter[str] = Counter()
        self.batches: list[list[np.ndarray]] = []
        self.keep = keep

    def clear(self) -> None:
        """Forget the CPU seconds and columns (the crops kept stay)."""
        self.cpu.clear()
        self.columns.clear()

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Wrap each network's ``detect``/``recognize`` in a timer; the originals come back at
        the end."""
        from models import detector, layout_detector, recognizer

        targets = [
            (recognizer.TextRecognizer, "recognize"),
            (detector.TextDetector, "detect"),
            (layout_detector.RegionDetector, "detect"),
        ]
        originals = [(cls, method, getattr(cls, method)) for cls, method in targets]
        for cls, method, original in originals:
            setattr(cls, method, self._wrap(original, method == "recognize"))
        try:
            yield
        finally:
            for cls, method, original in originals:
                setattr(cls, method, original)

    def _wrap(self, original: Callable[..., Any], reads: bool) -> Callable[..., Any]:
        from models.recognizer import MIN_WIDTH

        def wrapped(model: Any, items: list[np.ndarray]) -> Any:
            start = time.thread_time()
            out = original(model, items)
            if not reads:
                key = "layout model" if type(model).__name__ == "RegionDetector" else "detector"
            else:
                key = "small" if len(model.charset) > SMALL_MIN_CLASSES else "tiny"
                self.columns[key] += sum(max(MIN_WIDTH, crop.shape[1]) for crop in items)
                if self.keep and key == "small":
                    self.batches.append([crop.copy() for crop in items])
            self.cpu[key] += time.thread_time() - start
            return out

        return wrapped


def scanrag_pages(images: list[Path], timings: Timings) -> dict[str, Any]:
    """scanrag's CPU a page, whole and by network (``timings`` keeps what it measured)."""
    from pipelines.engine import EngineParams, OcrEngine

    with timings.timed():
        engine = OcrEngine(EngineParams(device="cpu", workers=1, threads=1))
        kept = len(timings.batches)
        list(engine.read_path(images[0]))  # warm-up: neither timed nor kept
        timings.clear()
        del timings.batches[kept:]
        start = time.process_time()
        for path in images:
            list(engine.read_path(path))
        total = time.process_time() - start
    n = len(images)
    cpu = timings.cpu
    row: dict[str, Any] = {"CPU s a page": total / n}
    for key in ("detector", "small", "tiny", "layout model"):
        row[key] = cpu[key] / n
    row["rest"] = (total - sum(cpu.values())) / n
    row["small columns a page"] = timings.columns["small"] // n
    return row


def rapidocr_pages(images: list[Path]) -> dict[str, Any]:
    """RapidOCR's CPU a page, whole and by stage (its own ``elapse_list``: wall seconds, which
    on one thread are CPU seconds)."""
    from rapidocr import RapidOCR

    eng = RapidOCR(
        params={
            "Global.use_cls": False,
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        }
    )
    eng(str(images[0]))  # warm-up
    stages: Counter[str] = Counter()
    start = time.process_time()
    for path in images:
        result = eng(str(path))
        for key, seconds in zip(("detector", "cls", "small"), result.elapse_list, strict=False):
            stages[key] += seconds or 0.0
    total = time.process_time() - start
    n = len(images)
    row: dict[str, Any] = {"CPU s a page": total / n}
    row["detector"] = stages["detector"] / n
    row["small"] = stages["small"] / n
    row["rest"] = (total - stages["detector"] - stages["small"]) / n
    return row


def conv_rate(batches: list[list[np.ndarray]]) -> list[dict[str, Any]]:
    """small's convolutions under onnxruntime's profiler, one thread, over ``batches`` (batched
    as the engine batches them on a CPU), beside a plain fp32 matrix product."""
    import onnxruntime as ort

    from models import recognizer as rec
    from models.rec_head import narrowed_model
    from models.weights import PPOCR_V6_REC, verified_path
    from pipelines.engine import CPU_REC_COLUMNS

    model, charset = narrowed_model(verified_path(PPOCR_V6_REC), "western")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_profiling = True
    opts.log_severity_level = 3
    opts.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="scanrag-floor-")) / "small")
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    # the engine's own batching on a CPU (TextRecognizer.recognize), on a profiled session
    small = rec.TextRecognizer(session, charset, batch=32, max_columns=CPU_REC_COLUMNS)
    for crops in batches:
        small.recognize(crops)
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    micros: Counter[str] = Counter()
    flops: Counter[str] = Counter()
    for ev in events:
        if ev.get("cat") != "Node" or not ev["name"].endswith("_kernel_time"):
            continue
        op = ev["args"]["op_name"]
        micros["all operators"] += ev["dur"]
        if op != "Conv":
            continue
        (w_shape,) = ev["args"]["input_type_shape"][1].values()
        (y_shape,) = ev["args"]["output_type_shape"][0].values()
        # per output element: one multiply-add per weight of its output channel
        work = 2.0 * float(np.prod(y_shape)) * float(np.prod(w_shape[1:]))
        kind = "1x1 convolutions" if w_shape[2:] == [1, 1] else "other convolutions"
        if w_shape[1] == 1:
            kind = "depthwise convolutions"
        micros[kind] += ev["dur"]
        flops[kind] += work
    total = micros["all operators"]
    rows = [
        {
            "small's operators": kind,
            "share of its time": micros[kind] / total,
            "GFLOP/s": flops[kind] / micros[kind] / 1e3 if flops[kind] else None,
        }
        for kind in ("1x1 convolutions", "other convolutions", "depthwise convolutions")
    ]
    a = np.random.default_rng(0).random((384, 768), dtype=np.float32)
    b = np.random.default_rng(1).random((768, 4096), dtype=np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    rate = 20 * 2 * 384 * 768 * 4096 / (time.perf_counter() - start) / 1e9
    rows.append({"small's operators": "numpy fp32 384x768 @ 768x4096", "GFLOP/s": rate})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", default="holdout", choices=["dev", "holdout"])
    ap.add_argument("--datasets", nargs="+", default=["funsd", "sroie"])
    ap.add_argument("--pages", type=int, default=0, help="the first N pages only (0: all)")
    ap.add_argument(
        "--rapidocr-pps",
        nargs="*",
        default=[],
        metavar="DATASET=PPS",
        help="RapidOCR's pages/s on all cores from bench/ocr.py (same session), per dataset",
    )
    ap.add_argument("--rate", action="store_true", help="small's convolutions' GFLOP/s too")
    args = ap.parse_args()
    pps = dict(item.split("=", 1) for item in args.rapidocr_pps)
    rows: list[dict[str, Any]] = []
    bounds: list[dict[str, Any]] = []
    timings = Timings(keep=args.rate)
    with threadpool_limits(1):
        for ds in args.datasets:
            base = SHARED / "data" / "ocr" / ds / args.split
            lines = (base / "gt.jsonl").read_text().splitlines()
            images = [base / json.loads(line)["image"] for line in lines if line]
            images = images[: args.pages] if args.pages else images
            ours = scanrag_pages(images, timings)
            theirs = rapidocr_pages(images)
            label = f"{ds} {args.split}, {len(images)}"
            rows.append({"pages": label, "engine": "scanrag", **ours})
            rows.append({"pages": label, "engine": "RapidOCR", **theirs})
            bound: dict[str, Any] = {
                "pages": label,
                "x RapidOCR now, 1 thread": theirs["CPU s a page"] / ours["CPU s a page"],
                "ceiling x RapidOCR, 1 thread": theirs["CPU s a page"] / ours["small"],
            }
            if ds in pps:
                cores = len(os.sched_getaffinity(0))
                bound["ceiling x RapidOCR, all cores"] = cores / float(pps[ds]) / ours["small"]
            bounds.append(bound)
            print(f"# {ds}: done", file=sys.stderr, flush=True)
    cols = ["pages", "engine", "CPU s a page", "detector", "small", "tiny", "layout model", "rest"]
    print(table(rows, [*cols, "small columns a page"]))
    print()
    bound_cols = ["pages", "x RapidOCR now, 1 thread", "ceiling x RapidOCR, 1 thread"]
    if pps:
        bound_cols.append("ceiling x RapidOCR, all cores")
    print(table(bounds, bound_cols))
    if args.rate:
        with threadpool_limits(1):
            print()
            rate_cols = ["small's operators", "share of its time", "GFLOP/s"]
            print(table(conv_rate(timings.batches), rate_cols))


if __name__ == "__main__":
    main()
