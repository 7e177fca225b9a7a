"""Dense multi-column pages: `scanrag ocr` as a cold CLI process against the Tesseract CLI.

    python bench/dense.py [--repeats 3] [--extra 4] [--variants] [--variant-pages 10]
    bench/cpu_vm.sh ".venv/bin/python bench/dense.py"      # the same on the AVX2-only class

Pages: every page of the layout dev split (shared/data/layout/dev, 23 pages of two- and
three-column papers, newspapers and figure/table pages), rasterised by scanrag's loader at the
configured dpi (200) as bench/layout.py does, plus the first ``--extra`` pages again turned by
1 degree (a skewed scan of the same page, same reference text); all as PNG files.

1. Both engines over the same PNG folder, in the same run, ``--repeats`` times, the order of the
   two legs alternating per repeat, after one untimed run of each (files in the page cache):
     scanrag    `scanrag ocr DIR --format text --out OUT`: one cold process, start-up counted
     tesseract  `tesseract IMG OUT --oem 1 --psm 3` per page, OMP_THREAD_LIMIT=1, 2 processes at
                a time (`xargs -P 2`)
   ratio = Tesseract wall / scanrag wall of the same repeat (> 1: scanrag faster); the median
   repeat is reported with every repeat's load average (1 min) before its legs. The CPU seconds
   (user + system of every process a leg started) are reported too: on a machine shared with
   other work a leg of many threads (scanrag) gets a larger share of the cores than one of two
   single-threaded processes, so the CPU ratio is the fairer one under load. Loose CER
   (shared/tools/ocr_score.py normalisation, character edits / reference characters over all
   pages) of both outputs against key.json's page text.
2. ``--variants``: the detector's precision (int8, fp32) and the recognizer (the tiny->small
   cascade, small alone) of `scanrag ocr`, through its settings (SCANRAG_OCR__DET_PRECISION,
   SCANRAG_OCR__FAST_RECOGNIZER), each a cold CLI run over the first ``--variant-pages`` pages,
   interleaved per repeat; plus the detector alone in-process (ms/page of its network, one
   warm-up page), so that what ``auto`` picks on this CPU class can be checked.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, cpu_class, scorer, table


def rasterise(data: Path, dpi: int, extra: int, out: Path) -> dict[str, str]:
    """Every page of the split's PDFs as ``out/<pdf stem>-p<n>.png`` (scanrag's loader at
    ``dpi``), then the first ``extra`` pages again turned by 1 degree; returns each image's
    stem -> its reference text."""
    import json

    from core.config import Settings
    from pipelines.load import open_document
    from workers.context import load_params

    key = json.loads((data / "key.json").read_text(encoding="utf-8"))
    settings = Settings()
    settings.ocr.dpi = dpi
    load = load_params(settings)
    refs: dict[str, str] = {}
    for pdf, pages in key["pages"].items():
        for page in open_document(data / pdf, load).pages():
            stem = f"{Path(pdf).stem}-p{page.number}"
            # level 1: these files live for one run, speed matters more than size
            Image.fromarray(page.image).save(out / f"{stem}.png", compress_level=1)
            refs[stem] = pages[str(page.number)]
    for stem in list(refs)[:extra]:
        img = Image.open(out / f"{stem}.png").convert("RGB")
        turned = img.rotate(1.0, resample=Image.Resampling.BICUBIC, fillcolor="white")
        turned.save(out / f"{stem}-turned.png", compress_level=1)
        refs[f"{stem}-turned"] = refs[stem]
    return refs


def scanrag_cmd(images: Path, out: Path) -> list[str]:
    """`scanrag ocr` of the folder as a user runs it (the console script of this venv)."""
    exe = Path(sys.executable).with_name("scanrag")
    return [str(exe), "ocr", str(images), "--format", "text", "--out", str(out)]


def tesseract_cmd(images: Path, out: Path, processes: int) -> str:
    """The Tesseract CLI over the folder, ``processes`` pages at a time, one thread each."""
    one = 'tesseract "$1" "$2/$(basename "$1" .png)" --oem 1 --psm 3 >/dev/null 2>&1'
    return (
        f"ls {shlex.quote(str(images))}/*.png | OMP_THREAD_LIMIT=1 xargs -P {processes} -I{{}} "
        f"sh -c {shlex.quote(one)} _ {{}} {shlex.quote(str(out))}"
    )


def timed(cmd: list[str] | str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, every process it started) of one run of
    ``cmd`` (a list, or a shell line); fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, shell=isinstance(cmd, str), env=env, capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd!r} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def loose_cer(refs: dict[str, str], texts: dict[str, str]) -> float:
    """Character edits over reference characters, all pages together, loose normalisation."""
    ocr = scorer()
    edits = chars = 0
    for stem, ref in refs.items():
        e, n = ocr._char_counts(ocr.norm_loose(ref), ocr.norm_loose(texts.get(stem, "")))
        edits, chars = edits + e, chars + n
    return edits / max(chars, 1)


def read_outputs(out: Path, suffix: str) -> dict[str, str]:
    """Each output file's text by page stem (``suffix``: what the engine appends to it)."""
    return {
        p.name.removesuffix(suffix): p.read_text(encoding="utf-8")
        for p in out.iterdir()
        if p.name.endswith(suffix)
    }


