"""storage on real databases: every test runs on SQLite (a temp file) and on PostgreSQL 16 +
pgvector (started from the pgserver wheel, a fresh database per test)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.status import DocumentStatus, may_move, sources
from storage import encoders
from storage import lexeme_stats as stats_module
from storage import repository as repo
from storage import search as search_module
from storage.blobs import BlobStore
from storage.db import backend, include_in_autogenerate, make_sql_engine, migrate, session_factory
from storage.encoders import VectorTarget
from storage.errors import DocumentNotFound, IndexMismatch
from storage.search import dense_search, hybrid_search, lexical_search, warm_up
from storage.tables import EMBEDDING_DIM, Base, Chunk, Document, Encoder, ImageVector, Page
from tests.stored_documents import stored_document

DIM = EMBEDDING_DIM
SHA = "5" * 64  # the weights' sha256 of the text encoder the tests' vectors stand for


def text_target(s: Session, name: str = "test-encoder", dim: int = DIM) -> VectorTarget:
    """The test text encoder's vector target (registered on first use)."""
    return encoders.register(s, kind="text", name=name, sha256=SHA, dim=dim)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of the parametrised backend."""
    if request.param == "sqlite":
        # A folder that does not exist yet: make_sql_engine must create it.
        engine = make_sql_engine(f"sqlite:///{tmp_path / 'data' / 'scanrag.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    engine = make_sql_engine(request.getfixturevalue("pg_database"))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def sessions(db: Engine) -> sessionmaker[Session]:
    return session_factory(db)


def unit(*weights: tuple[int, float]) -> np.ndarray:
    """A unit vector with the given (axis, weight) components."""
    v = np.zeros(DIM, dtype=np.float32)
    for axis, weight in weights:
        v[axis] = weight
    return v / np.linalg.norm(v)


def add_document(
    sessions: sessionmaker[Session],
    texts: list[str],
    axes: list[int],
    *,
    tenant: str = "default",
    meta: dict[str, Any] | None = None,
    blob_key: str | None = None,
) -> str:
    """A document with one page and a chunk per text, embedded as the unit vector on axes[i]."""
    with sessions.begin() as s:
        return stored_document(
            s,
            tenant=tenant,
            filename=f"{texts[0][:10]}.pdf",
            size_bytes=100,
            blob_key=blob_key,
            meta=meta,
            pages=[page_row(1, " ".join(texts))],
            chunks=[chunk_row(i, t) for i, t in enumerate(texts)],
            embeddings=np.stack([unit((a, 1.0)) for a in axes]),
            encoder_id=text_target(s).encoder_id,
        ).id


def page_row(number: int, text_: str, image_key: str | None = None) -> repo.PageRow:
    line = {"text": text_, "bbox": [10.0, 10.0, 200.0, 30.0], "confidence": 0.9}
    block = {"kind": "text", "bbox": line["bbox"], "lines": [{**line, "words": []}]}
    page = {"source": "scan.pdf", "page": number, "width": 1700, "height": 2200, "dpi": 200}
    page |= {"rotation": 0, "text": text_, "blocks": [block], "lines": [line], "words": []}
    return repo.PageRow(
        number=number,
        width=1700,
        height=2200,
        text=text_,
        layout=page | {"seconds": 0.1},
        dpi=200,
        image_key=image_key,
    )


def chunk_row(ordinal: int, text_: str, page: int = 1) -> repo.ChunkRow:
    box = (10.0, 10.0 + 30 * ordinal, 200.0, 30.0 + 30 * ordinal)
    return repo.ChunkRow(page_number=page, ordinal=ordinal, text=text_, bbox=box, line_boxes=(box,))


def count(sessions: sessionmaker[Session], model: Any, document_id: str | None = None) -> int:
    with sessions() as s:
        stmt = select(func.count()).select_from(model)
        if document_id is not None:
            stmt = stmt.where(model.document_id == document_id)
        return int(s.execute(stmt).scalar_one())


def test_migrate_creates_everything_and_again_is_a_no_op(db: Engine) -> None:
    migrate(db)
    names = set(inspect(db).get_table_names())
    assert {"documents", "pages", "chunks", "encoders", "image_vectors", "alembic_version"} <= names
    assert "index_info" not in names
    assert {"tenants", "api_keys", "batches", "batch_items", "task_deliveries"} <= names
    with db.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            "0008"
        ]
        if backend(db) == "postgresql":
            assert c.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).one()
            rows = c.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks'")
            )
            indexes = {name: definition for name, definition in rows}
            # one HNSW index per encoder, made when it is registered, over its rows only
            assert not any("hnsw" in definition for definition in indexes.values())
            with Session(c) as s:
                target = text_target(s)
            rows = c.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks'")
            )
            indexes = {name: definition for name, definition in rows}
            hnsw = indexes[f"ix_chunks_embedding_hnsw_e{target.encoder_id}"]
            assert f"((embedding)::vector({DIM})) vector_cosine_ops" in hnsw
            assert f"WHERE (encoder_id = {target.encoder_id})" in hnsw
            assert "USING gin (text_tsv)" in indexes["ix_chunks_text_tsv"]
            generated = c.execute(
                text(
                    "SELECT is_generated FROM information_schema.columns "
                    "WHERE table_name = 'chunks' AND column_name = 'text_tsv'"
                )
            ).scalar_one()
            assert generated == "ALWAYS"
        else:
            assert "chunks_fts" in names
            triggers = c.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            assert set(triggers) == {"chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update"}
            assert c.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        # storage.tables and the migration describe the same schema.
        options = {"compare_type": True, "include_object": include_in_autogenerate}
        assert compare_metadata(MigrationContext.configure(c, opts=options), Base.metadata) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the parametrised backend, not migrated."""
    if request.param == "sqlite":
        engine = make_sql_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = make_sql_engine(request.getfixturevalue("pg_database"))
    yield engine
    engine.dispose()


