"""workers.ingest on both backends (SQLite file, PostgreSQL + pgvector): a failure is recorded
and leaves no chunk, the redo goes on from the pages stored and stores the document once, the
copy is a duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from core.config import Settings
from core.errors import Category
from models.embedder import EmbedParams, TextEmbedder, get_embedder
from pipelines.chunk import ChunkParams
from pipelines.engine import OcrEngine
from storage import encoders
from storage import repository as repo
from storage.search import hybrid_search
from storage.tables import Chunk, Page
from tests.pagegen import text_page
from tests.stored_documents import stored_document
from workers.documents import registered
from workers.ingest import ingest_file, ingest_paths
from workers.runtime import Runtime

pytestmark = pytest.mark.slow

LINES = ["Quarterly rainfall at the northern reservoir", "The sluice gates open every Monday"]


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return get_embedder(params=EmbedParams(device="cpu", threads=2))


@pytest.fixture(params=["sqlite", "postgresql"])
def ctx(
    request: pytest.FixtureRequest, tmp_path: Path, engine: OcrEngine, embedder: TextEmbedder
) -> Iterator[Runtime]:
    """A runtime on a fresh, migrated database of the parametrised backend."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_database")
    runtime = Runtime.build(
        Settings(home=tmp_path, database_url=url), ocr=engine, embedder=embedder
    )
    runtime.chunk = ChunkParams(max_tokens=10, min_tokens=2)  # one chunk per line
    yield runtime
    runtime.close()


class Recorder:
    """An IngestProgress that remembers what it was told."""

    def __init__(self) -> None:
        self.total = 0
        self.pages: list[int] = []

    def add_total(self, pages: int) -> None:
        self.total += pages

    def page_done(self, source: str, page: int, total: int | None) -> None:
        self.pages.append(page)


def rows(ctx: Runtime, table: type[Page] | type[Chunk]) -> int:
    with ctx.sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_ingest_fails_cleanly_then_stores_once(ctx: Runtime, tmp_path: Path) -> None:
    letter = tmp_path / "letter.png"
    text_page(LINES).save(letter)
    # an index holding another model's vectors: the document is read, then refused before
    # it is stored
    with ctx.sessions.begin() as session:
        other = encoders.register(session, kind="text", name="another", sha256="0" * 64, dim=4)
        chunk = repo.ChunkRow(page_number=1, ordinal=0, text="old", bbox=(0, 0, 1, 1))
        old = stored_document(
            session,
            tenant="acme",
            filename="old.png",
            media_type="image/png",
            chunks=[chunk],
            embeddings=np.ones((1, 4), dtype=np.float32),
            encoder_id=other.encoder_id,
        )
    failed = ingest_file(letter, runtime=ctx, tenant="acme", meta={"source": "mail"})
    assert (failed.status, failed.error_code) == ("failed", "index_model_mismatch")
    assert failed.error_category is Category.INTERNAL and failed.document_id is not None
    assert "'another'" in (failed.error_message or "") and "scanrag reindex" in (
        failed.error_message or ""
    )
    with ctx.sessions() as session:
        row = repo.get_document(session, document_id=failed.document_id)
        assert row is not None and (row.status, row.error_code) == (
            "failed",
            "index_model_mismatch",
        )
    # the page read stays (as in the service: pages are stored as they are read), no chunk
    assert (rows(ctx, Page), rows(ctx, Chunk)) == (1, 1)

    with ctx.sessions.begin() as session:
        repo.delete_document(session, document_id=old.id)
    progress = Recorder()
    done = ingest_file(
        letter, runtime=ctx, tenant="acme", meta={"source": "mail"}, progress=progress
    )
    assert (done.status, done.pages, done.error_code) == ("done", 1, None)
    assert done.document_id == failed.document_id  # the failed row was redone, not duplicated
    assert (progress.total, progress.pages) == (0, [])  # the redo goes on from the stored page
    with ctx.sessions() as session:
        row = repo.get_document(session, document_id=done.document_id)
        assert row is not None
        assert (row.status, row.pages_done, row.page_count, row.error_code) == ("done", 1, 1, None)
        assert (row.media_type, row.meta, row.tenant) == ("image/png", {"source": "mail"}, "acme")
        assert ctx.blobs.exists(row.blob_key)
        (page,) = repo.document_pages(session, document_id=row.id)
        assert page.text == "\n".join(LINES) and page.image_key is not None
        with Image.open(ctx.blobs.path(page.image_key)) as image:
            assert image.format == "JPEG" and image.size == (page.width, page.height)
        chunks = repo.document_chunks(session, document_id=row.id)
        assert [c.text for c in chunks] == LINES
        hits = hybrid_search(
            session,
            target=registered(session, ctx.embedder.identity),
            query="sluice gates",
            query_vector=ctx.embedder.embed(["sluice gates"])[0],
            k=1,
            tenant="acme",
        )
        assert hits[0].text == LINES[1] and hits[0].page_number == 1

    again, missing = ingest_paths([letter, tmp_path / "missing.pdf"], runtime=ctx, tenant="acme")
    assert (again.status, again.document_id, again.pages) == ("duplicate", done.document_id, 1)
    assert (missing.status, missing.document_id, missing.error_code) == (
        "failed",
        None,
        "file_not_found",  # a missing file is not a damaged one (issue 35)
    )
    assert rows(ctx, Page) == 1 and rows(ctx, Chunk) == 2


def test_a_folder_is_read_files_at_once_with_copies_as_duplicates(
    ctx: Runtime, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, lines in [("a.png", LINES[:1]), ("b.png", LINES[:1]), ("c.png", LINES[1:])]:
        text_page(lines).save(folder / name)  # a and b: the same content
    outcomes = ingest_paths([folder], runtime=ctx)
    assert [(o.path.name, o.status) for o in outcomes] == [
        ("a.png", "done"),
        ("b.png", "duplicate"),
        ("c.png", "done"),
    ]
    assert outcomes[0].document_id == outcomes[1].document_id
    assert rows(ctx, Page) == 2
    with ctx.sessions() as session:
        texts = [
            p.text
            for o in (outcomes[0], outcomes[2])
            for p in repo.document_pages(session, document_id=o.document_id)
        ]
    assert texts == [LINES[0], LINES[1]]


def test_a_sideways_page_is_stored_upright(ctx: Runtime, tmp_path: Path) -> None:
    # the page image stored is the one the pipeline read (turned upright), so boxes fit it
    sideways = tmp_path / "sideways.png"
    text_page(LINES).rotate(90, expand=True).save(sideways)
    done = ingest_file(sideways, runtime=ctx)
    assert done.status == "done"
    with ctx.sessions() as session:
        (page,) = repo.document_pages(session, document_id=done.document_id or "")
        assert page.rotation in (90, 270) and page.text == "\n".join(LINES)
        assert page.image_key is not None
        with Image.open(ctx.blobs.path(page.image_key)) as image:
            assert (
                image.size == (page.width, page.height) and page.width > page.height
            )  # lines run across
