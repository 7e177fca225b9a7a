"""Offline tuning of the fusion of retrieval legs on an ingested corpus (dev split only).

    python bench/rag.py --split dev --work /tmp/rag-dev          # builds, ingests the dev corpus
    python bench/tuning/rag_tune.py --work /tmp/rag-dev/dev      # then this, as often as wanted

Every question's candidates are computed once: the dense leg (cosine over every chunk vector),
the chunk full-text leg (storage.search.lexical_search: FTS5 bm25) and a page full-text leg
(BM25 k1 = 1.2, b = 0.75 over each stored page's OCR text). Fusion variants are then scored
offline (Recall@1/5/10 and MRR@10 over pages, as bench/rag.py scores them): reciprocal rank
fusion with its k and per-leg weights, with and without the page leg.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import table
from bench.rag import bm25_rank, metrics

Page = tuple[str, int]


def load_chunks(db: Path) -> tuple[list[int], list[Page], np.ndarray]:
    """Chunk ids, their (pdf, page), and their vectors (rows aligned)."""
    with closing(sqlite3.connect(db)) as c:
        rows = c.execute(
            "SELECT c.id, d.filename, c.page_number, c.embedding FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.embedding IS NOT NULL"
        ).fetchall()
    ids = [int(r[0]) for r in rows]
    pages = [(str(r[1]), int(r[2])) for r in rows]
    vectors = np.stack([np.frombuffer(r[3], dtype="<f4") for r in rows]).astype(np.float32)
    return ids, pages, vectors


def page_bm25(db: Path, questions: list[str], n: int) -> list[list[Page]]:
    """BM25 over each stored page's OCR text: the top ``n`` pages per question."""
    from storage.search import STOP_WORDS

    with closing(sqlite3.connect(db)) as c:
        rows = c.execute(
            "SELECT d.filename, p.number, p.text FROM pages p "
            "JOIN documents d ON d.id = p.document_id"
        ).fetchall()
    keys = [(str(f), int(p)) for f, p, _ in rows]
    texts = [str(t) for _, _, t in rows]
    return bm25_rank(keys, texts, questions, n=n, token=r"\w+", stop_words=STOP_WORDS)


def pages_of(chunk_ranking: list[int], page_of: dict[int, Page]) -> list[Page]:
    """The distinct pages of a chunk ranking, in order."""
    return list(dict.fromkeys(page_of[c] for c in chunk_ranking))


def fuse(legs: list[tuple[list[Any], float]], k: float, key: Any = None) -> list[Any]:
    """Weighted reciprocal rank fusion of rankings: sum of weight / (k + rank)."""
    scores: dict[Any, float] = {}
    for ranking, weight in legs:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="bench/rag.py's WORK/SPLIT folder")
    ap.add_argument("--candidates", type=int, default=50)
    args = ap.parse_args()
    corpus, db = args.work / "corpus", args.work / "home" / "scanrag.db"

    if args.work.name != "dev":
        raise SystemExit("tune on the dev split only (bench/rag.py --split dev)")
    qs = [json.loads(x) for x in (corpus / "questions.jsonl").read_text().splitlines() if x]
    questions = [q["question"] for q in qs]
    gold = [{(q["pdf"], p) for p in q["gold_pages"]} for q in qs]

    ids, chunk_pages, vectors = load_chunks(db)
    page_of = dict(zip(ids, chunk_pages, strict=True))
    cache = args.work / "question-vectors.npy"
    if cache.exists() and np.load(cache).shape[0] == len(questions):
        qv = np.load(cache)
    else:
        from models.embedder import EmbedParams, get_embedder

        qv = get_embedder(params=EmbedParams(device="cpu", batch=64)).embed(questions)
        np.save(cache, qv)
    n = args.candidates
    dense = [[ids[i] for i in np.argsort(-(vectors @ v), kind="stable")[:n]] for v in qv]

    from storage.db import make_sql_engine, session_factory
    from storage.search import lexical_search

    engine = make_sql_engine(f"sqlite:///{db}")
    with session_factory(engine)() as s:
        lexical = [[h.chunk_id for h in lexical_search(s, query=q, k=n)] for q in questions]
    engine.dispose()
    page_leg = page_bm25(db, questions, n)

    rows = []

    def score(name: str, ranked: list[list[Page]]) -> None:
        rows.append({"variant": name, **metrics(ranked, gold)})

    score("dense only", [pages_of(d, page_of) for d in dense])
    score("chunk lexical only", [pages_of(x, page_of) for x in lexical])
    score("page BM25 only", page_leg)
    for k, wl in itertools.product((5, 10, 20, 30, 60), (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)):
        fused = [
            pages_of(fuse([(d, 1.0), (x, wl)], k), page_of)
            for d, x in zip(dense, lexical, strict=True)
        ]
        score(f"RRF k={k} dense 1 lexical {wl}", fused)
    for k, wl, wp in itertools.product((10, 30), (0.0, 1.0, 2.0), (1.0, 2.0)):
        fused = []
        for d, x, p in zip(dense, lexical, page_leg, strict=True):
            chunk_rank = pages_of(fuse([(d, 1.0), (x, wl)], k), page_of)
            fused.append(fuse([(chunk_rank, 1.0), (p, wp)], k))
        score(f"RRF k={k} (dense 1 lexical {wl}) + page BM25 {wp}", fused)
    rows.sort(key=lambda r: (-r["R@1"], -r["MRR@10"]))
    print(table(rows, ["variant", "R@1", "R@5", "R@10", "MRR@10"]))


if __name__ == "__main__":
    main()