def test_vectors_stored_before_encoders_get_minilms_identity(bare_db: Engine) -> None:
    from alembic import command

    from models.embedder import MINILM_L6_V2, MINILM_NAME
    from storage.db import alembic_config

    db = bare_db
    if backend(db) == "postgresql":
        with db.begin() as c:
            c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    cfg = alembic_config(db)
    with db.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0005")  # the schema of one model for the whole index
    sessions = session_factory(db)
    with db.begin() as c:
        c.execute(
            text(
                "INSERT INTO documents (id, tenant, sha256, filename, media_type, size_bytes,"
                " pages_done, status, metadata, blob_key, created_at, updated_at) VALUES"
                " ('d1', 'default', :h, 'a.png', 'image/png', 1, 0, 'done', '{}', 'k',"
                " '2026-01-01', '2026-01-01')"
            ),
            {"h": "1" * 64},
        )
        vector = unit((3, 1.0))
        stored = (
            str(vector.tolist()) if backend(db) == "postgresql" else vector.astype("<f4").tobytes()
        )
        c.execute(
            text(
                "INSERT INTO chunks (document_id, page_number, ordinal, text, bbox, line_boxes,"
                " kind, embedding) VALUES ('d1', 1, 0, 'old', '[0,0,1,1]', '[]', 'text', :v)"
            ),
            {"v": stored},
        )
        c.execute(
            text(
                "INSERT INTO index_info (id, model_name, dim, created_at)"
                " VALUES (1, :name, 384, '2026-01-01')"
            ),
            {"name": MINILM_NAME},
        )
    migrate(db)
    with sessions() as s:
        target = encoders.register(
            s, kind="text", name=MINILM_NAME, sha256=MINILM_L6_V2.sha256, dim=DIM
        )
        encoders.check_only(s, target, what="text model", configured="MiniLM")  # no mismatch
        (hit,) = dense_search(s, target=target, query_vector=vector)
        assert hit.text == "old" and hit.score == pytest.approx(1.0)


