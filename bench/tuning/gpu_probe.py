"""Where a page's time goes on a GPU: each network's share, under several CUDA provider options.

    python bench/tuning/gpu_probe.py [--images DIR] [--pages 3] [--repeat 3]
                              [--variants heuristic dynamic default exhaustive nomaxws cpu]
                              [--timeout 120] [--profile]

On the H200 lent on 2026-12-04 (onnxruntime-gpu 1.31.1, CUDA 13) scanrag read a FUNSD page in
13 to 20 s on the GPU, the same page three times in a row in 16.7, 15.0 and 13.3 s, where two
CPU cores read one in about 1 s (docs/BENCHMARKS.md, issue 15, tenth session). This script says
why in one short run. Each variant runs in a fresh process (at most ``--timeout`` seconds): it
reads ``--pages`` page images of ``--images`` (default: FUNSD holdout) ``--repeat`` times each
through OcrEngine and reports each reading's seconds and the seconds spent in each network's
``session.run`` (text detector, recognizer, layout regions), so that what is left
(Python, OpenCV, copies) shows too. Variants set onnxruntime's CUDA provider options
(``models.ort_sessions.CUDA_OPTIONS``):

  heuristic   cudnn_conv_algo_search=HEURISTIC, fixed shapes (what scanrag runs on CUDA)
  dynamic     the same with every run its own shape (SCANRAG_OCR__CUDA_FIXED_SHAPES=false,
              what scanrag ran before: each run's shape differs from the previous run's)
  default     cudnn_conv_algo_search=DEFAULT (one fixed algorithm, cuDNN is not asked)
  exhaustive  cudnn_conv_algo_search=EXHAUSTIVE (each shape benchmarked once, then cached)
  nomaxws     HEURISTIC with cudnn_conv_use_max_workspace=0
  cpu         the CPU path on this machine, for reference

With ``--profile`` each variant also turns on onnxruntime's profiler and prints, per provider
and operator, the node time of all its runs (which nodes ran where, and which cost the most).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import SHARED, table

VARIANTS: dict[str, dict[str, str]] = {
    "heuristic": {"cudnn_conv_algo_search": "HEURISTIC"},
    "dynamic": {"cudnn_conv_algo_search": "HEURISTIC"},
    "default": {"cudnn_conv_algo_search": "DEFAULT"},
    "exhaustive": {"cudnn_conv_algo_search": "EXHAUSTIVE"},
    "nomaxws": {"cudnn_conv_algo_search": "HEURISTIC", "cudnn_conv_use_max_workspace": "0"},
    "cpu": {},
}
DYNAMIC = {"dynamic", "cpu"}  # the variants whose runs each take their own shape


class Timed:
    """A session whose ``run`` calls add their seconds to ``spent[name]``."""

    def __init__(self, session: Any, name: str, spent: Counter[str]) -> None:
        self._session, self._name, self._spent = session, name, spent

    def run(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._session.run(*args, **kwargs)
        finally:
            self._spent[self._name] += time.perf_counter() - start

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._session, attr)


def _sessions(models: Any) -> dict[str, Any]:
    """The objects holding an onnxruntime session, by network."""
    out = {"detector": models.detector, "recognizer": models.recognizer}
    if models.regions is not None:
        out["regions"] = models.regions
    rec = models.recognizer
    if hasattr(rec, "fast"):  # the CPU's cascade: tiny first, small for unsure words
        out = {**out, "recognizer": rec.accurate, "recognizer tiny": rec.fast}
    return out


def _profile_summary(files: list[str]) -> list[dict[str, Any]]:
    """Node time per (provider, operator) over onnxruntime profile files, largest first."""
    spent: Counter[tuple[str, str]] = Counter()
    count: Counter[tuple[str, str]] = Counter()
    for name in files:
        for event in json.loads(Path(name).read_text()):
            args = event.get("args", {})
            if event.get("cat") == "Node" and "op_name" in args:
                key = (args.get("provider", "?"), args["op_name"])
                spent[key] += event.get("dur", 0) / 1e6
                count[key] += 1
    return [
        {"provider": p, "operator": op, "nodes run": count[(p, op)], "seconds": round(s, 3)}
        for (p, op), s in spent.most_common(12)
    ]


def child(variant: str, images: list[Path], repeat: int, profile: bool) -> None:
    """Read ``images`` ``repeat`` times each under ``variant``; print a JSON line per reading
    (and the profile summary last)."""
    import onnxruntime as ort

    from models import ort_sessions
    from models.ort_sessions import SessionPerShape
    from pipelines.engine import EngineParams, OcrEngine

    ort_sessions.CUDA_OPTIONS.clear()  # the variant's options stand in for scanrag's
    ort_sessions.CUDA_OPTIONS.update(VARIANTS[variant])
    profiles = Path(tempfile.mkdtemp(prefix="scanrag-ort-profile-"))
    if profile:
        base = ort.SessionOptions

        class Profiled(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__()
                self.enable_profiling = True
                self.profile_file_prefix = str(profiles / "ort")

        ort_sessions.ort.SessionOptions = Profiled  # type: ignore[misc]
    start = time.perf_counter()
    device = "cpu" if variant == "cpu" else "cuda"
    engine = OcrEngine(EngineParams(device=device, fixed_shapes=variant not in DYNAMIC))
    models = engine.models()
    load = time.perf_counter() - start
    spent: Counter[str] = Counter()
    holders = _sessions(models)
    for name, holder in holders.items():
        holder.session = Timed(holder.session, name, spent)
    providers = " ".join(sorted({h.session.get_providers()[0] for h in holders.values()}))
    for image in images:
        for k in range(repeat):
            spent.clear()
            start = time.perf_counter()
            list(engine.read_path(image))
            seconds = time.perf_counter() - start
            # a line per reading, as it ends: a variant stopped at its time limit still reports
            reading = {"page": image.name, "reading": k + 1, "seconds": seconds}
            print(json.dumps(reading | {"load": load, "providers": providers, "spent": spent}))
            sys.stdout.flush()
    if profile:
        files = []
        for holder in holders.values():
            session = holder.session._session  # under Timed
            shaped = isinstance(session, SessionPerShape)
            for each in session.sessions() if shaped else [session]:
                files.append(each.end_profiling())
        print(json.dumps({"profile": _profile_summary(files)}))
    shutil.rmtree(profiles, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=Path, default=SHARED / "data/ocr/funsd/holdout/images")
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--timeout", type=float, default=120, help="seconds per variant")
    ap.add_argument("--profile", action="store_true", help="onnxruntime's per-node profile")
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    images = sorted(p for p in args.images.iterdir() if p.suffix in (".png", ".jpg"))
    images = images[: args.pages]
    if args.child:
        child(args.child, images, args.repeat, args.profile)
        return
    rows, profiles = [], {}
    for variant in args.variants:
        cmd = [sys.executable, __file__, "--child", variant, "--images", str(args.images)]
        cmd += ["--pages", str(args.pages), "--repeat", str(args.repeat)]
        cmd += ["--profile"] if args.profile else []
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=False
            )
            stdout, note = done.stdout, "" if done.returncode == 0 else "failed"
            if note:
                print(f"# {variant} failed: {done.stderr[-1500:]}", file=sys.stderr, flush=True)
        except subprocess.TimeoutExpired as stopped:
            raw = stopped.stdout or b""
            stdout = raw.decode() if isinstance(raw, bytes) else raw
            note = f"stopped at {args.timeout:.0f} s"
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        for line in lines:
            if "profile" in line:
                profiles[variant] = line["profile"]
                continue
            rows.append(
                {
                    "variant": variant,
                    "providers": line["providers"],
                    "load s": round(line["load"], 2),
                    "page": line["page"],
                    "reading": line["reading"],
                    "seconds": round(line["seconds"], 3),
                }
                | {f"{n} s": round(t, 3) for n, t in line["spent"].items()}
            )
        if note:
            rows.append({"variant": variant, "page": note})
        print(f"# {variant}: {len(lines)} lines {note}", file=sys.stderr, flush=True)
    columns = ["variant", "providers", "load s", "page", "reading", "seconds"]
    columns += sorted({c for r in rows for c in r if c.endswith(" s") and c not in columns})
    print(table(rows, columns))
    for variant, summary in profiles.items():
        if summary:
            print(f"\n{variant}: node time by provider and operator (all runs)")
            print(table(summary, ["provider", "operator", "nodes run", "seconds"]))


if __name__ == "__main__":
    main()
