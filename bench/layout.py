"""Layout benchmark: multi-column "scans" (shared/data/layout/dev) read, timed and searched.

    python bench/layout.py [--data DIR] [--keep DIR] [--engines scanrag,tesseract] [--skip-rag]
                           [--pages N] [--layouts paper2,news3,figtab2]

The pages are the image-only PDFs of ``key.json`` in three layouts (paper2: spanning title and
abstract over two columns; news3: three ruled columns; figtab2: two columns, a figure with its
caption, a page-wide table, a footer), rasterised by scanrag's loader at the configured dpi (200).

1. Reading order, per layout and overall, against key.json's page text, scored with
   shared/tools/ocr_score.py (loose CER is order-sensitive, bag-of-words F1 is not):
     scanrag    the engine in-process as `scanrag ocr` builds it from the settings (one reading
                thread per core, one onnxruntime thread per model), reading the PDFs themselves
     tesseract  Tesseract 5 `--oem 1 --psm 3` (bench/ocr.py's call), OMP_THREAD_LIMIT=1, one
                process per core, on PNGs of the same rasterised pages
   One warm-up page per engine first; pages/s = pages / wall seconds of that layout's run.
2. Layout model cost: the region model (models/layout_detector.py), one onnxruntime thread, one
   page per call, on the same page images, against scanrag's reading of those pages in the same
   run: wall ms/page (the engine with all its workers) and CPU ms/page (process time, all threads).
3. Passages (not with --skip-rag): the PDFs ingested into a fresh SCANRAG_HOME with `scanrag
   ingest`, every question asked with `scanrag search --queries --json -k 5` (bench/rag.py's
   runner); page Recall@1/@5 and the intact-passage rate of bench/passages.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, scorer, table, write_jsonl
from bench.ocr import _tesseract_one
from bench.passages import answer_passage, intact_rate, is_intact, join_lines
from bench.rag import metrics, scanrag
from bench.squad_corpus import load_squad

LAYOUTS = ("paper2", "news3", "figtab2")
ENGINES = ("scanrag", "tesseract")


@dataclass
class Run:
    """One timed read of a layout's pages: predictions (``ocr_score.py`` rows), wall and CPU s."""

    preds: list[dict[str, Any]]
    wall: float
    cpu: float | None = None


def page_name(pdf: str, page: int) -> str:
    """The image name of a page: the key both engines' predictions and the reference share."""
    return f"{Path(pdf).stem}-p{page}.png"


def select_documents(key: dict[str, Any], layouts: list[str], max_pages: int | None) -> list[str]:
    """PDF names of ``layouts`` in key order; with ``max_pages``, the first documents until that
    many pages are reached (whole documents, so the engine reads them as `scanrag ocr` would)."""
    docs = [pdf for pdf in key["pages"] if key["layouts"][pdf] in layouts]
    if max_pages is None:
        return docs
    chosen: list[str] = []
    for pdf in docs:
        if sum(len(key["pages"][d]) for d in chosen) >= max_pages:
            break
        chosen.append(pdf)
    return chosen


def rasterise(data: Path, docs: list[str], load: Any, out: Path) -> dict[str, list[Path]]:
    """Every page of ``docs`` rendered by scanrag's loader and saved as PNG (lossless) in ``out``;
    returns the image paths per document, in page order."""
    from pipelines.load import open_document

    images: dict[str, list[Path]] = {}
    for pdf in docs:
        for page in open_document(data / pdf, load).pages():
            path = out / page_name(pdf, page.number)
            # level 1: these files live for one run, speed matters more than size
            Image.fromarray(page.image).save(path, compress_level=1)
            images.setdefault(pdf, []).append(path)
    return images


def _pred(page: Any) -> dict[str, Any]:
    d = page.to_dict()
    blocks = [{"kind": b["kind"], "bbox": b["bbox"]} for b in d["blocks"]]
    for b, block in zip(blocks, page.blocks, strict=True):
        b["text"] = block.text
    return {
        "image": page_name(Path(page.source).name, page.page),
        "text": d["text"],
        "blocks": blocks,
        "seconds": d["seconds"],
    }