def test_get_or_create_document_never_duplicates(sessions: sessionmaker[Session]) -> None:
    fields: dict[str, Any] = {
        "sha256": "a" * 64,
        "filename": "scan.pdf",
        "media_type": "application/pdf",
        "size_bytes": 1234,
        "blob_key": "a" * 64,
        "meta": {"source": "mail"},
    }
    with sessions.begin() as s:
        first, created = repo.get_or_create_document(s, tenant="acme", **fields)
    with sessions.begin() as s:
        again, created_again = repo.get_or_create_document(s, tenant="acme", **fields)
        other, created_other = repo.get_or_create_document(s, tenant="globex", **fields)
    assert (created, created_again, created_other) == (True, False, True)
    assert again.id == first.id != other.id
    assert len(first.id) == 32 and first.status == "queued" and first.meta == {"source": "mail"}
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset().total_seconds() == 0
    assert count(sessions, Document) == 2


def test_get_or_create_document_is_safe_under_a_race(sessions: sessionmaker[Session]) -> None:
    fields: dict[str, Any] = {
        "tenant": "acme",
        "sha256": "b" * 64,
        "filename": "race.pdf",
        "media_type": "application/pdf",
        "size_bytes": 1,
        "blob_key": "b" * 64,
    }
    results: list[tuple[str, bool]] = []

    def second_writer() -> None:
        with sessions.begin() as s:
            doc, created = repo.get_or_create_document(s, **fields)
            results.append((doc.id, created))

    with sessions.begin() as s:
        first, created = repo.get_or_create_document(s, **fields)
        racer = threading.Thread(target=second_writer)
        racer.start()
        time.sleep(0.3)
        assert results == []  # the racer is waiting on our uncommitted row
    racer.join(timeout=20)
    assert created and results == [(first.id, False)]
    assert count(sessions, Document) == 1


def test_replace_document_content_twice_keeps_one_copy(sessions: sessionmaker[Session]) -> None:
    doc_id = add_document(sessions, ["old text about walruses"], [0])
    pages = [page_row(1, "first page", image_key="c" * 64 + ".png"), page_row(2, "second")]
    chunks = [chunk_row(0, "alpha invoice"), chunk_row(1, "beta receipt"), chunk_row(2, "gamma", 2)]
    vectors = np.stack([unit((1, 1.0)), unit((2, 1.0)), unit((3, 1.0))])
    for _ in range(2):
        with sessions.begin() as s:
            repo.replace_document_content(
                s,
                document_id=doc_id,
                pages=pages,
                chunks=chunks,
                embeddings=vectors,
                encoder_id=text_target(s).encoder_id,
            )
    assert count(sessions, Page, doc_id) == 2
    assert count(sessions, Chunk, doc_id) == 3
    with sessions() as s:
        stored = repo.document_pages(s, document_id=doc_id)
        assert [p.number for p in stored] == [1, 2]
        assert stored[0].image_key == "c" * 64 + ".png" and stored[1].image_key is None
        assert stored[0].layout == pages[0].layout
        assert (stored[0].width, stored[0].dpi, stored[0].text) == (1700, 200, "first page")
        streamed = repo.page_layouts(s, document_id=doc_id)
        assert [layout["text"] for layout in streamed] == ["first page", "second"]
        rows = repo.document_chunks(s, document_id=doc_id)
        assert [c.text for c in rows] == ["alpha invoice", "beta receipt", "gamma"]
        assert rows[0].bbox == [10.0, 10.0, 200.0, 30.0]
        np.testing.assert_allclose(rows[1].embedding, vectors[1])
        # The full-text index and the vectors follow the replacement.
        assert lexical_search(s, query="walruses") == []
        assert [h.text for h in lexical_search(s, query="receipt")] == ["beta receipt"]
        assert (
            dense_search(s, target=text_target(s), query_vector=unit((0, 1.0)), k=1)[0].text
            != "old text"
        )
        assert (
            dense_search(s, target=text_target(s), query_vector=unit((3, 1.0)), k=1)[0].text
            == "gamma"
        )
        with pytest.raises(DocumentNotFound):
            repo.replace_document_content(
                s, document_id="0" * 32, pages=[], chunks=[], embeddings=None
            )
    with sessions.begin() as s:  # chunks without embeddings: found by words only
        repo.replace_document_content(
            s, document_id=doc_id, pages=pages, chunks=chunks, embeddings=None
        )
    with sessions() as s:
        assert dense_search(s, target=text_target(s), query_vector=unit((3, 1.0))) == []
        assert [h.text for h in lexical_search(s, query="gamma")] == ["gamma"]


