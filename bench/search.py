"""Search latency: p50/p95/p99 of hybrid, dense and lexical search at N chunks, on both backends.

    python bench/search.py [--chunks 200000] [--queries 200] [--backends sqlite postgresql]
                           [--k 10] [--cache DIR] [--base-texts 4000] [--seed 0]

The issue "store and retrieve" asks for p95 under 50 ms on PostgreSQL (HNSW) and under 150 ms on
SQLite at 200k chunks. This builds an index of ``--chunks`` chunks on each backend (SQLite: a file
in a temp dir; PostgreSQL 16 + pgvector: a pgserver cluster in a temp dir), runs the same real
SQuAD questions against both and prints markdown tables: latency per backend and search kind, the
query embedder's own latency, and what the build cost.

Corpus. Chunk texts are real English: the SQuAD dev paragraphs
(``shared/data/rag/squad/dev-v1.1.rebuilt.json``) split into sentences, cut into windows of
consecutive sentences ("base texts"), and recombined with a seeded RNG: each chunk is a base text
(or its first sentences) followed by sentences of a second base text, mostly from the same
article, cut to 40-120 words. Documents hold ``pages-per-doc`` pages of ``chunks-per-page`` chunks
(N/20 documents of 10 pages by default), each document about one article.

Embeddings. Embedding 200k texts with MiniLM on two busy cores would take hours, so only the
``--base-texts`` distinct base texts are embedded with the real embedder
(``models.embedder.get_embedder``); a chunk's vector is the word-share-weighted mixture of its two
base texts' vectors plus Gaussian noise (norm ``NOISE``), L2-normalised. These synthetic vectors
lie near real MiniLM vectors of similar text but are not what MiniLM would give for the chunk
text. The queries are real SQuAD questions embedded with the real embedder, precomputed: search
latency excludes the embedder, whose cost (one question per ``embed`` call, as the API does) has
its own rows: with the default thread count (every core) and with one thread.

Loading. The built-in MiniLM is registered as the text encoder (``storage.encoders.register``)
and every chunk row names it (``encoder_id``). Rows go in with SQLAlchemy core ``insert``
(executemany, ``BATCH`` rows a statement, a commit every ``COMMIT_EVERY`` chunks) into a schema
made by ``storage.db.migrate``. On PostgreSQL the encoder's partial HNSW index (made by
``register``) and the GIN index of ``chunks`` are dropped before the load and re-created after
from their own ``pg_indexes`` definitions, then ``VACUUM ANALYZE``; each index build is timed.
SQLite keeps its FTS5 triggers during the load, then runs ``ANALYZE``.

Measuring. After ``storage.search.warm_up`` (of the encoder's vectors) and ``--warmup``
unmeasured questions, each measured question runs hybrid, dense and lexical search (interleaved,
so load noise hits every kind alike), each in its own session, timed in-process around the
``storage.search`` call. Dense recall@k is the overlap of the dense hits with the exact cosine
top k computed with numpy; lexical recall@k the overlap of the lexical hits with those of
matching on every query word (PostgreSQL matches on the rarer words only, see
storage.lexeme_stats).

The corpus (texts as JSON, vectors as ``.npy``) and the query embeddings are cached under
``--cache`` (default ``$TMPDIR/scanrag-bench-search``), so a rerun skips the embedding.
Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import torch
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, percentile, table, write_jsonl
from models.embedder import MINILM_L6_V2, MINILM_NAME, EmbedParams, TextEmbedder, get_embedder
from storage import search as search_module
from storage.db import make_sql_engine, migrate, session_factory
from storage.encoders import VectorTarget, hnsw_index_name, register
from storage.search import SearchHit, dense_search, hybrid_search, lexical_search, warm_up
from storage.tables import EMBEDDING_DIM, Base

SQUAD = SHARED / "data" / "rag" / "squad"
CORPUS_VERSION = 1  # bump when the corpus recipe changes, so old caches are not reused
NOISE = 0.2  # norm of the Gaussian perturbation added to each mixed vector (before normalising)
SAME_ARTICLE = 0.7  # probability that a chunk's second base text comes from its document's article
CHUNK_WORDS = (40, 120)
BASE_WORDS = (30, 90)
BATCH = 2_000
COMMIT_EVERY = 50_000
PG_FTS_INDEX = "ix_chunks_text_tsv"
PG_MAINTENANCE_WORK_MEM = "2GB"  # the HNSW graph of 200k x 384 (~0.5 GB) must fit to build fast
TARGET_P95_MS = {"postgresql": 50.0, "sqlite": 150.0}
KINDS = ("hybrid", "dense", "lexical")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")

_t0 = time.perf_counter()


def log(message: str) -> None:
    """A progress line on stderr, with seconds since start."""
    print(f"[{time.perf_counter() - _t0:7.1f}s] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


# ---------------------------------------------------------------------------------------------
# corpus


@dataclass(frozen=True)
class Corpus:
    """The chunks to index: texts, unit vectors, and which document/page/ordinal each is."""

    texts: list[str]
    vectors: npt.NDArray[np.float32]  # len(texts) x EMBEDDING_DIM, unit rows
    titles: list[str]  # article of each document
    chunks_per_doc: int
    chunks_per_page: int
    base_count: int

    @property
    def documents(self) -> int:
        return len(self.titles)


@dataclass(frozen=True)
class Queries:
    """Real SQuAD questions and their real MiniLM embeddings."""

    texts: list[str]
    vectors: npt.NDArray[np.float32]
    answers: list[list[str]]  # the SQuAD answers of each question (for answer recall)


def split_sentences(paragraph: str) -> list[str]:
    """The paragraph's sentences (a plain punctuation rule; abbreviations may split early)."""
    return [s.strip() for s in _SENTENCE.split(paragraph) if s.strip()]


