"""Tables benchmark (issue 33): cell structure, its cost, and questions answered by one cell.

    python bench/tables.py [--docs eu-001,eu-002] [--keep DIR] [--per-doc] [--repeat N]
                           [--pred-only | --score PRED.jsonl] [--skip-cost] [--skip-rag]
                           [--skip-structure]

On shared/data/tables/dev (README section D: 27 ICDAR 2013 EU documents, their table pages as
200 dpi image-only PDFs, 76 tables with their cells by hand in gt.jsonl):

1. Structure: the engine in-process as `scanrag ocr` builds it from the settings (CPU), every
   ``table`` block that has cells (Block.table) written as one table a line in gt.jsonl's form
   (PRED.jsonl) and scored by shared/tools/table_score.py, the ICDAR 2013 competition's
   adjacency relations: precision, recall, F1, tables found / reference tables, and the
   ``table`` regions the layout model found (cells or not). ``--pred-only``: this table only;
   ``--score FILE``: score a PRED.jsonl already written (no OCR).
2. Cost: the same engine with the table step off (OCR alone: settings.ocr.table_model false)
   and on, in the same run, on the table pages and on pages without tables
   (shared/data/layout/dev paper2 and news3: figtab2 pages hold a table) and on FUNSD dev
   forms (``--forms N``: without the table step the layout model skips forms and receipts,
   which the row rules lay out; with it, it looks for table regions on every page); wall and
   CPU ms/page (the whole process, all reading threads), and the structure network's own
   time per table and per page from a timer around its ``predict`` (thread CPU time: one
   onnxruntime thread per model when the engine has one worker per core). ``--repeat N``
   reads each set N times, alternating off and on, and keeps the fastest. Target: a table
   page costs at most 30% more, a page without tables ~0.
3. Retrieval: bench/data/table_questions.jsonl, questions written by hand on the dev tables,
   each answered by one reference cell (doc, page, the table on the page, row, col, text).
   The PDFs ingested into a fresh SCANRAG_HOME with `scanrag ingest`, every question asked
   with `scanrag search --queries --json -k 5`, once with the table step off ("before":
   SCANRAG_OCR__TABLE_MODEL=false) and once on ("after"). A hit "holds the answer" when it
   is on the answer's page and its text holds the answer cell's text (letters and digits, as
   a run of words); "cell@5" also asks that the hit's matched ``cells`` include the answer
   cell (a matched cell's box covers half of the reference cell's box or more), for hits
   that carry cells.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, cpu_class, table, write_jsonl
from bench.rag import scanrag
from tests.harness import PYTHON

TABLES_DEV = SHARED / "data" / "tables" / "dev"
LAYOUT_DEV = SHARED / "data" / "layout" / "dev"
FUNSD_DEV = SHARED / "data" / "ocr" / "funsd" / "dev" / "images"
PLAIN_LAYOUTS = ("paper2", "news3")  # figtab2 pages hold a page-wide table
QUESTIONS = Path(__file__).resolve().parent / "data" / "table_questions.jsonl"
SCORER = SHARED / "tools" / "table_score.py"
GT_DPI = 200  # gt.jsonl's boxes are pixels of the 200 dpi pages
# the setting that switches the table step, and its environment variable for `scanrag ingest`
SWITCH, SWITCH_ENV = "table_model", "SCANRAG_OCR__TABLE_MODEL"


# ---------------------------------------------------------------------------- reading


class TimedModel:
    """A table structure model with a timer around ``predict``: per call, the crops given,
    wall seconds and this thread's CPU seconds."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[int, float, float]] = []

    def predict(self, crops: Sequence[Any]) -> list[Any]:
        cpu, start = time.thread_time(), time.perf_counter()
        out: list[Any] = self.model.predict(crops)
        # list.append is atomic: the engine's reading threads may call at once
        self.calls.append((len(crops), time.perf_counter() - start, time.thread_time() - cpu))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