def test_delete_cascades_and_returns_unshared_blobs(sessions: sessionmaker[Session]) -> None:
    shared_blob = "d" * 64
    keep_id = add_document(sessions, ["kept zebra"], [5], blob_key=shared_blob)
    doc_id = add_document(sessions, ["doomed aardvark", "more aardvark"], [6, 7])
    image = "e" * 64 + ".png"
    with sessions.begin() as s:
        repo.replace_document_content(
            s,
            document_id=doc_id,
            pages=[page_row(1, "doomed aardvark", image_key=image)],
            chunks=[chunk_row(0, "doomed aardvark")],
            embeddings=np.stack([unit((6, 1.0))]),
            encoder_id=text_target(s).encoder_id,
        )
        s.execute(
            Document.__table__.update().where(Document.id == doc_id).values(blob_key=shared_blob)
        )
    with sessions() as s:
        assert (
            dense_search(s, target=text_target(s), query_vector=unit((6, 1.0)), k=1)[0].document_id
            == doc_id
        )
    with sessions.begin() as s:
        assert repo.delete_document(s, document_id=doc_id) == [image]
    with sessions.begin() as s:
        assert repo.delete_document(s, document_id=doc_id) == []
    assert count(sessions, Page, doc_id) == 0 and count(sessions, Chunk, doc_id) == 0
    assert count(sessions, Chunk) == 1
    with sessions() as s:
        assert repo.get_document(s, document_id=doc_id) is None
        assert lexical_search(s, query="aardvark") == []
        assert [
            h.document_id
            for h in dense_search(s, target=text_target(s), query_vector=unit((6, 1.0)))
        ] == [keep_id]
        assert repo.get_document(s, document_id=keep_id) is not None


def test_status_lifecycle_and_listing(sessions: sessionmaker[Session]) -> None:
    first = add_document(sessions, ["one"], [0], tenant="acme")
    second = add_document(sessions, ["two"], [1], tenant="acme")
    third = add_document(sessions, ["three"], [2], tenant="globex")
    with sessions.begin() as s:
        assert repo.mark_started(s, document_id=first, page_count=3)
        assert repo.update_pages_done(s, document_id=first) == 1  # its one stored page
        assert repo.finish(
            s,
            document_id=second,
            status=DocumentStatus.FAILED,
            error_code="corrupt",
            error_message="bad",
        )
        # moves the lifecycle does not allow
        assert not repo.finish(s, document_id=third, status=DocumentStatus.DONE)  # never read
        assert not repo.finish(s, document_id=second, status=DocumentStatus.DONE)
        assert not repo.mark_started(s, document_id="0" * 32, page_count=1)
        with pytest.raises(ValueError):
            repo.finish(s, document_id=first, status=DocumentStatus.PROCESSING)
    with sessions() as s:
        doc = repo.get_document(s, document_id=first)
        assert doc is not None and (doc.status, doc.pages_done, doc.page_count) == (
            "processing",
            1,
            3,
        )
        assert repo.get_document(s, document_id=first, tenant="globex") is None
        failed = repo.list_documents(s, status="failed")
        assert [(d.id, d.error_code, d.error_message) for d in failed] == [
            (second, "corrupt", "bad")
        ]
        acme = repo.list_documents(s, tenant="acme", limit=10, offset=0)
        assert {d.id for d in acme} == {first, second}
        assert len(repo.list_documents(s, limit=2, offset=2)) == 1
        assert repo.count_documents(s, tenant="acme") == 2 and repo.count_documents(s) == 3
        assert doc.started_at is not None and doc.finished_at is None
        failed_at = failed[0].finished_at
        assert failed_at is not None and failed[0].started_at is None
    # a failed document taken up again starts afresh; a done one is never taken up again
    with sessions.begin() as s:
        assert repo.mark_started(s, document_id=second, page_count=1)
        assert repo.finish(s, document_id=first, status=DocumentStatus.DONE)
        assert not repo.mark_started(s, document_id=first, page_count=3)
        assert not repo.finish(s, document_id=first, status=DocumentStatus.FAILED)
    with sessions() as s:
        again = repo.get_document(s, document_id=second)
        assert again is not None and again.status == "processing"
        assert (again.error_code, again.finished_at) == (None, None)
        assert again.started_at is not None and again.started_at >= failed_at
        done = repo.get_document(s, document_id=first)
        assert done is not None and (done.status, done.pages_done) == ("done", 3)
        assert done.finished_at is not None and done.started_at is not None