def base_windows(rng: np.random.Generator) -> list[tuple[str, list[str]]]:
    """Every window of consecutive sentences (30-90 words) of every SQuAD dev paragraph.

    Returns (article title, sentences) pairs, distinct, in a fixed order.
    """
    data = json.loads((SQUAD / "dev-v1.1.rebuilt.json").read_text(encoding="utf-8"))
    windows: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for article in data["data"]:
        title = str(article["title"]).replace("_", " ")
        for paragraph in article["paragraphs"]:
            sentences = split_sentences(paragraph["context"])
            for start in range(len(sentences)):
                target = int(rng.integers(BASE_WORDS[0], BASE_WORDS[1] + 1))
                picked: list[str] = []
                words = 0
                for sentence in sentences[start:]:
                    picked.append(sentence)
                    words += len(sentence.split())
                    if words >= target:
                        break
                key = " ".join(picked)
                if words >= BASE_WORDS[0] // 2 and key not in seen:
                    seen.add(key)
                    windows.append((title, picked))
    return windows


def _embed_all(embedder: TextEmbedder, texts: list[str], what: str) -> npt.NDArray[np.float32]:
    out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
    step = 256
    start = time.perf_counter()
    for lo in range(0, len(texts), step):
        out[lo : lo + step] = embedder.embed(texts[lo : lo + step])
        done = min(lo + step, len(texts))
        rate = done / max(time.perf_counter() - start, 1e-9)
        log(f"embedded {done}/{len(texts)} {what} ({rate:.0f}/s)")
    return out


def _cut_words(sentences: list[str], limit: int) -> str:
    words = " ".join(sentences).split()
    return " ".join(words[:limit])


