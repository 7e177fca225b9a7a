"""The storage side of citing passages, on SQLite and PostgreSQL: a page's lines read from its
stored layout (``page_lines``), a hit's lines and the page's lines around it read back for its
highlight (``workers.searching.with_line_texts``), and the score floor of ``hybrid_search`` (a
chunk needs a cosine with the query, a lower one when it holds a query word)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pipelines.types import Block, PageResult, TextLine
from storage import encoders
from storage import repository as repo
from storage.db import make_sql_engine, migrate, session_factory
from storage.encoders import VectorTarget
from storage.page_lines import page_lines
from storage.search import MIN_COSINE_WORDED, hybrid_search
from storage.tables import EMBEDDING_DIM
from tests.stored_documents import stored_document

LINES = [
    ("The harbour board met on Monday.", (50.0, 100.0, 400.0, 120.0)),
    ("Dredging costs will rise next year.", (50.0, 130.0, 420.0, 150.0)),
    ("Volunteers may register at the hall.", (50.0, 160.0, 410.0, 180.0)),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_sql_engine(f"sqlite:///{tmp_path / 'scanrag.db'}")
    else:
        engine = make_sql_engine(request.getfixturevalue("pg_database"))
    migrate(engine)
    yield engine
    engine.dispose()


def _target(s: Session) -> VectorTarget:
    return encoders.register(s, kind="text", name="t", sha256="0" * 64, dim=EMBEDDING_DIM)


def _vector(cosine: float) -> np.ndarray:
    """A unit vector whose cosine with the query (axis 0) is ``cosine``."""
    v = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    v[0], v[1] = cosine, np.sqrt(1 - cosine**2)
    return v


def _store(sessions: sessionmaker[Session], chunks: list[tuple[str, float]]) -> str:
    """A one-page document whose layout has LINES, and a chunk per (text, cosine) embedded at
    that cosine with the query vector."""
    page = PageResult(
        "doc.pdf",
        1,
        1700,
        2200,
        200,
        0,
        blocks=(
            Block(
                "text",
                (50.0, 100.0, 420.0, 180.0),
                tuple(TextLine(t, b, 0.9) for t, b in LINES),
            ),
        ),
    )
    boxes = [b for _, b in LINES]
    rows = [
        repo.ChunkRow(1, i, text, boxes[i % 3], (boxes[i % 3],))
        for i, (text, _) in enumerate(chunks)
    ]
    return _one_page_document(sessions, page, rows, [_vector(c) for _, c in chunks])


def _one_page_document(
    sessions: sessionmaker[Session],
    page: PageResult,
    rows: list[repo.ChunkRow],
    vectors: list[np.ndarray],
) -> str:
    """Store a document of ``page`` (its layout kept whole) with chunk ``rows`` embedded as
    ``vectors``; its id."""
    row = repo.PageRow(number=1, width=1700, height=2200, text="", layout=page.to_dict())
    with sessions.begin() as s:
        return stored_document(
            s,
            pages=[row],
            chunks=rows,
            embeddings=np.stack(vectors),
            encoder_id=_target(s).encoder_id,
        ).id


def test_page_lines_are_read_from_the_stored_layout(db: Engine) -> None:
    sessions = session_factory(db)
    doc = _store(sessions, [("The harbour board met on Monday.", 0.9)])
    with sessions() as s:
        found = page_lines(s, [(doc, 1), (doc, 2), (doc, 1)])
    assert list(found) == [(doc, 1)]  # no page 2
    assert [(text, tuple(box)) for text, box in found[(doc, 1)]] == LINES
    with sessions() as s:
        assert page_lines(s, []) == {}


def test_the_floor_answers_nothing_only_when_no_chunk_is_worded_or_close(db: Engine) -> None:
    sessions = session_factory(db)
    _store(
        sessions,
        [
            ("close in meaning, no query word", 0.5),
            ("far in meaning, no query word", 0.2),
            ("dredging named, somewhat close", 0.2),
            ("dredging named, far", 0.05),
        ],
    )
    query = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    query[0] = 1.0
    with sessions() as s:
        target = _target(s)

        def texts(
            min_cosine: float | None = None, min_cosine_worded: float = MIN_COSINE_WORDED
        ) -> list[str]:
            hits = hybrid_search(
                s,
                query="dredging",
                query_vector=query,
                target=target,
                k=10,
                min_cosine=min_cosine,
                min_cosine_worded=min_cosine_worded,
            )
            return [h.text for h in hits]

        every = texts()  # no floor by default (the service passes its settings' floor)
        assert len(every) == 4
        # two chunks pass (close in meaning; worded and somewhat close): the ranking stands
        # whole, the far ones included, as without the floor
        assert texts(min_cosine=0.3, min_cosine_worded=0.15) == every
        # none passes: no hits
        assert texts(min_cosine=0.6, min_cosine_worded=0.3) == []
        hits = hybrid_search(
            s, query="xyzzy", query_vector=-query, target=target, k=10, min_cosine=0.3
        )
        assert hits == []


def test_a_hit_on_a_chunk_cut_mid_sentence_highlights_the_whole_sentence(db: Engine) -> None:
    from pipelines.chunk import ChunkParams, chunk_document
    from tests.unit.test_citing import CUT_BUDGET, CUT_PAGE, CUT_SENTENCE
    from workers.searching import with_line_texts
    from workers.views import hit_view

    # the real chunks of a page whose long sentence no chunk holds whole
    chunks = chunk_document([CUT_PAGE], ChunkParams(max_tokens=CUT_BUDGET, min_tokens=0))
    (end,) = [c for c in chunks if "this year." in c.text]
    assert "Members heard" not in end.text
    sessions = session_factory(db)
    rows = [
        repo.ChunkRow(1, c.ordinal, c.text, c.bbox, c.line_boxes, title=c.title) for c in chunks
    ]
    _one_page_document(sessions, CUT_PAGE, rows, [_vector(0.5) for _ in chunks])
    query = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    query[0] = 1.0
    words = "budget allows"
    with sessions() as s:
        found = hybrid_search(s, query=words, query_vector=query, target=_target(s), k=1)
        hits = with_line_texts(s, found)
    (hit,) = hits
    assert hit.text == end.text and hit.line_texts is not None
    # the page's lines before the chunk, read from the stored layout in reading order
    assert [t for t, _ in hit.lines_before][-2:] == [
        "floods, that the dredging of the channel is",
        "late again, and that the repairs will cost more",
    ]
    texts = [line["text"] for line in hit_view(hit, words)["lines"]]
    assert CUT_SENTENCE in " ".join(texts), texts
    assert texts[0] == "Members heard that the old pumping station by", texts