def test_status_moves() -> None:
    assert may_move("queued", DocumentStatus.PROCESSING)
    assert may_move("failed", DocumentStatus.PROCESSING)
    assert not may_move("done", DocumentStatus.PROCESSING)
    assert not may_move("queued", DocumentStatus.DONE)
    assert sources(DocumentStatus.DONE) == {DocumentStatus.PROCESSING}
    assert sources(DocumentStatus.QUEUED) == {DocumentStatus.FAILED}  # sent again: retried


def test_hybrid_search_by_words_and_by_vector(sessions: sessionmaker[Session]) -> None:
    invoices = add_document(
        sessions, ["The invoice total is 420 euros", "Payment due within thirty days"], [0, 1]
    )
    manual = add_document(
        sessions, ["Replace the printer toner cartridge", "Clean the paper feed rollers"], [2, 3]
    )
    with sessions() as s:
        warm_up(s)
        # Words only: the vector points nowhere near any chunk.
        by_words = hybrid_search(
            s, target=text_target(s), query="printer toner", query_vector=unit((300, 1.0)), k=3
        )
        assert by_words[0].text == "Replace the printer toner cartridge"
        assert by_words[0].lexical_rank == 1 and by_words[0].document_id == manual
        assert by_words[0].filename == "Replace th.pdf" and by_words[0].page_number == 1
        assert by_words[0].bbox == (10.0, 10.0, 200.0, 30.0)
        assert by_words[0].line_boxes == ((10.0, 10.0, 200.0, 30.0),)
        # Vector only: close to chunk "Payment due…", and FTS syntax in the words cannot break it.
        near = unit((1, 0.95), (2, 0.3))
        by_vector = hybrid_search(
            s, target=text_target(s), query='"( NEAR AND* -', query_vector=near, k=2
        )
        assert by_vector[0].text == "Payment due within thirty days"
        assert by_vector[0].dense_rank == 1 and by_vector[0].lexical_rank is None
        assert by_vector[0].document_id == invoices
        # Both legs agree: the fused score is the sum of both reciprocal ranks.
        both = hybrid_search(
            s, target=text_target(s), query="invoice total", query_vector=unit((0, 1.0)), k=1
        )[0]
        assert (both.text, both.dense_rank, both.lexical_rank) == (
            "The invoice total is 420 euros",
            1,
            1,
        )
        assert both.score == pytest.approx(1 / 11 + 3 / 11)  # dense 1, lexical 3, k = 10
        scores = [
            h.score
            for h in hybrid_search(s, target=text_target(s), query="the", query_vector=near, k=4)
        ]
        assert scores == sorted(scores, reverse=True) and len(scores) == 4
        assert lexical_search(s, query="?!") == []
        # Stemming on both backends: "invoices" finds "invoice".
        assert lexical_search(s, query="invoices", k=1)[0].document_id == invoices