def read_scanrag(data: Path, groups: dict[str, list[str]], settings: Any) -> dict[str, Run]:
    """Each group's PDFs read by the engine (one timed ``read_paths`` per group), after one
    warm-up page, on the CPU."""
    from pipelines.load import open_document
    from workers.context import build_ocr_engine, load_params

    engine = build_ocr_engine(settings, "cpu")
    load = load_params(settings)
    first = data / next(d for docs in groups.values() for d in docs)
    list(engine.read(open_document(first, load), stop=1))  # models load, arenas grow
    runs = {}
    for group, docs in groups.items():
        cpu, start = time.process_time(), time.perf_counter()
        preds = []
        for event in engine.read_paths([data / d for d in docs], load):
            if event.kind == "failed":
                raise SystemExit(f"{event.source}: {event.error}")
            if event.page is not None:
                preds.append(_pred(event.page))
        runs[group] = Run(preds, time.perf_counter() - start, time.process_time() - cpu)
    return runs


def read_tesseract(groups: dict[str, list[Path]], processes: int) -> dict[str, Run]:
    """Each group's page images read by bench/ocr.py's Tesseract call, ``processes`` at once.

    bench/ocr.py's run_tesseract times its warm-up with the pages; here one pool serves every
    group, so that each group's wall time is its pages only.
    """
    old = os.environ.get("OMP_THREAD_LIMIT")
    # one thread per process (the default OpenMP build oversubscribes the cores 4-6x); set only
    # while the pool lives, so the ingest subprocesses later keep torch's threads
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        # spawn: this process already runs onnxruntime's threads, which a fork would copy badly
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
            first = str(next(iter(groups.values()))[0])
            list(pool.map(_tesseract_one, [first] * processes))  # warm-up
            runs = {}
            for group, images in groups.items():
                start = time.perf_counter()
                preds = list(pool.map(_tesseract_one, [str(p) for p in images]))
                runs[group] = Run(preds, time.perf_counter() - start)
            return runs
    finally:
        if old is None:
            del os.environ["OMP_THREAD_LIMIT"]
        else:
            os.environ["OMP_THREAD_LIMIT"] = old


def time_layout_model(images: list[Path]) -> dict[str, tuple[float, float, int]] | str:
    """Per image name: (wall s, CPU s, regions) of the layout region model on that page, one
    onnxruntime thread, one page per call, after a warm-up page; a reason string when the model
    cannot be loaded."""
    try:
        from core.errors import ScanragError
        from models.layout_detector import RegionParams, get_region_detector
    except ImportError as exc:
        return f"layout model not installed ({exc})"
    try:
        detector = get_region_detector(device="cpu", threads=1, params=RegionParams())
    except ScanragError as exc:
        return f"layout model not installed ({exc.message})"
    arrays = {p.name: np.asarray(Image.open(p).convert("RGB")) for p in images}
    detector.detect([next(iter(arrays.values()))])  # warm-up
    out = {}
    for name, image in arrays.items():
        cpu, start = time.process_time(), time.perf_counter()
        regions = detector.detect([image])[0]
        out[name] = (time.perf_counter() - start, time.process_time() - cpu, len(regions))
    return out


def reading_order_rows(
    key: dict[str, Any], runs: dict[str, dict[str, Run]], layouts: list[str]
) -> list[dict[str, Any]]:
    """Score rows per engine, per layout and overall (pages/s over the summed wall time)."""
    score = scorer()
    rows = []
    for engine, by_layout in runs.items():
        for group in [*layouts, "all"]:
            part = [by_layout[g] for g in (layouts if group == "all" else [group])]
            preds = [p for r in part for p in r.preds]
            names = {p["image"] for p in preds}
            gt = [
                {"image": page_name(pdf, int(n)), "text": text}
                for pdf, pages in key["pages"].items()
                for n, text in pages.items()
                if page_name(pdf, int(n)) in names
            ]
            rep, _ = score.score(gt, preds)
            wall = sum(r.wall for r in part)
            rows.append(
                {
                    "engine": engine,
                    "layout": group,
                    "pages": rep["pages"],
                    "CER loose": rep["loose_mean_cer"],
                    "CER strict": rep["strict_mean_cer"],
                    "BoW F1 loose": rep["bow_loose_f1"],
                    "pages/s": len(preds) / wall if wall else None,
                }
            )
    return rows


