"""Recognizer batch shapes on a CPU: cost per pixel column, arena on and off, one thread.

    python bench/rec_batches.py [--threads 1] [--reps 3]

Runs the PP-OCRv6 recognizer on random 48-pixel-high batches of several shapes (crops x padded
width) and prints microseconds per pixel column. This chose the CPU cap on a recognizer run's
width (``CPU_REC_COLUMNS`` in pipelines/engine.py) and the onnxruntime arena
(models/ort_sessions.py): wide batches cost more per column, and more so without the arena.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import table
from models.weights import PPOCR_V6_REC, verified_path

SHAPES = [(1, 320), (4, 320), (32, 320), (1, 1024), (2, 512), (8, 1280), (32, 640)]


def session(arena: bool, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = arena
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(verified_path(PPOCR_V6_REC)), opts, providers=["CPUExecutionProvider"]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for arena in (True, False):
        sess = session(arena, args.threads)
        name = sess.get_inputs()[0].name
        for n, w in SHAPES:
            x = rng.uniform(-1, 1, (n, 3, 48, w)).astype(np.float32)
            sess.run(None, {name: x})  # warm-up: this shape's allocations
            t = time.perf_counter()
            for _ in range(args.reps):
                sess.run(None, {name: x})
            ms = (time.perf_counter() - t) / args.reps * 1000
            rows.append(
                {
                    "arena": "on" if arena else "off",
                    "crops": n,
                    "width": w,
                    "columns": n * w,
                    "ms per run": ms,
                    "us per column": ms * 1000 / (n * w),
                }
            )
    print(f"onnxruntime {ort.__version__}, {args.threads} thread(s)")
    print(table(rows, ["arena", "crops", "width", "columns", "ms per run", "us per column"]))


if __name__ == "__main__":
    main()