def test_lexical_leg_matches_on_rare_words(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"harbour report number {i}" for i in range(400)]
    texts += ["harbour zebra crossing report", "zebra stripes"]
    add_document(sessions, texts, [i % EMBEDDING_DIM for i in range(len(texts))])
    engine = sessions.kw["bind"]
    pg = backend(engine) == "postgresql"
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE chunks"))
    # a budget below the 400 rows holding "harbour": only "zebra" is matched on
    monkeypatch.setattr(search_module, "PG_LEXICAL_ROW_BUDGET", 50.0)
    monkeypatch.setattr(search_module, "SQLITE_LEXICAL_ROW_BUDGET", 50.0)
    stats_module._cache.clear()
    stats_module._term_counts.clear()
    with sessions() as s:
        if pg:
            stats = stats_module.lexeme_stats(s)
            assert stats is not None and stats.expected_rows("harbour") > 300
        else:
            counts = stats_module.sqlite_term_counts(s).expected_rows(s, ["harbour", "zebra"])
            assert counts == {"harbour": 401.0, "zebra": 2.0}
        hits = [h.text for h in lexical_search(s, query="harbour zebra report", k=5)]
        # only the two zebra chunks match (on PostgreSQL every query word still ranks them)
        assert sorted(hits) == ["harbour zebra crossing report", "zebra stripes"]
        if pg:
            assert hits[0] == "harbour zebra crossing report"
        # a query of common words alone still matches on its rarest word
        assert len(lexical_search(s, query="harbour report", k=5)) == 5
        assert lexical_search(s, query="unicorn", k=5) == []


def test_matching_lexemes_takes_the_rarest_within_the_budget() -> None:
    stats = stats_module.LexemeStats(
        frequency={"the": 0.9, "harbour": 0.2, "report": 0.1}, floor=0.001, rows=10_000
    )
    assert stats_module.matching_lexemes(["harbour", "zebra", "report"], stats, 1500) == [
        "zebra",
        "report",
    ]
    assert stats_module.matching_lexemes(["the", "harbour"], stats, 10) == ["harbour"]
    assert stats_module.matching_lexemes(["a", "b"], None, 10) == ["a", "b"]


def test_search_filters_apply_to_both_legs(sessions: sessionmaker[Session]) -> None:
    a = add_document(sessions, ["quarterly report revenue"], [0], tenant="acme", meta={"kind": "a"})
    b = add_document(sessions, ["quarterly report costs"], [1], tenant="acme", meta={"kind": "b"})
    c = add_document(
        sessions, ["quarterly report secret"], [2], tenant="globex", meta={"kind": "a"}
    )
    vector = unit((0, 0.5), (1, 0.5), (2, 0.5))

    def found(**filters: Any) -> list[set[str]]:
        """The documents each search finds: hybrid, dense, lexical."""
        with sessions() as s:
            return [
                {h.document_id for h in hits}
                for hits in (
                    hybrid_search(
                        s, target=text_target(s), query="quarterly", query_vector=vector, **filters
                    ),
                    dense_search(s, target=text_target(s), query_vector=vector, **filters),
                    lexical_search(s, query="report", **filters),
                )
            ]

    assert found() == [{a, b, c}] * 3
    assert found(document_ids=[b]) == [{b}] * 3
    assert found(metadata={"kind": "a"}) == [{a, c}] * 3
    assert found(tenant="globex") == [{c}] * 3
    assert found(tenant="acme", metadata={"kind": "a"}) == [{a}] * 3
    assert found(tenant="nobody") == [set()] * 3
    assert found(document_ids=[]) == [set()] * 3


def test_a_table_holding_another_encoders_vectors_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    add_document(sessions, ["alpha"], [0])
    with sessions.begin() as s:
        same = text_target(s)
        encoders.check_only(s, same, what="text model", configured="'test-encoder'")
        other = encoders.register(s, kind="text", name="bge-m3", sha256="6" * 64, dim=1024)
        assert other.encoder_id != same.encoder_id and other.dim == 1024
    with sessions() as s, pytest.raises(IndexMismatch) as info:
        encoders.check_only(s, other, what="text model", configured="'bge-m3'")
    message = info.value.message
    assert info.value.code == "index_model_mismatch"
    assert "'test-encoder' (sha256 555555555555…, 384 dims)" in message
    assert "scanrag reindex" in message
    with sessions() as s:
        # an image encoder is checked against the image vectors alone
        image = encoders.register(s, kind="image", name="clip", sha256="7" * 64, dim=16)
        encoders.check_only(s, image, what="image model", configured="'clip'")
        assert s.scalar(select(func.count()).select_from(Encoder)) == 3