def build_corpus(
    *,
    chunks: int,
    base_count: int,
    seed: int,
    cache: Path,
    embedder: Callable[[], TextEmbedder],
    chunks_per_page: int = 2,
    pages_per_doc: int = 10,
) -> Corpus:
    """``chunks`` chunks of real text with synthetic vectors (see the module docstring), cached.

    Only the ``base_count`` base texts are embedded with the real embedder.
    """
    per_doc = chunks_per_page * pages_per_doc
    key = f"v{CORPUS_VERSION}-n{chunks}-b{base_count}-s{seed}-p{chunks_per_page}x{pages_per_doc}"
    folder = cache / f"corpus-{key}"
    if (folder / "vectors.npy").exists() and (folder / "texts.json").exists():
        log(f"corpus from cache {folder}")
        meta = json.loads((folder / "texts.json").read_text(encoding="utf-8"))
        return Corpus(
            texts=meta["texts"],
            vectors=np.load(folder / "vectors.npy"),
            titles=meta["titles"],
            chunks_per_doc=per_doc,
            chunks_per_page=chunks_per_page,
            base_count=base_count,
        )

    rng = np.random.default_rng(seed)
    windows = base_windows(rng)
    if len(windows) < base_count:
        raise SystemExit(f"only {len(windows)} distinct base texts in SQuAD; lower --base-texts")
    order = rng.permutation(len(windows))[:base_count]
    bases = [windows[i] for i in sorted(order)]
    base_texts = [" ".join(sentences) for _, sentences in bases]

    base_file = cache / f"base-v{CORPUS_VERSION}-b{base_count}-s{seed}.npy"
    if base_file.exists():
        log(f"base-text embeddings from cache {base_file}")
        base_vectors = np.load(base_file)
    else:
        log(f"embedding {base_count} real base texts with MiniLM")
        base_vectors = _embed_all(embedder(), base_texts, "base texts")
        cache.mkdir(parents=True, exist_ok=True)
        np.save(base_file, base_vectors)

    by_title: dict[str, list[int]] = {}
    for i, (title, _) in enumerate(bases):
        by_title.setdefault(title, []).append(i)
    article_names = sorted(by_title)

    documents = math.ceil(chunks / per_doc)
    titles = [article_names[int(rng.integers(len(article_names)))] for _ in range(documents)]
    log(f"recombining into {chunks} chunks, {documents} documents, {len(article_names)} topics")
    texts: list[str] = []
    primary = np.empty(chunks, dtype=np.int64)
    secondary = np.empty(chunks, dtype=np.int64)
    share = np.empty(chunks, dtype=np.float32)
    for i in range(chunks):
        pool = by_title[titles[i // per_doc]]
        p = pool[int(rng.integers(len(pool)))]
        if rng.random() < SAME_ARTICLE and len(pool) > 1:
            s = pool[int(rng.integers(len(pool)))]
            while s == p:
                s = pool[int(rng.integers(len(pool)))]
        else:
            s = int(rng.integers(base_count))
        target = int(rng.integers(CHUNK_WORDS[0], CHUNK_WORDS[1] + 1))
        first: list[str] = []
        words = 0
        for sentence in bases[p][1]:
            first.append(sentence)
            words += len(sentence.split())
            if words >= target:
                break
        second: list[str] = []
        offset = int(rng.integers(len(bases[s][1])))
        for sentence in bases[s][1][offset:] + bases[s][1][:offset]:
            if words >= target:
                break
            second.append(sentence)
            words += len(sentence.split())
        chunk = _cut_words(first + second, CHUNK_WORDS[1])
        first_words = min(len(" ".join(first).split()), CHUNK_WORDS[1])
        texts.append(chunk)
        primary[i], secondary[i] = p, s
        share[i] = first_words / max(len(chunk.split()), 1)

    log("mixing vectors")
    vectors = np.empty((chunks, EMBEDDING_DIM), dtype=np.float32)
    for lo in range(0, chunks, 20_000):
        hi = min(lo + 20_000, chunks)
        w = share[lo:hi, None]
        mixed = w * base_vectors[primary[lo:hi]] + (1 - w) * base_vectors[secondary[lo:hi]]
        noise = rng.standard_normal((hi - lo, EMBEDDING_DIM)).astype(np.float32)
        noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
        mixed += noise
        vectors[lo:hi] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)

    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", vectors)
    (folder / "texts.json").write_text(
        json.dumps({"texts": texts, "titles": titles}, ensure_ascii=False), encoding="utf-8"
    )
    log(f"corpus cached in {folder}")
    return Corpus(
        texts=texts,
        vectors=vectors,
        titles=titles,
        chunks_per_doc=per_doc,
        chunks_per_page=chunks_per_page,
        base_count=base_count,
    )


def load_queries(
    *, count: int, seed: int, cache: Path, embedder: Callable[[], TextEmbedder]
) -> Queries:
    """``count`` distinct SQuAD dev questions (seeded sample) and their MiniLM embeddings."""
    with (SQUAD / "questions.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    answers: dict[str, set[str]] = {}
    for r in rows:
        if r.get("split") == "dev":
            answers.setdefault(str(r["question"]).strip(), set()).update(r.get("answers", []))
    questions = sorted(answers)
    rng = np.random.default_rng(seed + 1)
    picked = [questions[i] for i in rng.permutation(len(questions))[:count]]
    picked_answers = [sorted(answers[q]) for q in picked]
    digest = hashlib.sha256("\n".join(picked).encode()).hexdigest()[:16]
    path = cache / f"queries-{digest}.npy"
    if path.exists():
        log(f"query embeddings from cache {path}")
        return Queries(picked, np.load(path), picked_answers)
    log(f"embedding {len(picked)} SQuAD questions with MiniLM")
    vectors = _embed_all(embedder(), picked, "questions")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return Queries(picked, vectors, picked_answers)


# ---------------------------------------------------------------------------------------------
# loading


def document_id(index: int) -> str:
    """The id of the ``index``-th benchmark document (32 hex digits, like uuid4().hex)."""
    return f"{index:032x}"


def _boxes(ordinal_on_page: int, chunk: str) -> tuple[list[float], list[list[float]]]:
    top = 150.0 + 900.0 * ordinal_on_page
    lines = max(1, math.ceil(len(chunk.split()) / 12))
    line_boxes = [[150.0, top + 40.0 * j, 1550.0, top + 40.0 * j + 30.0] for j in range(lines)]
    return [150.0, top, 1550.0, line_boxes[-1][3]], line_boxes


def _document_rows(corpus: Corpus, pages_per_doc: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for d, title in enumerate(corpus.titles):
        sha = hashlib.sha256(document_id(d).encode()).hexdigest()
        rows.append(
            {
                "id": document_id(d),
                "tenant": "default",
                "sha256": sha,
                "filename": f"{title} {d:06d}.pdf",
                "media_type": "application/pdf",
                "size_bytes": 250_000 * pages_per_doc,
                "page_count": pages_per_doc,
                "pages_done": pages_per_doc,
                "status": "done",
                "error_code": None,
                "error_message": None,
                "metadata": {"article": title},
                "blob_key": sha,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _page_rows(corpus: Corpus, d: int) -> Iterator[dict[str, Any]]:
    lo = d * corpus.chunks_per_doc
    hi = min(lo + corpus.chunks_per_doc, len(corpus.texts))
    per_page = corpus.chunks_per_page
    for page, start in enumerate(range(lo, hi, per_page), start=1):
        page_text = "\n\n".join(corpus.texts[start : min(start + per_page, hi)])
        layout = {"source": "scan.pdf", "page": page, "width": 1700, "height": 2200, "dpi": 200}
        yield {
            "document_id": document_id(d),
            "number": page,
            "width": 1700,
            "height": 2200,
            "dpi": 200,
            "rotation": 0,
            "text": page_text,
            "layout": layout | {"rotation": 0, "blocks": [], "lines": [], "words": []},
            "image_key": None,
        }


def _chunk_row(corpus: Corpus, i: int, encoder_id: int) -> dict[str, Any]:
    ordinal = i % corpus.chunks_per_doc
    bbox, line_boxes = _boxes(ordinal % corpus.chunks_per_page, corpus.texts[i])
    return {
        "document_id": document_id(i // corpus.chunks_per_doc),
        "page_number": ordinal // corpus.chunks_per_page + 1,
        "ordinal": ordinal,
        "text": corpus.texts[i],
        "bbox": bbox,
        "line_boxes": line_boxes,
        "embedding": corpus.vectors[i],
        "encoder_id": encoder_id,
    }


def register_minilm(engine: Engine) -> VectorTarget:
    """The built-in MiniLM registered as the text encoder (on PostgreSQL with its HNSW index)."""
    with session_factory(engine).begin() as s:
        return register(
            s, kind="text", name=MINILM_NAME, sha256=MINILM_L6_V2.sha256, dim=EMBEDDING_DIM
        )


def bulk_load(engine: Engine, corpus: Corpus, pages_per_doc: int, target: VectorTarget) -> None:
    """Insert the documents, their pages and the chunks (vectors of ``target``'s encoder) in
    large batches, few transactions."""
    n = len(corpus.texts)
    with engine.begin() as c:
        documents = _document_rows(corpus, pages_per_doc)
        for lo in range(0, len(documents), BATCH):
            c.execute(insert(Base.metadata.tables["documents"]), documents[lo : lo + BATCH])
        pages = [row for d in range(corpus.documents) for row in _page_rows(corpus, d)]
        for lo in range(0, len(pages), BATCH):
            c.execute(insert(Base.metadata.tables["pages"]), pages[lo : lo + BATCH])
    log(f"  {len(documents)} documents, {len(pages)} pages inserted")
    for start in range(0, n, COMMIT_EVERY):
        with engine.begin() as c:
            for lo in range(start, min(start + COMMIT_EVERY, n), BATCH):
                rows = [
                    _chunk_row(corpus, i, target.encoder_id) for i in range(lo, min(lo + BATCH, n))
                ]
                c.execute(insert(Base.metadata.tables["chunks"]), rows)
        log(f"  {min(start + COMMIT_EVERY, n)}/{n} chunks inserted")


@dataclass
class Build:
    """What building one backend's index cost."""

    backend: str
    chunks: int
    documents: int
    pages: int
    load_s: float = 0.0
    fts_index_s: float | None = None
    hnsw_index_s: float | None = None
    analyze_s: float = 0.0
    warm_up_s: float = 0.0
    db_mb: float = 0.0
    notes: str = ""

    def row(self) -> dict[str, Any]:
        total = self.load_s + (self.fts_index_s or 0.0) + (self.hnsw_index_s or 0.0)
        return {
            "backend": self.backend,
            "chunks": self.chunks,
            "documents": self.documents,
            "pages": self.pages,
            "load s": self.load_s,
            "GIN index s": self.fts_index_s,
            "HNSW index s": self.hnsw_index_s,
            "(vacuum) analyze s": self.analyze_s,
            "build total s": total + self.analyze_s,
            "warm-up s": self.warm_up_s,
            "db MB": self.db_mb,
            "notes": self.notes,
        }


def build_sqlite(
    workdir: Path, corpus: Corpus, pages_per_doc: int
) -> tuple[Engine, Build, VectorTarget]:
    """A migrated SQLite file in ``workdir`` holding the corpus (FTS5 kept in sync by triggers),
    and the target of its vectors."""
    path = workdir / "sqlite" / "scanrag.db"
    engine = make_sql_engine(f"sqlite:///{path}")
    migrate(engine)
    target = register_minilm(engine)
    n = len(corpus.texts)
    info = Build("sqlite", n, corpus.documents, math.ceil(n / corpus.chunks_per_page))
    log(f"sqlite: loading {n} chunks into {path}")
    t = time.perf_counter()
    bulk_load(engine, corpus, pages_per_doc, target)
    info.load_s = time.perf_counter() - t
    t = time.perf_counter()
    with engine.begin() as c:
        c.execute(text("ANALYZE"))
    with engine.connect() as c:
        c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    info.analyze_s = time.perf_counter() - t
    info.db_mb = sum(p.stat().st_size for p in path.parent.iterdir()) / 2**20
    info.notes = "FTS5 maintained by triggers during the load; vectors: exact, in memory"
    log(f"sqlite: built in {info.load_s:.1f}s, {info.db_mb:.0f} MB")
    return engine, info, target


@contextmanager
def postgres_server(workdir: Path) -> Iterator[Any]:
    """A PostgreSQL 16 + pgvector server from the pgserver wheel, its data in ``workdir``."""
    pgdata = workdir / "pgdata"
    pgdata.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()


def build_postgres(
    server: Any, corpus: Corpus, pages_per_doc: int
) -> tuple[Engine, Build, VectorTarget]:
    """A migrated database on ``server`` holding the corpus, and the target of its vectors;
    chunk indexes (GIN, the encoder's partial HNSW) built after the load."""
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute('CREATE DATABASE "scanrag_bench"')
        version = admin.execute("SHOW server_version").fetchone()
    engine = make_sql_engine(server.get_uri("scanrag_bench"))
    migrate(engine)
    target = register_minilm(engine)
    hnsw_index = hnsw_index_name("chunks", target.encoder_id)
    indexes = (hnsw_index, PG_FTS_INDEX)
    n = len(corpus.texts)
    info = Build("postgresql", n, corpus.documents, math.ceil(n / corpus.chunks_per_page))
    with engine.begin() as c:
        ext = c.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        pgvector_version = ext.scalar_one()
        found = c.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'chunks' AND indexname = ANY(:names)"
            ),
            {"names": list(indexes)},
        )
        definitions = {str(name): str(ddl) for name, ddl in found}
        if set(definitions) != set(indexes):
            raise SystemExit(
                f"the migration and register() made {sorted(definitions)}, expected {indexes}"
            )
        for name in indexes:
            c.execute(text(f'DROP INDEX "{name}"'))
    log(f"postgresql {version[0] if version else '?'}, pgvector {pgvector_version}")
    log(f"postgresql: dropped {', '.join(indexes)}; loading {n} chunks")
    t = time.perf_counter()
    bulk_load(engine, corpus, pages_per_doc, target)
    info.load_s = time.perf_counter() - t
    workers = max(0, min(7, (os.cpu_count() or 1) - 1))
    timings: dict[str, float] = {}
    for name in (PG_FTS_INDEX, hnsw_index):
        log(f"postgresql: {definitions[name]}")
        with engine.begin() as c:
            c.execute(text(f"SET LOCAL maintenance_work_mem = '{PG_MAINTENANCE_WORK_MEM}'"))
            c.execute(text(f"SET LOCAL max_parallel_maintenance_workers = {workers}"))
            t = time.perf_counter()
            c.execute(text(definitions[name]))
        timings[name] = time.perf_counter() - t
        log(f"postgresql: {name} built in {timings[name]:.1f}s")
    info.fts_index_s = timings[PG_FTS_INDEX]
    info.hnsw_index_s = timings[hnsw_index]
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    info.analyze_s = time.perf_counter() - t
    with engine.connect() as c:
        info.db_mb = c.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        info.db_mb /= 2**20
        found = c.execute(
            text(
                "SELECT name, current_setting(name) FROM pg_settings"
                " WHERE name IN ('shared_buffers', 'work_mem', 'jit')"
            )
        )
        settings = {str(name): str(value) for name, value in found}
    info.notes = (
        f"PG {version[0] if version else '?'}, pgvector {pgvector_version}, HNSW m=16"
        f" ef_construction=64 ({workers} parallel worker), shared_buffers"
        f" {settings.get('shared_buffers')}, jit {settings.get('jit')}"
    )
    log(f"postgresql: built, {info.db_mb:.0f} MB")
    return engine, info, target


def uses_hnsw(engine: Engine, target: VectorTarget, vector: npt.NDArray[np.float32]) -> bool:
    """Whether PostgreSQL plans a dense top-50 like storage.search's (the encoder's rows, the
    same cast, its id as a literal) on the encoder's HNSW index."""
    literal = "[" + ",".join(f"{v:.6f}" for v in vector) + "]"
    dim, encoder_id = int(target.dim), int(target.encoder_id)
    with engine.begin() as c:
        c.execute(text("SELECT set_config('hnsw.ef_search', '100', true)"))
        plan = c.execute(
            text(
                f"EXPLAIN SELECT id FROM chunks WHERE encoder_id = {encoder_id}"
                f" ORDER BY CAST(embedding AS vector({dim})) <=> CAST(:q AS vector({dim}))"
                " LIMIT 50"
            ),
            {"q": literal},
        ).scalars()
        index = hnsw_index_name("chunks", encoder_id)
        return any(index in line for line in plan)


# ---------------------------------------------------------------------------------------------
# measuring


def exact_top(corpus: Corpus, queries: Queries, k: int) -> list[set[int]]:
    """For each query, the corpus indexes of its exact cosine top ``k``."""
    out: list[set[int]] = []
    for lo in range(0, len(queries.texts), 32):
        sims = queries.vectors[lo : lo + 32] @ corpus.vectors.T
        best = np.argpartition(-sims, k, axis=1)[:, :k]
        out.extend({int(i) for i in row} for row in best)
    return out


def _hit_index(corpus: Corpus, hit: SearchHit, ordinals: dict[int, int]) -> int:
    return int(hit.document_id, 16) * corpus.chunks_per_doc + ordinals[hit.chunk_id]


def chunk_ordinals(engine: Engine) -> dict[int, int]:
    """Chunk id -> ordinal in its document, for mapping hits back to corpus rows."""
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, ordinal FROM chunks"))
        return {int(chunk_id): int(ordinal) for chunk_id, ordinal in rows}


def measure(
    engine: Engine,
    target: VectorTarget,
    corpus: Corpus,
    queries: Queries,
    warmup: Queries,
    *,
    k: int,
    exact: list[set[int]],
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]], float]:
    """Per-kind latencies (ms) over the queries, recall columns by kind (dense: against exact
    cosine; lexical: against matching on every query word), and the warm-up seconds."""
    sessions = session_factory(engine)

    def run(kind: str, session: Session, q: str, v: npt.NDArray[np.float32]) -> list[SearchHit]:
        if kind == "hybrid":
            return hybrid_search(session, query=q, query_vector=v, target=target, k=k)
        if kind == "dense":
            return dense_search(session, query_vector=v, target=target, k=k)
        return lexical_search(session, query=q, k=k)

    t = time.perf_counter()
    with sessions() as s:
        warm_up(s, (target,))
    warm_s = time.perf_counter() - t
    for q, v in zip(warmup.texts, warmup.vectors, strict=True):
        for kind in KINDS:
            with sessions() as s:
                run(kind, s, q, v)
    ordinals = chunk_ordinals(engine)
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    overlaps: list[float] = []
    lexical_overlaps: list[float] = []
    answer_found = {"lexical": 0, "all words": 0}
    for j, (q, v) in enumerate(zip(queries.texts, queries.vectors, strict=True)):
        for kind in KINDS:
            with sessions() as s:
                start = time.perf_counter_ns()
                hits = run(kind, s, q, v)
                latencies[kind].append((time.perf_counter_ns() - start) / 1e6)
            if kind == "dense":
                found = {_hit_index(corpus, h, ordinals) for h in hits}
                overlaps.append(len(found & exact[j]) / k)
            if kind == "lexical" and hits:
                # what matching on the rarer words only (PostgreSQL) loses against matching on
                # all of them: the overlap of the two top-k lists (outside the timing)
                budgets = (
                    search_module.PG_LEXICAL_ROW_BUDGET,
                    search_module.SQLITE_LEXICAL_ROW_BUDGET,
                )
                search_module.PG_LEXICAL_ROW_BUDGET = float("inf")
                search_module.SQLITE_LEXICAL_ROW_BUDGET = float("inf")
                try:
                    with sessions() as s:
                        all_words = lexical_search(s, query=q, k=k)
                finally:
                    (
                        search_module.PG_LEXICAL_ROW_BUDGET,
                        search_module.SQLITE_LEXICAL_ROW_BUDGET,
                    ) = budgets
                every = {h.chunk_id for h in all_words}
                lexical_overlaps.append(len(every & {h.chunk_id for h in hits}) / len(every))
                # relevance, not just agreement: is a SQuAD answer of the question in a hit?
                wanted = [a.lower() for a in queries.answers[j]]
                for name, found_hits in (("lexical", hits), ("all words", all_words)):
                    texts = [h.text.lower() for h in found_hits]
                    answer_found[name] += any(a in t for a in wanted for t in texts)
        if (j + 1) % 50 == 0 or j + 1 == len(queries.texts):
            log(f"  {j + 1}/{len(queries.texts)} queries")
    recalls = {
        "dense": {f"dense recall@{k}": float(np.mean(overlaps))},
        "lexical": {
            f"lexical recall@{k} vs all words": float(np.mean(lexical_overlaps)),
            f"answer in top {k}": answer_found["lexical"] / len(queries.texts),
            f"answer in top {k}, all words matched": answer_found["all words"] / len(queries.texts),
        },
    }
    return latencies, recalls, warm_s


def embedder_latency(embedder: TextEmbedder, queries: Queries, warmup: Queries) -> list[float]:
    """Milliseconds to embed each question alone (one ``embed([q])`` call, as the API does)."""
    for q in warmup.texts:
        embedder.embed([q])
    out = []
    for q in queries.texts:
        start = time.perf_counter_ns()
        embedder.embed([q])
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def latency_row(
    backend: str, chunks: int | None, kind: str, ms: list[float], **extra: Any
) -> dict[str, Any]:
    """One row of the latency table."""
    p50, p95, p99 = (percentile(ms, q) for q in (50, 95, 99))
    row: dict[str, Any] = {
        "backend": backend,
        "chunks": chunks,
        "search": kind,
        "queries": len(ms),
        "p50 ms": p50,
        "p95 ms": p95,
        "p99 ms": p99,
        "mean ms": float(np.mean(ms)),
    }
    target = TARGET_P95_MS.get(backend)
    if target is not None:
        row["p95 target ms"] = target
        row["meets target"] = "yes" if p95 is not None and p95 < target else "NO"
    return row | extra


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    ap.add_argument("--k", type=int, default=10, help="hits per search")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "scanrag-bench-search",
        help="where the corpus and query embeddings are cached",
    )
    ap.add_argument("--base-texts", type=int, default=4000, help="texts embedded for real")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured questions per backend")
    ap.add_argument("--chunks-per-page", type=int, default=2)
    ap.add_argument("--pages-per-doc", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file and pgdata")
    ap.add_argument("--out", type=Path, help="also write the rows as JSON lines here")
    args = ap.parse_args()

    load_start = load_average()
    log(f"load average {load_start}; {os.cpu_count()} cores")
    embedder_box: list[TextEmbedder] = []

    def embedder() -> TextEmbedder:
        if not embedder_box:
            log("loading MiniLM (models.embedder.get_embedder)")
            embedder_box.append(get_embedder())
        return embedder_box[0]

    corpus = build_corpus(
        chunks=args.chunks,
        base_count=args.base_texts,
        seed=args.seed,
        cache=args.cache,
        embedder=embedder,
        chunks_per_page=args.chunks_per_page,
        pages_per_doc=args.pages_per_doc,
    )
    words = np.array([len(t.split()) for t in corpus.texts])
    log(f"chunk words: min {words.min()}, median {np.median(words):.0f}, max {words.max()}")
    both = load_queries(
        count=args.queries + args.warmup, seed=args.seed, cache=args.cache, embedder=embedder
    )
    queries = Queries(
        both.texts[: args.queries], both.vectors[: args.queries], both.answers[: args.queries]
    )
    warmup = Queries(
        both.texts[args.queries :], both.vectors[args.queries :], both.answers[args.queries :]
    )
    exact = exact_top(corpus, queries, args.k)

    rows: list[dict[str, Any]] = []
    builds: list[Build] = []
    workdir = Path(tempfile.mkdtemp(prefix="scanrag-bench-search-"))
    try:
        for name in args.backends:
            if name == "sqlite":
                engine, info, target = build_sqlite(workdir, corpus, args.pages_per_doc)
                try:
                    log("sqlite: measuring")
                    latencies, recalls, info.warm_up_s = measure(
                        engine, target, corpus, queries, warmup, k=args.k, exact=exact
                    )
                finally:
                    engine.dispose()
                builds.append(info)
                for kind in KINDS:
                    extra = recalls.get(kind, {})
                    rows.append(latency_row(name, args.chunks, kind, latencies[kind], **extra))
                continue
            with postgres_server(workdir) as server:
                engine, info, target = build_postgres(server, corpus, args.pages_per_doc)
                try:
                    hnsw = uses_hnsw(engine, target, queries.vectors[0])
                    log(f"postgresql: dense plan uses HNSW: {hnsw}")
                    if not hnsw:
                        info.notes += "; WARNING: dense plan does not use the HNSW index"
                    log("postgresql: measuring")
                    latencies, recalls, info.warm_up_s = measure(
                        engine, target, corpus, queries, warmup, k=args.k, exact=exact
                    )
                finally:
                    engine.dispose()
            builds.append(info)
            for kind in KINDS:
                extra = recalls.get(kind, {})
                rows.append(latency_row(name, args.chunks, kind, latencies[kind], **extra))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    # The default embedder uses every core (torch intra-op threads); on a busy machine one
    # thread can be much faster for a single short question, so both are reported.
    default = embedder()
    threads = torch.get_num_threads()
    log(f"embedding each question alone with MiniLM ({default.device}, {threads} threads)")
    embed_ms = embedder_latency(default, queries, warmup)
    label = f"embedder ({default.device}, {threads} threads)"
    rows.append(latency_row(label, None, "embed 1 question", embed_ms))
    if default.device == "cpu" and threads > 1:
        # sets torch's process-wide pool to one thread
        single = get_embedder(params=EmbedParams(threads=1))
        log("embedding each question alone with MiniLM (cpu, 1 thread)")
        embed_ms = embedder_latency(single, queries, warmup)
        rows.append(latency_row("embedder (cpu, 1 thread)", None, "embed 1 question", embed_ms))

    columns = [
        "backend",
        "chunks",
        "search",
        "queries",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "mean ms",
        "p95 target ms",
        "meets target",
        f"dense recall@{args.k}",
        f"lexical recall@{args.k} vs all words",
        f"answer in top {args.k}",
        f"answer in top {args.k}, all words matched",
    ]
    build_rows = [b.row() for b in builds]
    print(f"## Search latency, {args.chunks} chunks, k={args.k}, {args.queries} SQuAD questions\n")
    print(table(rows, columns))
    print("\n## Build\n")
    print(table(build_rows, list(build_rows[0]) if build_rows else ["backend"]))
    print(
        f"\nCorpus: {len(corpus.texts)} chunks ({words.min()}-{words.max()} words, median"
        f" {np.median(words):.0f}) of real SQuAD dev sentences over {corpus.documents} documents"
        f" of {args.pages_per_doc} pages. Vectors: {corpus.base_count} base texts embedded with"
        f" MiniLM; each chunk vector is a mixture of two of them plus noise (norm {NOISE}),"
        " normalised -- synthetic, not MiniLM of the chunk text. Queries: real SQuAD questions,"
        " embedded with MiniLM beforehand; search latency excludes embedding (own row)."
        f" Latency in-process around storage.search, one session per call. Load average at"
        f" start {load_start}, at end {load_average()}; {os.cpu_count()} cores."
    )
    if args.out:
        write_jsonl(args.out, rows + build_rows)


if __name__ == "__main__":
    main()
