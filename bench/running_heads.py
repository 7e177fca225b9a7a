"""Running heads and folios benchmark: how many land in a chunk, with the pass off and on.

    python bench/running_heads.py [--keep DIR] [--skip-reading]

1. Chunks: 10 documents of the ICDAR 2013 EU table set (shared/data/tables/dev: real reports,
   the pages that hold a table, image-only PDFs at 200 dpi) are read by the engine as
   `scanrag ocr` builds it from the settings, then chunked (pipelines.chunk, default
   ChunkParams, whitespace words) twice from the same reading: with the running-head pass
   off (the pages as read) and on (``pipelines.running_heads.mark_running_heads`` first, as
   the indexing worker does). The reference, bench/data/running_heads.jsonl, holds each
   running head and folio line of those pages (read off the page images): document, page,
   kind (head, foot, folio, banner), text and the box of the engine's line that read it
   (pixels of the 200 dpi page; null where the engine did not read it). A reference line is
   "in a chunk" when a chunk of its page holds a line box overlapping it (IoU >= 0.5) and its
   text. A banner (eu-001's masthead, on its first page only, with no page number) is not a
   running head by the issue's definition (the same text or a number on most pages): its
   lines are counted in a column of their own.
   "Other lines taken out": lines the pass made furniture that are not in the reference.
2. Reading (not with --skip-reading): the pass must not hurt reading. The layout dev pages
   (shared/data/layout/dev, whole documents), FUNSD dev and SROIE dev (one image a document)
   read once; each page's text (its lines in reading order) scored with
   shared/tools/ocr_score.py as read and after the pass (which moves furniture first or last).

3. Passages (not with --skip-reading): the layout dev documents chunked (default ChunkParams,
   whitespace words) with the running-head pass and the lists-and-headings rewrite
   (``ChunkParams.structure``) off and on; for each layout dev question, whether its answer
   sentence (bench/passages.py) is whole in some chunk of its document.

Readings are kept as JSONL in --keep (default a temporary folder); a rerun with the same
--keep reuses them, so the table can be redone without reading again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, cpu_class, scorer, table
from bench.passages import is_intact
from pipelines.chunk import Chunk, ChunkParams, chunk_document
from pipelines.running_heads import mark_running_heads
from pipelines.types import BBox, PageResult

EU_DOCS = (
    "eu-001",
    "eu-004",
    "eu-006",
    "eu-007",
    "eu-012",
    "eu-013",
    "eu-015",
    "eu-020",
    "eu-021",
    "eu-026",
)
REFERENCE = ROOT / "bench" / "data" / "running_heads.jsonl"


def read_documents(paths: Sequence[Path], keep: Path) -> dict[str, list[PageResult]]:
    """Each file's pages as the engine reads them; readings kept in (and reused from) ``keep``."""
    out: dict[str, list[PageResult]] = {}
    todo = []
    for path in paths:
        cached = keep / f"{path.name}.jsonl"
        if cached.exists():
            out[path.name] = [PageResult.from_dict(json.loads(ln)) for ln in cached.open()]
        else:
            todo.append(path)
    if todo:
        from core.config import get_settings
        from workers.context import build_ocr_engine, load_params

        settings = get_settings()
        engine = build_ocr_engine(settings, "cpu")
        for event in engine.read_paths(todo, load_params(settings)):
            if event.kind == "failed":
                raise SystemExit(f"{event.source}: {event.error}")
            if event.page is not None:
                out.setdefault(Path(event.source).name, []).append(event.page)
        for path in todo:
            pages = sorted(out.get(path.name, []), key=lambda p: p.page)
            out[path.name] = pages
            with (keep / f"{path.name}.jsonl").open("w") as f:
                f.writelines(json.dumps(p.to_dict()) + "\n" for p in pages)
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def in_chunks(ref: dict[str, Any], chunks: list[Chunk]) -> bool:
    """Whether a reference line is held by a chunk of its page (box and text)."""
    box = ref["bbox"]
    if box is None:
        return False
    return any(
        c.page == ref["page"]
        and ref["text"] in c.text
        and any(iou(lb, box) >= 0.5 for lb in c.line_boxes)
        for c in chunks
    )


def furniture_boxes(pages: list[PageResult]) -> list[tuple[int, BBox, str]]:
    """(page, box, text) of every line in a header or footer block."""
    return [
        (p.page, ln.bbox, ln.text)
        for p in pages
        for b in p.blocks
        if b.kind in ("header", "footer")
        for ln in b.lines
    ]


def chunk_rows(docs: dict[str, list[PageResult]]) -> list[dict[str, Any]]:
    """Per document: reference lines, those read, those in a chunk with the pass off and on."""
    refs = [json.loads(ln) for ln in REFERENCE.open() if ln.strip()]
    rows = []
    others: list[str] = []
    for doc in EU_DOCS:
        pages = docs[f"{doc}.pdf"]
        marked = mark_running_heads(pages)
        off, on = chunk_document(pages), chunk_document(marked)
        # a banner is printed once (a web page's masthead on its first sheet): the issue's
        # running heads come back on most pages, or are page numbers; counted apart
        banners = [r for r in refs if r["doc"] == doc and r["kind"] == "banner"]
        mine = [r for r in refs if r["doc"] == doc and r["kind"] != "banner"]
        before = {(p, b) for p, b, _ in furniture_boxes(pages)}
        taken = [
            (p, b, t)
            for p, b, t in furniture_boxes(marked)
            if (p, b) not in before
            and not any(r["page"] == p and r["bbox"] and iou(r["bbox"], b) >= 0.5 for r in mine)
        ]
        others += [f"{doc} p{p}: {t!r}" for p, _, t in taken]
        rows.append(
            {
                "document": doc,
                "pages": len(pages),
                "reference lines": len(mine),
                "read": sum(r["bbox"] is not None for r in mine),
                "in a chunk, pass off": sum(in_chunks(r, off) for r in mine),
                "in a chunk, pass on": sum(in_chunks(r, on) for r in mine),
                "other lines taken out": len(taken),
                "banner lines (once, no folio) in a chunk, pass on": sum(
                    in_chunks(r, on) for r in banners
                ),
            }
        )
    total: dict[str, Any] = {"document": "all"}
    for key in rows[0]:
        if key != "document":
            total[key] = sum(r[key] for r in rows)
    rows.append(total)
    if others:
        print("other lines taken out: " + "; ".join(others) + "\n")
    return rows