def store_wide(sessions: sessionmaker[Session], document_id: str, texts: list[str]) -> VectorTarget:
    """``texts`` as chunks of ``document_id`` with 8-wide vectors of a text encoder "wide";
    that encoder's target."""
    with sessions.begin() as s:
        wide = text_target(s, name="wide", dim=8)
        repo.replace_chunks(
            s,
            document_id=document_id,
            chunks=[chunk_row(k, t) for k, t in enumerate(texts)],
            embeddings=np.eye(len(texts), 8, dtype=np.float32),
            encoder_id=wide.encoder_id,
        )
    return wide


def test_vectors_of_another_width_live_beside_and_never_mix(
    sessions: sessionmaker[Session],
) -> None:
    doc = add_document(sessions, ["alpha", "beta"], [0, 1])
    wide = store_wide(sessions, doc, ["alpha", "beta"])
    with sessions() as s:
        hits = dense_search(s, target=wide, query_vector=np.eye(1, 8, 1, dtype=np.float32)[0])
        assert [h.text for h in hits] == ["beta", "alpha"] and hits[0].dense_rank == 1
        # the 384-wide encoder's vectors are gone with the chunks they belonged to
        assert dense_search(s, target=text_target(s), query_vector=unit((0, 1.0))) == []


def test_image_vectors_are_searched_by_their_encoder(sessions: sessionmaker[Session]) -> None:
    page_doc = add_document(sessions, ["a page with a chart"], [0])
    other_doc = add_document(sessions, ["another page"], [1])
    rows = {
        page_doc: [
            repo.ImageVectorRow(1, 0, "page", (0, 0, 1700, 2200), "a page", np.eye(1, 4, 0)[0]),
            repo.ImageVectorRow(1, 1, "figure", (100, 200, 900, 800), "Fig. 1", np.eye(1, 4, 1)[0]),
        ],
        other_doc: [repo.ImageVectorRow(1, 0, "page", (0, 0, 1700, 2200), "", np.eye(1, 4, 2)[0])],
    }
    with sessions.begin() as s:
        image = encoders.register(s, kind="image", name="clip", sha256="7" * 64, dim=4)
        for doc, regions in rows.items():
            repo.replace_image_vectors(
                s, document_id=doc, rows=regions, encoder_id=image.encoder_id
            )
    query = np.array([0.1, 1.0, 0.0, 0.0], dtype=np.float32)
    with sessions() as s:
        (figure, page, _) = dense_search(s, target=image, query_vector=query)
        assert (figure.kind, figure.text, figure.bbox) == ("figure", "Fig. 1", (100, 200, 900, 800))
        assert figure.chunk_id is None and figure.region_id is not None
        assert figure.found_by == ["image"] and page.kind == "page"
        assert [
            h.document_id
            for h in dense_search(s, target=image, query_vector=query, document_ids=[other_doc])
        ] == [other_doc]
        # fused with the text legs: a chunk found by its words, a figure by its look
        leg = search_module.VectorLeg("image", image, query)
        fused = hybrid_search(s, query="chart", image_legs=[leg], k=3)
        assert {(h.kind, tuple(h.found_by)) for h in fused} >= {
            ("text", ("lexical",)),
            ("figure", ("image",)),
        }
    with sessions.begin() as s:
        repo.replace_image_vectors(
            s, document_id=page_doc, rows=rows[page_doc][:1], encoder_id=image.encoder_id
        )
    assert count(sessions, ImageVector, page_doc) == 1
    with sessions.begin() as s:
        repo.delete_document(s, document_id=page_doc)
    assert count(sessions, ImageVector) == 1  # the other document's