@dataclass
class Read:
    """One timed read of a set of PDFs: its pages, wall and process CPU seconds, and the
    structure network's calls during it."""

    pages: list[Any]
    wall: float
    cpu: float
    net: list[tuple[int, float, float]] = field(default_factory=list)


def with_tables(settings: Any, on: bool) -> Any | None:
    """``settings`` with the table step switched on or off; None where this tree has no switch."""
    if SWITCH not in type(settings.ocr).model_fields:
        return None
    return settings.model_copy(update={"ocr": settings.ocr.model_copy(update={SWITCH: on})})


def time_structure_model(engine: Any) -> TimedModel | None:
    """Put a timer around the engine's table structure model (loading the engine's models);
    None where the engine runs none."""
    models = engine.models()
    model = getattr(models, "tables", None)
    if model is None:
        return None
    timed = TimedModel(model)
    # OcrEngine has no seam to swap one model: its loaded set is replaced, for this bench only
    engine._models = models._replace(tables=timed)
    return timed


def warm_up(engine: Any, pdf: Path, load: Any) -> None:
    """One page read, so that models load and arenas grow before anything is timed."""
    from pipelines.load import open_document

    list(engine.read(open_document(pdf, load), stop=1))


def read(engine: Any, pdfs: list[Path], load: Any, timed: TimedModel | None) -> Read:
    """``pdfs`` read by the engine as `scanrag ocr` reads them (pages of consecutive files in
    flight together), timed."""
    first = len(timed.calls) if timed else 0
    pages = []
    cpu, start = time.process_time(), time.perf_counter()
    for event in engine.read_paths(pdfs, load):
        if event.kind == "failed":
            raise SystemExit(f"{event.source}: {event.error}")
        if event.page is not None:
            pages.append(event.page)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Read(pages, wall, cpu, timed.calls[first:] if timed else [])


def table_blocks(pages: list[Any]) -> list[tuple[Any, Any]]:
    """(page, block) of every ``table`` block the layout found."""
    return [(p, b) for p in pages for b in p.blocks if b.kind == "table"]


def predictions(pages: list[Any]) -> list[dict[str, Any]]:
    """Every table with cells, one a line in gt.jsonl's form."""
    return [
        {
            "doc": Path(page.source).stem,
            "page": page.page,
            "cells": [
                {
                    "row": c.row,
                    "col": c.col,
                    "row_span": c.row_span,
                    "col_span": c.col_span,
                    "text": c.text,
                    "bbox": [round(v, 1) for v in c.bbox],
                }
                for c in block.table.cells
            ],
        }
        for page, block in table_blocks(pages)
        if getattr(block, "table", None) is not None
    ]


# ---------------------------------------------------------------------------- 1. structure


def load_gt(data: Path, docs: list[str] | None) -> list[dict[str, Any]]:
    """The reference tables (of ``docs`` only, when given)."""
    lines = (data / "gt.jsonl").read_text(encoding="utf-8").splitlines()
    gt = [json.loads(x) for x in lines if x.strip()]
    return [t for t in gt if docs is None or t["doc"] in docs]