def page_text(page: PageResult) -> str:
    return "\n".join(ln.text for ln in page.lines)


def reading_rows(keep: Path) -> list[dict[str, Any]]:
    """The reading scores of layout dev, FUNSD dev and SROIE dev with the pass off and on."""
    score = scorer()
    rows = []
    layout = SHARED / "data" / "layout" / "dev"
    key = json.loads((layout / "key.json").read_text())
    sets: list[tuple[str, list[Path], list[dict[str, Any]], Any]] = [
        (
            "layout dev",
            [layout / pdf for pdf in key["pages"]],
            [
                {"image": f"{Path(pdf).stem}-p{n}.png", "text": text}
                for pdf, pages in key["pages"].items()
                for n, text in pages.items()
            ],
            lambda p: f"{Path(p.source).stem}-p{p.page}.png",
        )
    ]
    for ds in ("funsd", "sroie"):
        gt_file = SHARED / "data" / "ocr" / ds / "dev" / "gt.jsonl"
        gt = [json.loads(ln) for ln in gt_file.open() if ln.strip()]
        images = [gt_file.parent / g["image"] for g in gt]
        sets.append((f"{ds} dev", images, gt, lambda p: Path(p.source).name))
    for name, paths, gt, image_of in sets:
        docs = read_documents(paths, keep)
        for label, tidy in (("off", False), ("on", True)):
            read = [mark_running_heads(pages) if tidy else pages for pages in docs.values()]
            preds = [{"image": image_of(p), "text": page_text(p)} for ps in read for p in ps]
            rep, _ = score.score(gt, preds)
            furniture = sum(len(furniture_boxes(ps)) for ps in read)
            rows.append(
                {
                    "pages": f"{name} ({rep['pages']})",
                    "pass": label,
                    "header/footer lines": furniture,
                    "CER loose": f"{rep['loose_mean_cer']:.4f}",
                    "BoW F1 loose": f"{rep['bow_loose_f1']:.4f}",
                }
            )
    return rows


def passage_rows(keep: Path) -> list[dict[str, Any]]:
    """Layout dev: the answer sentence of each question whole in some chunk of its document
    (no retrieval: what the chunks make possible), with lists and headings and running heads
    off and on."""
    from bench.layout import gold_passage, question_paragraphs

    layout = SHARED / "data" / "layout" / "dev"
    key = json.loads((layout / "key.json").read_text())
    docs = read_documents([layout / pdf for pdf in key["pages"]], keep)
    questions = [q for q in key["questions"] if all(g[0] in docs for g in q["gold"])]
    paragraphs = question_paragraphs()
    rows = []
    for heads, structure in ((False, False), (True, False), (True, True)):
        params = ChunkParams(structure=structure)
        chunks = {
            name: chunk_document(mark_running_heads(pages) if heads else pages, params)
            for name, pages in docs.items()
        }
        intact = [
            is_intact(passage, [c.text for c in chunks[q["gold"][0][0]]])
            for q in questions
            if (passage := gold_passage(key, q, paragraphs)) is not None
        ]
        every = [c for cs in chunks.values() for c in cs]
        rows.append(
            {
                "running heads": "on" if heads else "off",
                "lists and headings": "on" if structure else "off",
                "chunks": len(every),
                "words/chunk": f"{sum(len(c.text.split()) for c in every) / len(every):.1f}",
                "titled chunks": sum(c.title is not None for c in every),
                "answer sentence intact in a chunk": f"{sum(intact)}/{len(intact)}",
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the readings here")
    ap.add_argument("--skip-reading", action="store_true", help="only the EU chunks table")
    args = ap.parse_args()
    keep = args.keep or Path(tempfile.mkdtemp(prefix="running-heads-"))
    keep.mkdir(parents=True, exist_ok=True)
    data = SHARED / "data" / "tables" / "dev"
    if not data.exists():
        raise SystemExit(f"no shared data at {data}")
    print(f"# Running heads and folios; CPU: {cpu_class()}; readings in {keep}\n")
    docs = read_documents([data / f"{d}.pdf" for d in EU_DOCS], keep)
    columns = [
        "document",
        "pages",
        "reference lines",
        "read",
        "in a chunk, pass off",
        "in a chunk, pass on",
        "other lines taken out",
        "banner lines (once, no folio) in a chunk, pass on",
    ]
    print(table(chunk_rows(docs), columns))
    pages = [p for d in EU_DOCS for p in docs[f"{d}.pdf"]]
    started = time.perf_counter()
    for _ in range(5):
        for d in EU_DOCS:
            mark_running_heads(docs[f"{d}.pdf"])
    ms = (time.perf_counter() - started) / (5 * len(pages)) * 1000
    print(f"\npass cost: {ms:.2f} ms/page (find and apply, pages in memory; mean of 5 runs)")
    if not args.skip_reading:
        print()
        columns = ["pages", "pass", "header/footer lines", "CER loose", "BoW F1 loose"]
        print(table(reading_rows(keep), columns))
        print()
        rows = passage_rows(keep)
        print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
