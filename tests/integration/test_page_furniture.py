"""Running heads, folios, lists and headings on pages read by the real engine (issue 34).

A three-page two-column newsletter typeset by tests/pagegen.py (a running header, a folio
"Page N" under the columns) and the sample scan (docs/sample-scan.pdf: a numbered list and an
unmarked page heading on page 2) are read with the real OCR; the chunks and Markdown are made
from those readings. Where the layout model labelled the furniture itself, the failure of
issue 34 is rebuilt from the real reading: its header and footer blocks called ``text`` and the
folio put between the columns, as the model and the row rules did on a newsletter's page 2.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.chunk import chunk_document
from pipelines.engine import OcrEngine
from pipelines.markdown import document_markdown
from pipelines.running_heads import mark_running_heads
from pipelines.types import Block, PageResult, union_box
from tests.pagegen import article_page

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEADER = "River Wardens Quarterly, Summer Issue"
LEFT = [
    "The otter colony in the northern meadow grew through the spring, and the wardens counted"
    " forty animals along the canal banks by early May.",
    "Wardens believe the cleaner water after the mill closed brought back the fish the otters"
    " live on, and they plan to extend the protected reach of the canal next year.",
]
RIGHT = [
    "The heron roost on the island suffered in the storms of March, when two old willows fell"
    " into the water and took eleven nests with them.",
    "Visitors may still watch the roost from the hide on the western shore, which is open every"
    " day from dawn until dusk throughout the summer.",
]
TITLES = ("Wildlife on the River", "Boats and Locks", "News from the Mill")


def newsletter_pdf(path: Path) -> Path:
    """The three-page newsletter typeset as a PDF at ``path``."""
    images = [
        article_page(HEADER, title, LEFT, RIGHT, "Figure 1. Otters each spring.", f"Page {n}")[0]
        for n, title in enumerate(TITLES, 1)
    ]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=150)
    return path


@pytest.fixture(scope="module")
def newsletter(engine: OcrEngine, tmp_path_factory: pytest.TempPathFactory) -> list[PageResult]:
    """The three pages as the engine reads the PDF they make."""
    pdf = newsletter_pdf(tmp_path_factory.mktemp("furniture") / "newsletter.pdf")
    return list(engine.read_path(pdf))


def _mislabelled(page: PageResult) -> PageResult:
    """``page`` as issue 34 saw its page 2: header and footer read as ``text``, the folio
    between the two columns (before the first block of the right column)."""
    furniture = [b for b in page.blocks if b.kind in ("header", "footer")]
    header = [Block("text", b.bbox, b.lines) for b in furniture if b.kind == "header"]
    footer = [Block("text", b.bbox, b.lines) for b in furniture if b.kind == "footer"]
    body = [b for b in page.blocks if b.kind not in ("header", "footer")]
    right = next(i for i, b in enumerate(body) if b.bbox[0] > page.width / 2)
    return replace(page, blocks=(*header, *body[:right], *footer, *body[right:]))


def _folio(page: PageResult) -> str:
    return f"Page {page.page}"


def test_folio_between_columns_goes_last_and_out_of_chunks(newsletter: list[PageResult]) -> None:
    read = [_mislabelled(p) for p in newsletter]
    # the failure being fixed: as read, folio and running head land in chunks
    before = chunk_document(read)
    assert any(_folio(p) in c.text for p in read for c in before if c.page == p.page)
    assert any(HEADER in c.text for c in before)

    marked = mark_running_heads(read)
    for page in marked:
        last, first = page.blocks[-1], page.blocks[0]
        assert last.kind == "footer" and last.text.strip() == _folio(page), page.blocks[-1]
        assert first.kind == "header" and HEADER in first.text, page.blocks[0]
        # the page keeps every line: furniture is moved, not dropped
        assert sorted(ln.text for ln in page.lines) == sorted(
            ln.text for ln in read[page.page - 1].lines
        )
    chunks = chunk_document(marked)
    assert chunks
    assert not [c.text for c in chunks if HEADER in c.text or re.search(r"\bPage \d\b", c.text)]
    md = document_markdown(read)
    assert HEADER not in md and not re.search(r"\bPage \d\b", md)
    # each page's own title titles its chunks
    assert {c.page: c.title for c in chunks} == dict(enumerate(TITLES, 1))


def test_running_head_repeated_over_three_pages_is_out_of_all_chunks(
    newsletter: list[PageResult],
) -> None:
    # the header pulled out of a text block the model merged it into (the first body block)
    merged = []
    for page in [_mislabelled(p) for p in newsletter]:
        head, top = page.blocks[0], page.blocks[1]
        block = Block("text", union_box([head.bbox, top.bbox]), (*head.lines, *top.lines))
        merged.append(replace(page, blocks=(block, *page.blocks[2:])))
    assert any(HEADER in c.text for c in chunk_document(merged))
    chunks = chunk_document(mark_running_heads(merged))
    assert not [c.text for c in chunks if HEADER in c.text]
    # the block's other lines are still read, in chunks
    top_text = merged[0].blocks[0].lines[-1].text
    assert any(top_text in c.text for c in chunks if c.page == 1)


def test_single_page_folio_alone_is_furniture(newsletter: list[PageResult]) -> None:
    (page,) = mark_running_heads([_mislabelled(newsletter[1])])
    assert page.blocks[-1].kind == "footer" and page.blocks[-1].text.strip() == "Page 2"
    # one page: the running head cannot be told from a line of text by repetition
    assert not re.search(r"\bPage 2\b", " ".join(c.text for c in chunk_document([page])))


@pytest.fixture(scope="module")
def sample(engine: OcrEngine) -> list[PageResult]:
    return list(engine.read_path(ROOT / "docs" / "sample-scan.pdf"))


def _as_text(pages: list[PageResult], heading: str) -> list[PageResult]:
    """The pages with the block reading ``heading`` called text, as the layout model does."""
    return [
        replace(
            p,
            blocks=tuple(
                Block("text", b.bbox, b.lines) if b.text.strip() == heading else b for b in p.blocks
            ),
        )
        for p in pages
    ]


MINUTES = "Minutes of the River Board, 12 March"


def test_numbered_list_in_markdown_and_chunks(sample: list[PageResult]) -> None:
    md = document_markdown(sample)
    assert re.search(
        r"Somerville\n\n1\. The flood report was accepted without changes\.\n"
        r"2\. The harbor pumping station will be repaired in June\.\n3\. Next meeting",
        md,
    ), md
    for chunk in chunk_document(sample):
        assert "Somerville 1." not in chunk.text
        if "flood report" in chunk.text:
            assert "\n1. The flood report" in chunk.text and "\n2. The harbor" in chunk.text


def test_page_heading_the_model_calls_text_starts_a_section(sample: list[PageResult]) -> None:
    pages = _as_text(sample, MINUTES)
    assert not any(b.kind == "title" and MINUTES in b.text for p in pages for b in p.blocks)
    md = document_markdown(pages)
    assert re.search(rf"^#{{1,2}} {MINUTES}$", md, re.MULTILINE), md
    chunks = chunk_document(pages)
    second = [c for c in chunks if c.page == 2]
    assert second and all(c.title == MINUTES for c in second), second
    assert second[0].text.startswith(MINUTES)
    # page 1 keeps its own title; page 2 never carries it
    assert all(c.title == "Annual Report of the River Board" for c in chunks if c.page == 1)


def test_indexing_keeps_furniture_out_of_stored_chunks(
    newsletter: list[PageResult], tmp_path: Path
) -> None:
    """`scanrag ingest`, then the stored pages made as issue 34 read them (furniture called
    text, the folio between the columns) and `scanrag reindex`: the worker's chunks hold no
    running head and no folio."""
    pdf = newsletter_pdf(tmp_path / "newsletter.pdf")
    home = tmp_path / "home"
    env = {**os.environ, "SCANRAG_HOME": str(home), "SCANRAG_OCR__THREADS": "2"}

    def scanrag(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    scanrag("ingest", str(pdf))
    with closing(sqlite3.connect(home / "scanrag.db")) as db:
        for number, layout in db.execute("SELECT number, layout FROM pages").fetchall():
            page = _mislabelled(PageResult.from_dict(json.loads(layout)))
            assert page.page == number
            db.execute(
                "UPDATE pages SET layout = ? WHERE number = ?",
                (json.dumps(page.to_dict()), number),
            )
        db.commit()
    scanrag("reindex")
    with closing(sqlite3.connect(home / "scanrag.db")) as db:
        texts = [t for (t,) in db.execute("SELECT text FROM chunks").fetchall()]
    assert len(texts) >= 3
    assert not [t for t in texts if HEADER in t or re.search(r"\bPage \d\b", t)]