def test_blob_store_open_temp_then_adopt(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    payload = b"%PDF-1.7\n" + bytes(range(256)) * 1_000
    path, out = store.open_temp()
    with out:
        out.write(payload)
    assert path.parent == tmp_path / "blobs" / "tmp" and path.read_bytes() == payload
    key = store.adopt(path, hashlib.sha256(payload).hexdigest())
    assert not path.exists() and store.path(key).read_bytes() == payload
    again, out = store.open_temp()
    with out:
        out.write(payload)
    assert store.adopt(again, key) == key and not again.exists()  # stored once
    stray = tmp_path / "stray"
    stray.write_bytes(payload)
    with pytest.raises(ValueError):
        store.adopt(stray, key)


def test_blob_store_round_trip_and_dedupe(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    source = tmp_path / "scan.pdf"
    payload = b"%PDF-1.7\n" + bytes(range(256)) * 10_000
    source.write_bytes(payload)
    key = store.put_file(source)
    assert key == store.put_bytes(payload)
    assert store.path(key) == tmp_path / "blobs" / key[:2] / key[2:4] / key
    with store.open(key) as f:
        assert f.read() == payload
    image_key = store.put_bytes(b"\x89PNG fake", suffix=".png")
    assert image_key.endswith(".png") and store.exists(image_key)
    stored = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert sorted(p.name for p in stored) == sorted([key, image_key])
    store.delete(key)
    store.delete(key)
    assert not store.exists(key) and store.exists(image_key)
    for bad in ("../etc/passwd", "A" * 64, key[:10]):
        with pytest.raises(ValueError):
            store.path(bad)
    with pytest.raises(ValueError):
        store.put_bytes(b"x", suffix="/evil")


def test_an_old_encoders_hnsw_index_is_dropped_once_no_vector_names_it(
    sessions: sessionmaker[Session],
) -> None:
    doc = add_document(sessions, ["alpha"], [0])
    with sessions.begin() as s:
        old = text_target(s)
        new = text_target(s, name="new", dim=8)
        image = encoders.register(s, kind="image", name="clip", sha256="7" * 64, dim=4)
        # the old model's vectors stay: nothing is dropped
        assert encoders.drop_unused_indexes(s, {new.encoder_id, image.encoder_id}) == []
        repo.replace_chunks(
            s,
            document_id=doc,
            chunks=[chunk_row(0, "alpha")],
            embeddings=np.eye(1, 8, dtype=np.float32),
            encoder_id=new.encoder_id,
        )
        dropped = encoders.drop_unused_indexes(s, {new.encoder_id, image.encoder_id})
    if backend(sessions.kw["bind"]) == "sqlite":
        assert dropped == []  # no such indexes on SQLite
        return
    assert dropped == [encoders.hnsw_index_name("chunks", old.encoder_id)]
    with sessions() as s:
        names = set(s.scalars(text("SELECT indexname FROM pg_indexes")))
    assert encoders.hnsw_index_name("chunks", new.encoder_id) in names
    assert encoders.hnsw_index_name("image_vectors", image.encoder_id) in names
    assert encoders.hnsw_index_name("chunks", old.encoder_id) not in names


def test_the_vectors_searched_follow_inserts_and_deletes_of_every_encoder(
    sessions: sessionmaker[Session],
) -> None:
    first = add_document(sessions, ["alpha"], [0])
    with sessions() as s:
        target = text_target(s)
        assert [
            h.document_id for h in dense_search(s, target=target, query_vector=unit((0, 1)))
        ] == [first]
    # another encoder's rows, then a new row of ours, then a delete
    other = add_document(sessions, ["beta"], [1])
    wide = store_wide(sessions, other, ["beta", "delta"])
    second = add_document(sessions, ["gamma"], [2])
    with sessions() as s:
        found = {h.document_id for h in dense_search(s, target=target, query_vector=unit((2, 1)))}
        assert found == {first, second}
    with sessions.begin() as s:
        repo.delete_document(s, document_id=first)
    with sessions() as s:
        hits = dense_search(s, target=target, query_vector=unit((0, 1)))
        assert [h.document_id for h in hits] == [second]
        assert [h.text for h in dense_search(s, target=wide, query_vector=np.eye(1, 8)[0])] == [
            "beta",
            "delta",
        ]
