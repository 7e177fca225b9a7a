"""Retrieval benchmark: SQuAD questions against SQuAD articles printed and scanned as PDFs.

    python bench/rag.py [--split holdout|dev] [--work DIR] [--limit N] [--speed-articles 3]

1. Every article of the split is typeset and "scanned" into an image-only PDF
   (bench/squad_corpus.py), remembering the page(s) that hold each paragraph.
2. ``scanrag ingest`` reads them into a fresh SCANRAG_HOME (OCR + chunk + embed + store).
3. Every question is asked with ``scanrag search --queries FILE --json -k 10`` (one process).
   A result is a hit when it lies on a page that holds the question's gold paragraph.
4. In the same run, on the same questions:
   (a) the same retriever (MiniLM dense + full text, RRF) over the ground-truth text, one chunk
       per paragraph piece per page: what OCR and our chunking lose;
   (b) BM25 (k1 = 1.2, b = 0.75) over the ground-truth text of each page.
5. Ingest speed: ``scanrag ocr`` alone vs ``scanrag ingest`` on the same first
   ``--speed-articles`` PDFs, in the same run (embedding + storage overhead).
Prints Recall@1/5/10 and MRR@10 per retriever, and for the two retrievers that return passages
the intact-passage rate (bench/passages.py): the share of questions whose answer sentence(s), from
the gold paragraph, appear whole in one of the first 5 hits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, table
from bench.passages import answer_passage, intact_rate
from bench.squad_corpus import build_corpus, load_manifest, load_squad

Ranked = list[tuple[str, int]]  # (pdf file name, page) best first
KS = (1, 5, 10)
FOOTER = re.compile(r"Page \d+ of \d+")


def scanrag(
    args: list[str], home: Path, extra: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run the scanrag CLI with SCANRAG_HOME=home and the ``extra`` settings (SCANRAG_...)."""
    env = {**os.environ, "SCANRAG_HOME": str(home), **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        check=True,
        **kw,
    )


def metrics(ranked: list[Ranked], gold: list[set[tuple[str, int]]]) -> dict[str, float]:
    """Recall@k (a hit among the first k results) and MRR@10 over all questions."""
    out: dict[str, float] = {}
    first_hit = []
    for results, g in zip(ranked, gold, strict=True):
        rank = next((i + 1 for i, r in enumerate(results[:10]) if r in g), None)
        first_hit.append(rank)
    n = len(gold)
    for k in KS:
        out[f"R@{k}"] = sum(1 for r in first_hit if r is not None and r <= k) / n
    out["MRR@10"] = sum(1 / r for r in first_hit if r is not None) / n
    return out