def score(gt_file: Path, pred_file: Path) -> dict[str, Any]:
    """table_score.py's report (with per-document results)."""
    done = subprocess.run(
        [PYTHON, str(SCORER), "--gt", str(gt_file), "--pred", str(pred_file), "--per-doc"],
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def structure_row(name: str, rep: dict[str, Any], regions: int | None) -> dict[str, Any]:
    return {
        "set": name,
        "reference tables": rep["tables"]["reference"],
        "tables found": rep["tables"]["predicted"],
        "table regions": regions,
        "relations": rep["relations"],
        "precision": rep["precision"],
        "recall": rep["recall"],
        "F1": rep["f1"],
    }


def print_structure(
    rep: dict[str, Any], regions: dict[str, int] | None, per_doc: bool, note: str
) -> None:
    print("## 1. Table structure (adjacency relations, shared/tools/table_score.py)\n")
    cols = ["set", "reference tables", "tables found", "table regions", "relations"]
    cols += ["precision", "recall", "F1"]
    rows = [structure_row("all", rep, None if regions is None else sum(regions.values()))]
    if per_doc:
        rows += [
            structure_row(doc, r, None if regions is None else regions.get(doc, 0))
            for doc, r in rep["docs"].items()
        ]
    print(table(rows, cols))
    print(f"\n{note}")


# ---------------------------------------------------------------------------- 2. cost


def cost_row(name: str, step: str, best: Read, alone: Read | None) -> dict[str, Any]:
    n = len(best.pages)
    blocks = table_blocks(best.pages)
    crops = sum(c[0] for c in best.net)
    row: dict[str, Any] = {
        "pages": name,
        "step": step,
        "n": n,
        "wall ms/page": 1000 * best.wall / n,
        "CPU ms/page": 1000 * best.cpu / n,
        "table regions": len(blocks),
        "tables with cells": sum(1 for _, b in blocks if getattr(b, "table", None) is not None),
    }
    if alone is not None:
        row["wall vs OCR alone"] = f"{100 * (best.wall / alone.wall - 1):+.1f}%"
        row["CPU vs OCR alone"] = f"{100 * (best.cpu / alone.cpu - 1):+.1f}%"
    if best.net:
        row["network ms/table"] = 1000 * sum(c[1] for c in best.net) / max(crops, 1)
        row["network CPU ms/table"] = 1000 * sum(c[2] for c in best.net) / max(crops, 1)
        row["network ms/page"] = 1000 * sum(c[1] for c in best.net) / n
    elif step != "OCR alone":
        row["network ms/page"] = 0.0
    return row


def plain_pages(data: Path, max_pages: int | None) -> list[Path]:
    """PDFs of the layout dev set without tables, whole documents until ``max_pages``."""
    key = json.loads((data / "key.json").read_text(encoding="utf-8"))
    chosen: list[Path] = []
    pages = 0
    for pdf, by_page in key["pages"].items():
        if key["layouts"][pdf] not in PLAIN_LAYOUTS:
            continue
        if max_pages is not None and pages >= max_pages:
            break
        chosen.append(data / pdf)
        pages += len(by_page)
    return chosen


# ---------------------------------------------------------------------------- 3. retrieval


def words(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", text.lower())


def holds(text: str, answer: str) -> bool:
    """Whether ``text`` holds ``answer``'s letters and digits as a run of whole words (spaces
    inside a number may come and go: "100 000" and "100000" are the same answer)."""
    want = "".join(words(answer))
    if not want:
        return False
    have = words(text)
    for i in range(len(have)):
        run = ""
        for w in have[i:]:
            run += w
            if run == want:
                return True
            if not want.startswith(run):
                break
    return False


def covers(cell_box: Sequence[float], answer_box: Sequence[float]) -> bool:
    """Whether a matched cell's box covers half of the reference cell's box or more."""
    x0, y0 = max(cell_box[0], answer_box[0]), max(cell_box[1], answer_box[1])
    x1, y1 = min(cell_box[2], answer_box[2]), min(cell_box[3], answer_box[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = max(1.0, (answer_box[2] - answer_box[0]) * (answer_box[3] - answer_box[1]))
    return inter / area >= 0.5


def answer_cells(questions: list[dict[str, Any]], gt: list[dict[str, Any]]) -> list[list[float]]:
    """Each question's reference cell box (gt.jsonl, 200 dpi pixels)."""
    by_page: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for t in gt:
        by_page.setdefault((t["doc"], int(t["page"])), []).append(t)
    boxes = []
    for q in questions:
        cells = by_page[(q["doc"], int(q["page"]))][int(q["table"])]["cells"]
        cell = next(c for c in cells if (c["row"], c["col"]) == (q["row"], q["col"]))
        if cell["text"] != q["text"]:
            raise SystemExit(f"{q['id']}: answer {q['text']!r} is not gt.jsonl's {cell['text']!r}")
        boxes.append([float(v) for v in cell["bbox"]])
    return boxes


def run_cli(args: list[str], home: Path, extra: dict[str, str]) -> str:
    """The scanrag CLI's stdout, run with SCANRAG_HOME=home and ``extra`` settings."""
    try:
        return scanrag(args, home, extra).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"scanrag {args[0]} failed:\n{exc.stdout}\n{exc.stderr}") from exc


def judge(
    q: dict[str, Any], box: list[float], hits: list[dict[str, Any]], scale: float
) -> dict[str, Any]:
    """One question's top-5 hits judged: the first rank on the answer's page, the first whose
    text holds the answer, the first whose matched cells include the answer cell."""
    page_rank = answer_rank = cell_rank = None
    with_cells = False
    answer_box = [v * scale for v in box]
    for rank, hit in enumerate(hits[:5], start=1):
        if Path(hit["document"]["filename"]).stem != q["doc"] or int(hit["page"]) != q["page"]:
            continue
        page_rank = page_rank or rank
        if not holds(hit["text"], q["text"]):
            continue
        answer_rank = answer_rank or rank
        cells = hit.get("cells") or []
        with_cells = with_cells or bool(cells)
        if any("bbox" in c and covers(c["bbox"], answer_box) for c in cells):
            cell_rank = cell_rank or rank
    return {
        "page_rank": page_rank,
        "answer_rank": answer_rank,
        "cell_rank": cell_rank,
        "with_cells": with_cells,
    }


def retrieval(
    pdfs: list[Path],
    questions: list[dict[str, Any]],
    boxes: list[list[float]],
    variant: str,
    extra: dict[str, str],
    keep: Path,
    dpi: int,
) -> dict[str, Any]:
    """Ingest ``pdfs`` into a fresh home with ``extra`` settings, ask every question (top 5):
    the variant's row of table 3; per-question hits to ``keep/questions-VARIANT.jsonl``."""
    home = keep / f"home-{variant}"
    if home.exists():
        shutil.rmtree(home)  # a fresh store: a leftover index would turn ingests into duplicates
    home.mkdir(parents=True)
    start = time.perf_counter()
    run_cli(["ingest", *map(str, pdfs)], home, extra)
    ingest_s = time.perf_counter() - start
    qfile = home / "queries.jsonl"
    write_jsonl(qfile, [{"query": q["question"]} for q in questions])
    out = run_cli(["search", "--queries", str(qfile), "-k", "5", "--json"], home, extra)
    answers = [json.loads(x) for x in out.splitlines() if x.strip()]
    verdicts = [
        judge(q, box, a["hits"], dpi / GT_DPI)
        for q, box, a in zip(questions, boxes, answers, strict=True)
    ]
    write_jsonl(
        keep / f"questions-{variant}.jsonl",
        [
            {
                **q,
                **v,
                "hits": [
                    {
                        "filename": h["document"]["filename"],
                        "page": h["page"],
                        "text": h["text"],
                        "cells": h.get("cells"),
                    }
                    for h in a["hits"][:5]
                ],
            }
            for q, v, a in zip(questions, verdicts, answers, strict=True)
        ],
    )
    n = len(questions)

    def share(key: str, k: int) -> float:
        return sum(1 for v in verdicts if v[key] is not None and v[key] <= k) / n

    any_cells = sum(1 for v in verdicts if v["with_cells"])
    return {
        "table step": variant,
        "questions": n,
        "page@1": share("page_rank", 1),
        "page@5": share("page_rank", 5),
        "answer@1": share("answer_rank", 1),
        "answer@5": share("answer_rank", 5),
        "cell@5": share("cell_rank", 5) if any_cells else None,
        "answer hits with cells": f"{any_cells}/{n}",
        "ingest s": f"{ingest_s:.1f}",
    }


# ---------------------------------------------------------------------------- main


def machine_line(load_before: float) -> str:
    return (
        f"CPU: {cpu_class()}; {len(os.sched_getaffinity(0))} cores; 1-minute load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )


def read_and_score(
    args: argparse.Namespace,
    settings: Any,
    docs: list[str],
    pdfs: list[Path],
    keep: Path,
    gt_file: Path,
    load_before: float,
) -> None:
    """Tables 1 (structure) and 2 (cost): the PDFs read in process by the engine, the table
    step on and off (``--skip-structure`` leaves both out)."""
    from workers.context import build_ocr_engine, load_params

    load = load_params(settings)
    on_settings, off_settings = with_tables(settings, True), with_tables(settings, False)
    on = build_ocr_engine(on_settings or settings, "cpu")
    off = None if off_settings is None or args.pred_only else build_ocr_engine(off_settings, "cpu")
    print(f"# {len(docs)} documents; output in {keep}", file=sys.stderr, flush=True)
    warm_up(on, pdfs[0], load)
    timed = time_structure_model(on)
    if off is not None:
        warm_up(off, pdfs[0], load)

    sets = {"table pages": pdfs}
    if not (args.pred_only or args.skip_cost):
        sets["pages without tables"] = plain_pages(args.plain, args.plain_pages)
        if args.forms:
            sets["FUNSD forms"] = sorted(FUNSD_DEV.glob("*.png"))[: args.forms]
    reads: dict[tuple[str, str], list[Read]] = {}
    for _ in range(args.repeat):
        for name, paths in sets.items():
            for step, engine in (("OCR alone", off), ("OCR + tables", on)):
                if engine is not None:
                    got = read(engine, paths, load, timed if engine is on else None)
                    reads.setdefault((name, step), []).append(got)
                    print(f"# {name}, {step}: {got.wall:.1f} s", file=sys.stderr, flush=True)

    table_pages = reads[("table pages", "OCR + tables")][0].pages
    pred_file = keep / "pred.jsonl"
    write_jsonl(pred_file, predictions(table_pages))
    regions = Counter(Path(p.source).stem for p, _ in table_blocks(table_pages))
    step_note = (
        "the table step is on"
        if on_settings is not None
        else f"this tree has no table switch (settings.ocr.{SWITCH}): the engine as configured"
    )
    note = (
        f"{len(docs)} documents, {len(table_pages)} pages read by the engine on the CPU "
        f"({step_note}); predictions: {pred_file}. Table regions: the layout model's `table` "
        "blocks, with cells or not."
    )
    print_structure(score(gt_file, pred_file), dict(regions), args.per_doc, note)
    print(f"\n{machine_line(load_before)}")

    if not args.pred_only:
        print("\n## 2. Cost of the table step (same run, same engine settings, CPU)\n")
        rows = []
        for name in sets:
            alone = reads.get((name, "OCR alone"))
            best_alone = min(alone, key=lambda r: r.wall) if alone else None
            if best_alone is not None:
                rows.append(cost_row(name, "OCR alone", best_alone, None))
            best = min(reads[(name, "OCR + tables")], key=lambda r: r.wall)
            rows.append(cost_row(name, "OCR + tables", best, best_alone))
        cols = ["pages", "step", "n", "wall ms/page", "CPU ms/page", "wall vs OCR alone"]
        cols += ["CPU vs OCR alone", "table regions", "tables with cells", "network ms/table"]
        cols += ["network CPU ms/table", "network ms/page"]
        print(table(rows, cols))
        workers = on.params.workers
        print(
            f"\nThe engine: {workers} reading threads, {on.params.threads} onnxruntime "
            f"thread(s) per model; fastest of {args.repeat} read(s) per row, OCR alone and "
            "OCR + tables alternating. Network: the structure model's predict calls (wall; "
            "CPU of the calling thread). Target: table pages at most +30%, pages without "
            f"tables ~0.{'' if off is not None else ' No table switch: no OCR alone row.'}"
        )
        print(f"\n{machine_line(load_before)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=TABLES_DEV, help="PDFs and gt.jsonl")
    ap.add_argument("--plain", type=Path, default=LAYOUT_DEV, help="pages without tables")
    ap.add_argument("--plain-pages", type=int, help="at most about N pages without tables")
    ap.add_argument("--forms", type=int, default=10, help="FUNSD dev forms for table 2 (0: none)")
    ap.add_argument("--docs", help="comma-separated document names (eu-001,...): only these")
    ap.add_argument("--keep", type=Path, help="keep predictions, homes and hits in this folder")
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--per-doc", action="store_true", help="table 1 per document too")
    ap.add_argument("--pred-only", action="store_true", help="table 1 only (no cost, no search)")
    ap.add_argument("--score", type=Path, metavar="PRED", help="score PRED.jsonl, read nothing")
    ap.add_argument("--repeat", type=int, default=1, help="reads per set for table 2 (fastest)")
    ap.add_argument("--skip-cost", action="store_true", help="no pages without tables (table 2)")
    ap.add_argument("--skip-rag", action="store_true", help="no ingest and search (table 3)")
    ap.add_argument(
        "--skip-structure", action="store_true", help="no reading in process (tables 1 and 2)"
    )
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    all_docs = sorted(p.stem for p in args.data.glob("*.pdf"))
    docs = [d for d in args.docs.split(",") if d] if args.docs else all_docs
    for bad in sorted(set(docs) - set(all_docs)):
        ap.error(f"no {bad}.pdf in {args.data}")
    keep = Path(args.keep or tempfile.mkdtemp(prefix="scanrag-tables-"))
    keep.mkdir(parents=True, exist_ok=True)
    gt = load_gt(args.data, docs if args.docs else None)
    gt_file = keep / "gt.jsonl"
    write_jsonl(gt_file, gt)

    if args.score:
        note = f"predictions: {args.score}"
        print_structure(score(gt_file, args.score), None, args.per_doc, note)
        print(f"\n{machine_line(load_before)}\n\ncommand: {shlex.join([PYTHON, *sys.argv])}")
        return

    from core.config import get_settings

    settings = get_settings()
    on_settings = with_tables(settings, True)
    pdfs = [args.data / f"{d}.pdf" for d in docs]
    if not args.skip_structure:
        read_and_score(args, settings, docs, pdfs, keep, gt_file, load_before)

    if not (args.pred_only or args.skip_rag):
        questions = [
            json.loads(x)
            for x in args.questions.read_text(encoding="utf-8").splitlines()
            if x.strip()
        ]
        questions = [q for q in questions if q["doc"] in docs]
        boxes = answer_cells(questions, load_gt(args.data, None))
        variants = {"before (off)": {SWITCH_ENV: "false"}, "after (on)": {SWITCH_ENV: "true"}}
        if on_settings is None:
            variants = {"as configured (no switch)": {}}
        rows = [
            retrieval(pdfs, questions, boxes, v, extra, keep, settings.ocr.dpi)
            for v, extra in variants.items()
        ]
        print("\n## 3. Questions answered by one table cell (scanrag ingest + search, top 5)\n")
        cols = ["table step", "questions", "page@1", "page@5", "answer@1", "answer@5", "cell@5"]
        print(table(rows, [*cols, "answer hits with cells", "ingest s"]))
        print(
            f"\n{len(questions)} questions ({args.questions.name}) on {len(docs)} documents. "
            "page@k: a top-k hit on the answer's page; answer@k: one whose text holds the "
            "answer cell's text; cell@5: one whose matched cells include the answer cell "
            "(blank: no hit carried cells). Per question: "
            f"{keep}/questions-*.jsonl."
        )
        print(f"\n{machine_line(load_before)}")

    print(f"\ncommand: {shlex.join([PYTHON, *sys.argv])}")


if __name__ == "__main__":
    main()