def cost_rows(
    ocr: dict[str, Run], model: dict[str, tuple[float, float, int]], layouts: list[str]
) -> list[dict[str, Any]]:
    """Layout model ms/page against scanrag's OCR ms/page (wall and CPU), per layout and overall."""
    rows = []
    for group in [*layouts, "all"]:
        part = [ocr[g] for g in (layouts if group == "all" else [group])]
        names = [p["image"] for r in part for p in r.preds]
        n = len(names)
        ocr_wall = 1000 * sum(r.wall for r in part) / n
        ocr_cpu = 1000 * sum(r.cpu or 0.0 for r in part) / n
        lay_wall = 1000 * sum(model[x][0] for x in names) / n
        lay_cpu = 1000 * sum(model[x][1] for x in names) / n
        rows.append(
            {
                "layout": group,
                "pages": n,
                "layout model ms/page": lay_wall,
                "layout model CPU ms/page": lay_cpu,
                "regions/page": sum(model[x][2] for x in names) / n,
                "OCR ms/page (wall)": ocr_wall,
                "OCR CPU ms/page": ocr_cpu,
                "layout/OCR CPU": lay_cpu / ocr_cpu,
                "layout/OCR wall": lay_wall / ocr_wall,
            }
        )
    return rows


def question_paragraphs() -> dict[str, str]:
    """Each SQuAD dev question's id -> the text of its own paragraph (the layout dev pages print
    those paragraphs, so its answer sentence is the one the question was written from)."""
    contexts, questions = load_squad(SHARED)
    return {q["id"]: contexts[q["title"]][q["para_index"]] for q in questions}


def gold_passage(
    key: dict[str, Any], question: dict[str, Any], paragraphs: dict[str, str] | None = None
) -> list[str] | None:
    """The tokens of the question's answer sentence: from its own SQuAD paragraph when
    ``paragraphs`` holds it (as bench/rag.py scores single-column pages), else from the first
    gold page (key order) whose reference text holds one of its answers (the first occurrence
    on the page, which may be another sentence, or a heading fused onto it). None when
    neither holds an answer."""
    own = (paragraphs or {}).get(question["id"])
    if own is not None and (passage := answer_passage(own, question["answers"])) is not None:
        return passage
    for pdf, page in question["gold"]:
        passage = answer_passage(key["pages"][pdf][str(page)], question["answers"])
        if passage is not None:
            return passage
    return None


def passage_rows(
    data: Path, key: dict[str, Any], docs: list[str], layouts: list[str], home: Path, keep: Path
) -> list[dict[str, Any]]:
    """Ingest ``docs`` into ``home``, ask every question whose gold pages are among them (top 5):
    R@1, R@5 and the intact-passage rate per layout and overall; per-question results to
    ``keep/search.jsonl``."""
    try:
        scanrag(["ingest", *(str(data / d) for d in docs)], home)
        qs = [q for q in key["questions"] if all(g[0] in docs for g in q["gold"])]
        qfile = home / "queries.jsonl"
        qfile.write_text("".join(json.dumps({"query": q["question"]}) + "\n" for q in qs))
        res = scanrag(["search", "--queries", str(qfile), "-k", "5", "--json"], home)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"scanrag {exc.cmd[3]} failed:\n{exc.stdout}\n{exc.stderr}") from exc
    answers = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    ranked = [[(h["document"]["filename"], int(h["page"])) for h in a["hits"]] for a in answers]
    texts = [[h["text"] for h in a["hits"]] for a in answers]
    gold = [{(g[0], int(g[1])) for g in q["gold"]} for q in qs]
    paragraphs = question_paragraphs()
    passages = [gold_passage(key, q, paragraphs) for q in qs]
    on_page = [gold_passage(key, q) for q in qs]  # the measure before 2026-12-08, for comparison
    write_jsonl(
        keep / "search.jsonl",
        [
            {
                "id": q["id"],
                "question": q["question"],
                "gold": q["gold"],
                "passage": None if p is None else " ".join(p),
                "intact": None if p is None else is_intact(p, t[:5]),
                "hits": [
                    {"filename": f, "page": n, "text": join_lines(x)}
                    for (f, n), x in zip(r, t, strict=True)
                ],
            }
            for q, p, r, t in zip(qs, passages, ranked, texts, strict=True)
        ],
    )
    rows = []
    for group in [*layouts, "all"]:
        idx = [
            i
            for i, q in enumerate(qs)
            if group == "all" or key["layouts"][q["gold"][0][0]] == group
        ]
        if not idx:
            continue
        m = metrics([ranked[i] for i in idx], [gold[i] for i in idx])
        rate, skipped = intact_rate([passages[i] for i in idx], [texts[i] for i in idx], k=5)
        rate_page = intact_rate([on_page[i] for i in idx], [texts[i] for i in idx], k=5)[0]
        rows.append(
            {
                "layout": group,
                "questions": len(idx),
                "R@1": m["R@1"],
                "R@5": m["R@5"],
                "intact@5": rate,
                "intact@5, page's first match": rate_page,
                "skipped (no answer sentence)": skipped,
            }
        )
    return rows