def page_pieces(manifest: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    """Ground-truth text pieces: (pdf, page, paragraph piece), footer and heading dropped."""
    pieces = []
    for art in manifest:
        pdf = Path(art["pdf"]).name
        for page, text in art["page_text"].items():
            blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
            for block in blocks:
                lines = [
                    ln for ln in block.splitlines() if not re.fullmatch(r"Page \d+ of \d+", ln)
                ]
                if page == 1 and lines and lines[0] == art["title"].replace("_", " "):
                    lines = lines[1:]
                if lines:
                    pieces.append((pdf, int(page), " ".join(lines)))
    return pieces


def same_retriever_on_truth(
    pieces: list[tuple[str, int, str]], questions: list[str], work: Path
) -> tuple[list[Ranked], list[list[str]]]:
    """Our hybrid retriever (MiniLM + full text, RRF) over the ground-truth paragraph pieces:
    the ranked pages and the hits' texts per question."""
    import numpy as np

    from models.embedder import EmbedParams, get_embedder
    from pipelines.embed import embed_query
    from storage.db import make_sql_engine, migrate, session_factory
    from storage.encoders import register
    from storage.repository import (
        ChunkRow,
        PageRow,
        get_or_create_document,
        replace_document_content,
    )
    from storage.search import hybrid_search

    engine = make_sql_engine(f"sqlite:///{work / 'truth.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    embedder = get_embedder(params=EmbedParams(device="cpu", batch=64))
    by_pdf: dict[str, list[tuple[int, str]]] = {}
    for pdf, page, text in pieces:
        by_pdf.setdefault(pdf, []).append((page, text))
    identity = embedder.identity
    with sessions.begin() as s:
        target = register(
            s, kind="text", name=identity.name, sha256=identity.sha256, dim=identity.dim
        )
        for pdf, items in by_pdf.items():
            doc, _ = get_or_create_document(
                s,
                tenant="default",
                sha256=pdf,
                filename=pdf,
                media_type="text/plain",
                size_bytes=0,
                blob_key="",
                meta=None,
            )
            rows = [
                ChunkRow(page, i, text, (0.0, 0.0, 0.0, 0.0))
                for i, (page, text) in enumerate(items)
            ]
            vectors = embedder.embed([r.text for r in rows])
            blank: dict[str, Any] = {"width": 0, "height": 0, "dpi": None, "rotation": 0}
            blank |= {"text": "", "blocks": []}  # the layout of a page with no read text
            pages = [
                PageRow(number=p, width=0, height=0, text="", layout={"page": p, **blank})
                for p in sorted({p for p, _ in items})
            ]
            replace_document_content(
                s,
                document_id=doc.id,
                pages=pages,
                chunks=rows,
                embeddings=np.asarray(vectors),
                encoder_id=target.encoder_id,
            )
    ranked, texts = [], []
    with sessions() as s:
        for q in questions:
            vector = embed_query(q, embedder)
            hits = hybrid_search(s, query=q, query_vector=vector, target=target, k=10)
            ranked.append([(h.filename, h.page_number) for h in hits])
            texts.append([h.text for h in hits])
    return ranked, texts


def bm25_rank(
    keys: list[Any],
    texts: list[str],
    questions: list[str],
    *,
    n: int = 10,
    token: str = r"[a-z0-9]+",
    stop_words: frozenset[str] = frozenset(),
) -> list[list[Any]]:
    """BM25 (k1 = 1.2, b = 0.75) over ``texts``: the keys of the top ``n`` per question
    (positive scores only when ``stop_words`` are given)."""
    tok = [re.findall(token, t.lower()) for t in texts]
    tf = [Counter(t) for t in tok]
    df: Counter[str] = Counter(w for t in tf for w in t)
    count, avg = len(texts), sum(len(t) for t in tok) / max(1, len(texts))
    idf = {w: math.log(1 + (count - d + 0.5) / (d + 0.5)) for w, d in df.items()}
    ranked = []
    for q in questions:
        words = re.findall(token, q.lower())
        if stop_words:
            words = [w for w in dict.fromkeys(words) if w not in stop_words]
        terms = [w for w in words if w in idf]
        scores = []
        for i, counts in enumerate(tf):
            s = 0.0
            for w in terms:
                f = counts.get(w, 0)
                if f:
                    s += idf[w] * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * len(tok[i]) / avg))
            scores.append(s)
        top = sorted(range(count), key=lambda i: -scores[i])[:n]
        ranked.append([keys[i] for i in top if scores[i] > 0 or not stop_words])
    return ranked


def bm25_on_truth(manifest: list[dict[str, Any]], questions: list[str]) -> list[Ranked]:
    """BM25 over the ground-truth text of every page (k1 = 1.2, b = 0.75)."""
    docs = [(Path(a["pdf"]).name, int(p), t) for a in manifest for p, t in a["page_text"].items()]
    return bm25_rank([(d[0], d[1]) for d in docs], [d[2] for d in docs], questions)