def versus_rows(
    images: Path, refs: dict[str, str], work: Path, repeats: int, processes: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Table 1's repeats (one row each) and the summary row (median repeat, CERs)."""
    outs = {"scanrag": work / "out-scanrag", "tesseract": work / "out-tesseract"}
    for d in outs.values():
        d.mkdir()
    legs: dict[str, list[str] | str] = {
        "scanrag": scanrag_cmd(images, outs["scanrag"]),
        "tesseract": tesseract_cmd(images, outs["tesseract"], processes),
    }
    for cmd in legs.values():  # untimed: files and libraries in the page cache
        timed(cmd)
    rows = []
    for r in range(repeats):
        order = ["scanrag", "tesseract"] if r % 2 == 0 else ["tesseract", "scanrag"]
        row: dict[str, Any] = {"repeat": r + 1, "first": order[0]}
        for leg in order:
            row[f"load {leg}"] = os.getloadavg()[0]
            row[f"{leg} s"], row[f"{leg} cpu s"] = timed(legs[leg])
        row["ratio"] = row["tesseract s"] / row["scanrag s"]
        row["cpu ratio"] = row["tesseract cpu s"] / row["scanrag cpu s"]
        rows.append(row)
    median = sorted(rows, key=lambda x: x["ratio"])[len(rows) // 2]
    n = len(refs)
    summary = {
        "pages": n,
        "scanrag s/page": median["scanrag s"] / n,
        "tesseract s/page": median["tesseract s"] / n,
        "ratio (median)": median["ratio"],
        "ratio min-max": f"{min(x['ratio'] for x in rows):.2f}-{max(x['ratio'] for x in rows):.2f}",
        "cpu ratio (median)": statistics.median(x["cpu ratio"] for x in rows),
        "CER scanrag": loose_cer(refs, read_outputs(outs["scanrag"], ".png.txt")),
        "CER tesseract": loose_cer(refs, read_outputs(outs["tesseract"], ".txt")),
    }
    return rows, summary


VARIANTS = {
    "int8 det + cascade": {"SCANRAG_OCR__DET_PRECISION": "int8"},
    "fp32 det + cascade": {"SCANRAG_OCR__DET_PRECISION": "fp32"},
    "int8 det + small": {
        "SCANRAG_OCR__DET_PRECISION": "int8",
        "SCANRAG_OCR__FAST_RECOGNIZER": "false",
    },
    "fp32 det + small": {
        "SCANRAG_OCR__DET_PRECISION": "fp32",
        "SCANRAG_OCR__FAST_RECOGNIZER": "false",
    },
}


def variant_rows(
    images: Path, refs: dict[str, str], work: Path, pages: int, repeats: int
) -> list[dict[str, Any]]:
    """Table 2: each detector precision x recognizer of `scanrag ocr` on the first ``pages``
    pages, cold CLI runs interleaved per repeat (the variant order turns each repeat)."""
    sub = work / "variant-pages"
    sub.mkdir()
    chosen = dict(list(refs.items())[:pages])
    for stem in chosen:
        (sub / f"{stem}.png").symlink_to(images / f"{stem}.png")
    names = list(VARIANTS)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    texts: dict[str, dict[str, str]] = {}
    for r in range(repeats + 1):  # the first round untimed: models built, files cached
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out = work / f"variant-{names.index(name)}-{r}"
            out.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith("SCANRAG_OCR__")}
            wall, cpu = timed(scanrag_cmd(sub, out), env={**env, **VARIANTS[name]})
            if r:
                walls[name].append(wall)
                cpus[name].append(cpu)
            texts[name] = read_outputs(out, ".png.txt")
    base = statistics.median(walls[names[0]])
    base_cpu = statistics.median(cpus[names[0]])
    rows = []
    for name in names:
        med, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        rows.append(
            {
                "variant": name,
                "s/page (median, start-up in)": med / pages,
                "vs int8 det + cascade": base / med,
                "cpu s/page": cpu / pages,
                "cpu vs int8 det + cascade": base_cpu / cpu,
                "CER loose": loose_cer(chosen, texts[name]),
            }
        )
    return rows


def detector_rows(images: Path, stems: list[str]) -> list[dict[str, Any]]:
    """Table 3: the detector network alone, each precision, ms/page over ``stems`` (one
    onnxruntime thread per core as the engine has it, one warm-up page first)."""
    import numpy as np

    from models.detector import DetectorParams, TextDetector

    pages = [np.asarray(Image.open(images / f"{s}.png").convert("RGB")) for s in stems]
    rows: list[dict[str, Any]] = []
    for precision in ("int8", "fp32"):
        det = TextDetector.load(device="cpu", threads=0, params=DetectorParams(precision=precision))
        det.probability_maps(pages[:1])
        start = time.perf_counter()
        for page in pages:
            det.probability_maps([page])
        wall = time.perf_counter() - start
        rows.append({"detector": precision, "ms/page": 1000 * wall / len(pages)})
    rows[1]["int8 speed-up"] = rows[1]["ms/page"] / rows[0]["ms/page"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "layout" / "dev")
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--extra", type=int, default=4, help="first pages again, turned 1 degree")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2, help="Tesseract processes at a time")
    ap.add_argument("--variants", action="store_true", help="tables 2 and 3 instead of table 1")
    ap.add_argument("--variant-pages", type=int, default=10)
    args = ap.parse_args()
    if not (args.data / "key.json").exists():
        raise SystemExit(f"no {args.data}/key.json (shared data absent)")

    with tempfile.TemporaryDirectory(prefix="scanrag-dense-") as tmp:
        work = Path(tmp)
        images = work / "pages"
        images.mkdir()
        refs = rasterise(args.data, args.dpi, args.extra, images)
        cls = cpu_class()
        if args.variants:
            rows = variant_rows(images, refs, work, args.variant_pages, args.repeats)
            print(
                f"## Detector precision and recognizer, `scanrag ocr` cold, "
                f"{args.variant_pages} dense pages at {args.dpi} dpi (CPU: {cls}; "
                f"{args.repeats} repeats)\n"
            )
            print(table(rows, list(rows[0])))
            det = detector_rows(images, list(refs)[: args.variant_pages])
            print(f"\n## Detector network alone, in-process (CPU: {cls})\n")
            print(table(det, ["detector", "ms/page", "int8 speed-up"]))
            return
        reps, summary = versus_rows(images, refs, work, args.repeats, args.processes)
        print(
            f"## Dense pages: `scanrag ocr` (cold CLI) vs Tesseract CLI ({args.processes} x 1 "
            f"thread), {len(refs)} pages at {args.dpi} dpi (CPU: {cls})\n"
        )
        print(table([summary], list(summary)))
        print("\nRepeats (wall s; load average 1 min before each leg):\n")
        print(table(reps, list(reps[0])))
        print("\nTarget: ratio >= 1.2 (Tesseract wall / scanrag wall), CER not worse.")


if __name__ == "__main__":
    main()
