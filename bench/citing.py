"""Passages a reader can cite: highlight precision, and the score floor on questions whose
answer is absent.

    python bench/citing.py [--work DIR] [--limit 3] [--questions N]

1. The first ``--limit`` SQuAD dev articles are typeset and "scanned" (bench/squad_corpus.py) and
   ingested with ``scanrag ingest`` into ``DIR/home`` (kept between runs: delete it after a
   change to reading or chunking).
2. Every dev question (or the first ``--questions``) and every question of
   bench/data/absent_questions.jsonl (nonsense words, and questions on topics no dev article
   covers) is asked as the service asks it (MiniLM + full text, RRF; top 20), with no floor; each
   hit keeps its dense cosine and whether the lexical leg found it, and each question the
   cosine of the last of the dense leg's 50 candidates, so each floor is applied to the same
   hits afterwards as ``storage.search.hybrid_search`` applies it (after the fusion: the hits
   kept keep their order; a worded hit beyond the dense candidates counts the last one's cosine).
3. Table 1, per floor (``min_cosine``, ``min_cosine_worded``: a hit needs the first cosine with
   the query, or the second when it holds a query word): the share of absent questions
   answered with no hit, and on the real questions Recall@1/5 of the gold page, intact@5
   (bench/passages.py) and the share answered with no hit.
4. Table 2, at the default floor: highlight precision. For the questions whose top hit is on a
   gold page: the share whose highlighted lines (``lines``: the snippet's sentence(s) and the
   next best, ``pipelines.citing``) hold the answer sentence whole, next to the share whose
   hit text holds it at all (the most the highlight can reach), and the highlighted area over
   the area of the answer sentence's own lines (mean and median over the questions whose
   sentence is whole in the hit), against the whole chunk's area (the highlight before).
   "Whole" is strict (every token, in one run: an OCR slip in the sentence fails it); the
   tolerant columns count 90% of its words in order.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, SHARED, cpu_class, table
from bench.passages import answer_passage, is_intact, tokens
from bench.rag import scanrag
from bench.squad_corpus import build_corpus, load_squad

ABSENT = ROOT / "bench" / "data" / "absent_questions.jsonl"
NEAR = 0.9  # the tolerant count: this share of the answer sentence's words, in order
CANDIDATES = 50  # each leg's candidates, as the service's default (SCANRAG_SEARCH__CANDIDATES)
# (min_cosine, min_cosine_worded): a hit needs the first cosine, or the second holding a word
FLOORS: tuple[tuple[float, float] | None, ...] = (
    None,
    (0.3, -1.0),  # any hit holding a query word kept
    (0.3, 0.1),
    (0.3, 0.2),
    (0.25, 0.15),
    (0.35, 0.15),
)
_TOKEN = re.compile(r"[a-z0-9]+")


def _area(box: Any) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def ask(
    home: Path, questions: list[str], k: int = 20
) -> tuple[list[list[dict[str, Any]]], list[float], float]:
    """Each question's top ``k`` hits (no floor), as dicts: document filename, page, text,
    line boxes and texts, cosine, lexical (found by the full-text leg), and the view's
    ``lines``; each question's cosine of the last dense candidate; and the mean milliseconds
    reading the line texts added per question."""
    from models.embedder import EmbedParams, get_embedder
    from pipelines.embed import embed_query
    from storage.db import make_sql_engine, session_factory
    from storage.search import dense_search, hybrid_search
    from workers.documents import registered
    from workers.searching import with_line_texts
    from workers.views import hit_view

    engine = make_sql_engine(f"sqlite:///{home / 'scanrag.db'}")
    sessions = session_factory(engine)
    embedder = get_embedder(params=EmbedParams(device="cpu", batch=64))
    out, spent, beyond = [], 0.0, []
    with sessions() as s:
        target = registered(s, embedder.identity)
        for q in questions:
            vector = embed_query(q, embedder)
            hits = hybrid_search(s, query=q, query_vector=vector, target=target, k=k)
            dense = dense_search(s, query_vector=vector, target=target, k=CANDIDATES)
            beyond.append(dense[-1].score if len(dense) >= CANDIDATES else -1.0)
            t = time.perf_counter()
            hits = with_line_texts(s, hits)
            spent += time.perf_counter() - t
            rows = []
            for h in hits:
                view = hit_view(h, q)
                # the highlight before the lines past the chunk's edges were added
                inside = hit_view(replace(h, lines_before=(), lines_after=()), q)
                rows.append(
                    {
                        "file": h.filename,
                        "page": h.page_number,
                        "text": h.text,
                        "boxes": [list(b) for b in h.line_boxes],
                        "line_texts": h.line_texts,
                        "bbox": list(h.bbox),
                        "cosine": h.cosine,
                        "lexical": h.lexical_rank is not None,
                        "lines": view["lines"],
                        "lines_inside": inside["lines"],
                        "before": [[t, list(b)] for t, b in h.lines_before],
                        "after": [[t, list(b)] for t, b in h.lines_after],
                        "snippet": view["snippet"],
                    }
                )
            out.append(rows)
            if len(out) % 100 == 0:
                print(f"# {len(out)}/{len(questions)} asked", file=sys.stderr, flush=True)
    return out, beyond, 1000 * spent / max(1, len(questions))


def floored(
    hits: list[dict[str, Any]], beyond: float, floor: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """The hits a floor keeps (hybrid_search's rule, after the fusion); a hit beyond the
    dense candidates counts the last candidate's cosine, ``beyond``."""
    if floor is None:
        return hits
    least, worded = floor

    def cosine(h: dict[str, Any]) -> float:
        return beyond if h["cosine"] is None else float(h["cosine"])

    return [h for h in hits if cosine(h) >= (worded if h["lexical"] else least)]


def _char_range(text: str, passage: list[str]) -> tuple[int, int] | None:
    """Where the tokens ``passage`` run contiguously in ``text``: (start, end) characters."""
    found = list(_TOKEN.finditer(text.lower()))
    words = [m.group() for m in found]
    n = len(passage)
    for i in range(len(words) - n + 1):
        if words[i : i + n] == passage:
            return found[i].start(), found[i + n - 1].end()
    return None


def near_whole(passage: list[str], texts: list[str], share: float = NEAR) -> bool:
    """Whether one of ``texts`` holds ``share`` of the words of ``passage`` in order (its
    tokens matched by difflib): the sentence read with a few OCR slips still counts."""
    for text in texts:
        matcher = SequenceMatcher(None, passage, tokens(text), autojunk=False)
        if sum(block.size for block in matcher.get_matching_blocks()) >= share * len(passage):
            return True
    return False


def _joined(texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Lines joined as a chunk joins them (a space between lines, none after a letter and a
    hyphen, the hyphen dropped before a lower-case letter), and where each line lies."""
    out, offsets = "", []
    for text in texts:
        if out and out[-1] == "-" and len(out) > 1 and out[-2].isalpha():
            if text[:1].islower():
                out = out[:-1]
        elif out:
            out += " "
        offsets.append((len(out), len(out) + len(text)))
        out += text
    return out, offsets


def highlight_row(
    hits: list[list[dict[str, Any]]],
    passages: list[list[str] | None],
    gold: list[set[Any]],
    key: str = "lines",
) -> dict[str, Any]:
    """Highlight precision over the questions whose top hit is on a gold page, the highlight
    being each top hit's ``key`` (``lines``, or ``lines_inside``: the chunk's own lines only).

    The highlighted lines are placed in the hit's line sequence (the page's lines carried
    before the chunk, the chunk's, those after), each run of consecutive ones read as one
    text. The area ratio counts the questions whose answer sentence is whole in that
    sequence (the same questions for either highlight)."""
    right = held = whole = whole_page = unknown = near_hit = near_held = 0
    ratios, chunk_ratios = [], []
    for found, passage, g in zip(hits, passages, gold, strict=True):
        if not found or passage is None or (found[0]["file"], found[0]["page"]) not in g:
            continue
        top = found[0]
        right += 1
        whole += _char_range(top["text"], passage) is not None
        if top[key] is None or top["line_texts"] is None:
            unknown += 1
            continue
        seq = [
            *[(t, list(b)) for t, b in top["before"]],
            *zip(top["line_texts"], top["boxes"], strict=True),
            *[(t, list(b)) for t, b in top["after"]],
        ]
        joined, offsets = _joined([t for t, _ in seq])
        lit_boxes = [line["bbox"] for line in top[key]]
        runs: list[list[int]] = []
        for i, (_, box) in enumerate(seq):
            if box not in lit_boxes:
                continue
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        lit = [joined[offsets[r[0]][0] : offsets[r[-1]][1]] for r in runs]
        held += is_intact(passage, lit)
        near_hit += near_whole(passage, [top["text"]])
        near_held += near_whole(passage, lit)
        span = _char_range(joined, passage)
        whole_page += span is not None
        if span is None:
            continue
        own = [
            b for (a, e), (_, b) in zip(offsets, seq, strict=True) if a < span[1] and e > span[0]
        ]
        sentence_area = sum(_area(b) for b in own)
        if sentence_area > 0:
            ratios.append(sum(_area(b) for b in lit_boxes) / sentence_area)
            chunk_ratios.append(sum(_area(b) for b in top["boxes"]) / sentence_area)
    return {
        "top hit on a gold page": right,
        "sentence in the hit": whole / max(1, right),
        "sentence in the hit + lines carried": whole_page / max(1, right),
        "sentence in the highlight": held / max(1, right),
        "in the hit, 90% of its words": near_hit / max(1, right),
        "in the highlight, 90% of its words": near_held / max(1, right),
        "lines unknown": unknown,
        "area / sentence (mean)": statistics.fmean(ratios) if ratios else float("nan"),
        "area / sentence (median)": statistics.median(ratios) if ratios else float("nan"),
        "whole chunk / sentence (mean)": (
            statistics.fmean(chunk_ratios) if chunk_ratios else float("nan")
        ),
    }


def recall(hits: list[list[dict[str, Any]]], gold: list[set[Any]], k: int) -> float:
    """Share of questions with a hit on a gold page among the first ``k``."""
    return sum(
        any((h["file"], h["page"]) in g for h in found[:k])
        for found, g in zip(hits, gold, strict=True)
    ) / max(1, len(gold))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "scanrag-citing")
    ap.add_argument("--limit", type=int, default=3, help="first N dev articles")
    ap.add_argument("--questions", type=int, default=None, help="first N dev questions only")
    args = ap.parse_args()
    from storage.search import MIN_COSINE, MIN_COSINE_WORDED

    corpus, home = args.work / "corpus", args.work / "home"
    build_corpus(SHARED, "dev", corpus, dpi=150, limit=args.limit)
    qs = [json.loads(x) for x in (corpus / "questions.jsonl").read_text().splitlines() if x]
    qs = qs[: args.questions]
    if not (home / "scanrag.db").exists():
        scanrag(["ingest", *map(str, sorted(corpus.glob("*.pdf")))], home)
    absent = [json.loads(x) for x in ABSENT.read_text().splitlines() if x.strip()]
    real_hits, real_beyond, lines_ms = ask(home, [q["question"] for q in qs])
    absent_hits, absent_beyond, _ = ask(home, [a["question"] for a in absent])
    gold = [{(q["pdf"], p) for p in q["gold_pages"]} for q in qs]
    contexts = load_squad(SHARED)[0]
    passages = [answer_passage(contexts[q["title"]][q["para_index"]], q["answers"]) for q in qs]

    print(f"# bench/citing.py: {cpu_class()}; {len(qs)} dev questions, {len(absent)} absent")
    print()
    served = (MIN_COSINE, MIN_COSINE_WORDED)
    rows = []
    for floor in (*FLOORS, served):
        real = [floored(h, b, floor) for h, b in zip(real_hits, real_beyond, strict=True)]
        gone = [floored(h, b, floor) for h, b in zip(absent_hits, absent_beyond, strict=True)]
        name = "none" if floor is None else f"{floor[0]}, {floor[1]}"
        row: dict[str, Any] = {"floor: cosine, worded": name + (" (default)" * (floor == served))}
        for kind in ("nonsense", "offtopic"):
            picked = [g for g, a in zip(gone, absent, strict=True) if a["kind"] == kind]
            row[f"absent {kind}: no hit"] = sum(not g for g in picked) / max(1, len(picked))
        row["absent: no hit"] = sum(not g for g in gone) / len(gone)
        row["real: R@1"] = recall(real, gold, 1)
        row["real: R@5"] = recall(real, gold, 5)
        texts = [[h["text"] for h in found[:5]] for found in real]
        judged = [(p, t) for p, t in zip(passages, texts, strict=True) if p is not None]
        row["real: intact@5"] = sum(is_intact(p, t) for p, t in judged) / max(1, len(judged))
        row["real: no hit"] = sum(not r for r in real) / len(real)
        rows.append(row)
    print(table(rows, list(rows[0])))
    print()
    print(f"default floor: min_cosine {MIN_COSINE}, min_cosine_worded {MIN_COSINE_WORDED}")
    print()
    at_default = [floored(h, b, served) for h, b in zip(real_hits, real_beyond, strict=True)]
    shown = []
    for key, name in (("lines_inside", "chunk's lines only (before)"), ("lines", "past edges")):
        shown.append({"highlight": name, **highlight_row(at_default, passages, gold, key)})
    print(table(shown, list(shown[0])))
    print()
    print(
        f"reading the hits' line texts from their pages' lines: {lines_ms:.1f} ms per query"
        " (top 20 hits)"
    )


if __name__ == "__main__":
    main()