def pages_of(pdfs: list[Path]) -> int:
    import pypdfium2 as pdfium

    total = 0
    for p in pdfs:
        doc = pdfium.PdfDocument(str(p))
        total += len(doc)
        doc.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", default="holdout", choices=["dev", "holdout"])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "scanrag-rag")
    ap.add_argument("--limit", type=int, default=None, help="first N articles only")
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--speed-articles", type=int, default=3)
    args = ap.parse_args()
    work = args.work / args.split
    corpus = work / "corpus"
    build_corpus(SHARED, args.split, corpus, dpi=args.dpi, limit=args.limit)
    manifest = load_manifest(corpus)
    qs = [json.loads(x) for x in (corpus / "questions.jsonl").read_text().splitlines() if x]
    pdfs = [
        Path(a["pdf"]) if Path(a["pdf"]).is_absolute() else corpus / Path(a["pdf"]).name
        for a in manifest
    ]
    print(
        f"# {len(manifest)} articles, {pages_of(pdfs)} pages, {len(qs)} questions",
        file=sys.stderr,
        flush=True,
    )

    for stale in ("home", "home-speed", "home-ocr", "ocr-only", "truth.db"):
        # every run starts from empty stores: a leftover index would turn ingests into duplicates
        path = work / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    # ingest speed vs OCR alone, same PDFs, same run
    speed_pdfs = pdfs[: args.speed_articles]
    n_speed = pages_of(speed_pdfs)
    ocr_s = ingest_s = math.nan  # --speed-articles 0: recall only
    if speed_pdfs:
        t = time.perf_counter()
        scanrag(["ocr", "--out", str(work / "ocr-only"), *map(str, speed_pdfs)], work / "home-ocr")
        ocr_s = time.perf_counter() - t
        t = time.perf_counter()
        scanrag(["ingest", *map(str, speed_pdfs)], work / "home-speed")
        ingest_s = time.perf_counter() - t

    # the full index
    home = work / "home"
    t = time.perf_counter()
    scanrag(["ingest", *map(str, pdfs)], home)
    full_ingest_s = time.perf_counter() - t
    qfile = work / "queries.jsonl"
    qfile.write_text("".join(json.dumps({"query": q["question"]}) + "\n" for q in qs))
    t = time.perf_counter()
    res = scanrag(["search", "--queries", str(qfile), "-k", "10", "--json"], home)
    search_s = time.perf_counter() - t
    answers = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    ours = [[(h["document"]["filename"], int(h["page"])) for h in a["hits"]] for a in answers]
    ours_texts = [[h["text"] for h in a["hits"]] for a in answers]
    gold = [{(q["pdf"], p) for p in q["gold_pages"]} for q in qs]
    questions = [q["question"] for q in qs]
    truth, truth_texts = same_retriever_on_truth(page_pieces(manifest), questions, work)
    bm25 = bm25_on_truth(manifest, questions)
    contexts = load_squad(SHARED)[0]
    passages = [answer_passage(contexts[q["title"]][q["para_index"]], q["answers"]) for q in qs]

    rows = []
    skipped = 0
    for name, ranked, texts in (
        ("scanrag (OCR of the scans, hybrid)", ours, ours_texts),
        ("same retriever on ground-truth text", truth, truth_texts),
        ("BM25 on ground-truth page text", bm25, None),  # whole pages: no passages to judge
    ):
        row: dict[str, Any] = {"retriever": name, "questions": len(qs), **metrics(ranked, gold)}
        if texts is not None:
            row["intact@5"], skipped = intact_rate(passages, texts, k=5)
        rows.append(row)
    print(table(rows, ["retriever", "questions", "R@1", "R@5", "R@10", "MRR@10", "intact@5"]))
    print(
        f"intact@5: the gold paragraph's answer sentence(s) whole in one of the first 5 hits "
        f"(bench/passages.py); {skipped} questions skipped (no answer found in the paragraph)"
    )
    print()
    speed = [
        {
            "run": "scanrag ocr (alone)",
            "pages": n_speed,
            "seconds": ocr_s,
            "pages/s": n_speed / ocr_s,
        },
        {
            "run": "scanrag ingest (ocr+chunk+embed+store)",
            "pages": n_speed,
            "seconds": ingest_s,
            "pages/s": n_speed / ingest_s,
            "overhead": ingest_s / ocr_s - 1,
        },
    ]
    print(table(speed, ["run", "pages", "seconds", "pages/s", "overhead"]))
    print(
        f"\nfull ingest: {full_ingest_s:.0f} s; {len(qs)} queries answered in {search_s:.0f} s "
        f"({len(qs) / search_s:.1f} queries/s, one process, models loaded once)"
    )


if __name__ == "__main__":
    main()