def spread_rows(
    key: dict[str, Any], images: dict[str, list[Path]], settings: Any, out: Path
) -> list[dict[str, Any]]:
    """Spreads made of each document's consecutive page pairs (1+2, 3+4, ...) side by side on
    one sheet, read by the engine, against the same pages read one by one: loose CER of the
    pair's text (left page's reference, then the right's), both ways, per layout; and how many
    sheets were taken for spreads (single pages: none should be)."""
    import jiwer

    from pipelines.engine import OcrEngine
    from workers.context import build_ocr_engine, load_params

    ocr = scorer()
    engine: OcrEngine = build_ocr_engine(settings, "cpu")
    load = load_params(settings)

    def read(path: Path) -> Any:
        return next(engine.read_path(path, load))

    edits: dict[str, dict[str, float]] = {}
    for pdf, paths in images.items():
        layout = key["layouts"][pdf]
        acc = edits.setdefault(
            layout,
            dict.fromkeys(("pairs", "split", "single", "spread", "chars", "pages_split"), 0.0),
        )
        for a, b in zip(paths[::2], paths[1::2], strict=False):
            pages = [int(p.stem.rsplit("-p", 1)[1]) for p in (a, b)]
            ref = ocr.norm_loose("\n".join(key["pages"][pdf][str(n)] for n in pages))
            left, right = Image.open(a), Image.open(b)
            sheet = Image.new(
                "RGB", (left.width + right.width, max(left.height, right.height)), "white"
            )
            sheet.paste(left.convert("RGB"), (0, 0))
            sheet.paste(right.convert("RGB"), (left.width, 0))
            path = out / f"spread-{a.stem}-{b.stem}.png"
            sheet.save(path, compress_level=1)
            one_by_one = [read(a), read(b)]
            both = read(path)
            single_text = ocr.norm_loose("\n".join(p.text for p in one_by_one))
            acc["pairs"] += 1
            acc["split"] += both.halves is not None
            acc["pages_split"] += sum(p.halves is not None for p in one_by_one)
            acc["single"] += jiwer.cer(ref, single_text) * len(ref)
            acc["spread"] += jiwer.cer(ref, ocr.norm_loose(both.text)) * len(ref)
            acc["chars"] += len(ref)
    rows = []
    for layout, acc in edits.items():
        single, spread = acc["single"] / acc["chars"], acc["spread"] / acc["chars"]
        rows.append(
            {
                "layout": layout,
                "spreads": int(acc["pairs"]),
                "read as spreads": int(acc["split"]),
                "single pages read as spreads": int(acc["pages_split"]),
                "CER loose, pages one by one": single,
                "CER loose, spreads": spread,
                "difference": spread - single,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "layout" / "dev")
    ap.add_argument("--keep", type=Path, help="keep predictions, timings and hits in this folder")
    ap.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated: " + ",".join(ENGINES)
    )
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated layouts")
    ap.add_argument("--pages", type=int, help="only the first documents until N pages (quick run)")
    ap.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="Tesseract processes"
    )
    ap.add_argument("--skip-rag", action="store_true", help="no ingest and search (table 3)")
    ap.add_argument(
        "--spreads",
        action="store_true",
        help="only table 4: consecutive pages side by side on one sheet vs one by one",
    )
    args = ap.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    layouts = [x for x in args.layouts.split(",") if x]
    for bad in set(engines) - set(ENGINES):
        ap.error(f"unknown engine {bad!r}")

    from core.config import get_settings
    from workers.context import load_params

    settings = get_settings()
    # the machines are shared: the load beside this run says how far to trust its seconds
    load_before = os.getloadavg()[0]
    key = json.loads((args.data / "key.json").read_text(encoding="utf-8"))
    for bad in set(layouts) - set(key["layouts"].values()):
        ap.error(f"no layout {bad!r} in {args.data / 'key.json'}")
    docs = select_documents(key, layouts, args.pages)
    layouts = [x for x in layouts if any(key["layouts"][d] == x for d in docs)]
    by_layout = {x: [d for d in docs if key["layouts"][d] == x] for x in layouts}
    keep = Path(args.keep or tempfile.mkdtemp(prefix="scanrag-layout-"))
    images_dir = keep / "pages"
    images_dir.mkdir(parents=True, exist_ok=True)
    images = rasterise(args.data, docs, load_params(settings), images_dir)
    n_pages = sum(len(v) for v in images.values())
    print(
        f"# {len(docs)} documents, {n_pages} pages at {settings.ocr.dpi} dpi; output in {keep}",
        file=sys.stderr,
        flush=True,
    )

    if args.spreads:
        from bench.common import cpu_class

        rows = spread_rows(key, images, settings, images_dir)
        print(f"## 4. Page spreads (two pages on one sheet; CPU: {cpu_class()})\n")
        print(table(rows, list(rows[0])))
        print(
            "\nTarget: the spreads' loose CER within 0.005 of the same pages read one by one; "
            "no single page read as a spread."
        )
        return

    runs: dict[str, dict[str, Run]] = {}
    model: dict[str, tuple[float, float, int]] | str = "scanrag not run (--engines)"
    engine_ran_layout_model = False
    if "scanrag" in engines:
        runs["scanrag"] = read_scanrag(args.data, by_layout, settings)
        # did the engine itself load the region model? then its OCR time already includes it
        from models.loaded import was_loaded

        engine_ran_layout_model = was_loaded("region detector")
        print("# scanrag done", file=sys.stderr, flush=True)
        model = time_layout_model([p for v in images.values() for p in v])
        print("# layout model timed", file=sys.stderr, flush=True)
    if "tesseract" in engines:
        groups = {x: [p for d in by_layout[x] for p in images[d]] for x in layouts}
        runs["tesseract"] = read_tesseract(groups, args.threads)
        print("# tesseract done", file=sys.stderr, flush=True)
    for engine, by in runs.items():
        write_jsonl(keep / f"{engine}.jsonl", [p for r in by.values() for p in r.preds])

    print(f"## 1. Reading order (reference: key.json page text; {n_pages} pages)\n")
    cols = ["engine", "layout", "pages", "CER loose", "CER strict", "BoW F1 loose", "pages/s"]
    print(table(reading_order_rows(key, runs, layouts), cols))
    workers = settings.ocr.workers or len(os.sched_getaffinity(0))
    print(
        f"\nscanrag: {workers} reading threads; tesseract: {args.threads} processes x 1 thread; "
        f"1-minute load average {load_before:.2f} before the reads, {os.getloadavg()[0]:.2f} after"
    )

    print("\n## 2. Layout model cost per page (CPU, same run, same page images)\n")
    if isinstance(model, str):
        print(model)
    else:
        cols = [
            "layout",
            "pages",
            "layout model ms/page",
            "layout model CPU ms/page",
            "regions/page",
            "OCR ms/page (wall)",
            "OCR CPU ms/page",
            "layout/OCR CPU",
            "layout/OCR wall",
        ]
        print(table(cost_rows(runs["scanrag"], model, layouts), cols))
        print(
            "\nlayout model: 1 onnxruntime thread, 1 page per call; OCR: the engine with "
            f"{workers} workers, rasterising included. Target layout/OCR <= 0.10. The engine "
            + (
                "ran the layout model itself: its OCR time includes it."
                if engine_ran_layout_model
                else "did not load the layout model: its OCR time is without it."
            )
        )

    if args.skip_rag:
        return
    home = keep / "home"
    if home.exists():
        shutil.rmtree(home)  # a fresh store: a leftover index would turn ingests into duplicates
    home.mkdir()
    rows = passage_rows(args.data, key, docs, layouts, home, keep)
    print("\n## 3. Passages (scanrag ingest + search, top 5)\n")
    cols = [
        "layout",
        "questions",
        "R@1",
        "R@5",
        "intact@5",
        "intact@5, page's first match",
        "skipped (no answer sentence)",
    ]
    print(table(rows, cols))
    print(
        "\nintact@5: the answer's sentence(s) of the question's own SQuAD paragraph, as a "
        "contiguous run of words in one of the top 5 hits (bench/passages.py), as bench/rag.py "
        'scores single-column pages. "page\'s first match": the sentence holding the first '
        "occurrence of an answer in the gold page's reference text (the measure until "
        "2026-12-08): it picks another sentence when the answer string occurs earlier on the "
        "page, and fuses a heading or running head onto the sentence when no full stop parts "
        "them (bench/passages.py joins a page's lines)."
    )


if __name__ == "__main__":
    main()
