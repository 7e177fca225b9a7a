"""`scanrag ingest / search / documents / show` in subprocesses on a SQLite file under a temp
SCANRAG_HOME: stored once, found on the right page and line, never stored twice, resumed after
a kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.pagegen import font, text_page

pytestmark = pytest.mark.slow

SCANRAG = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]

# text_page typesetting: 28 px DejaVu, lines 1.6 sizes apart, 80 px margins; the PDFs are saved
# at 200 dpi and rendered at the default 200 dpi, so page pixels are the typeset pixels
SIZE, MARGIN, PITCH = 28, 80, int(28 * 1.6)
PAGE_ONE = [
    "The walrus keeps a careful ledger of herring sales.",
    "Invoices from the harbour arrive every Tuesday.",
]
PAGE_TWO = [
    "The lighthouse keeper counts seventeen gulls at dawn.",
    "Fog rolled over the northern pier before noon.",
    "A brass bell warns the fishing boats of rocks.",
]
ANIMALS = ["otter", "heron", "badger", "falcon", "beaver", "lynx"]
PLACES = ["meadow", "quarry", "orchard", "canal", "glacier", "vineyard"]


def save_pdf(path: Path, pages: list[list[str]]) -> Path:
    images = [text_page(lines, size=SIZE) for lines in pages]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=200)
    return path


def six_pages() -> list[list[str]]:
    return [
        [f"Chapter {n}: the {a} crossed the {p} at night.", f"Nobody saw the {a} return."]
        for n, (a, p) in enumerate(zip(ANIMALS, PLACES, strict=True), start=1)
    ]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    # a 16 word-piece budget makes each typeset line its own chunk, so a hit's box is one line
    return {
        **os.environ,
        "SCANRAG_HOME": str(home),
        "SCANRAG_OCR__THREADS": "2",
        "SCANRAG_EMBED__THREADS": "2",
        "SCANRAG_CHUNK__MAX_TOKENS": "16",
        **extra,
    }


def run(home: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANRAG, *args], capture_output=True, text=True, cwd=ROOT, env=env_for(home), timeout=300
    )


def rows(home: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of a query on the SQLite file the commands wrote (read directly, not via scanrag)."""
    with closing(sqlite3.connect(home / "scanrag.db")) as db:
        return db.execute(sql, params).fetchall()


def counts(home: Path, filename: str) -> tuple[int, int, int]:
    """(document rows, page rows, chunk rows) of the documents called ``filename``."""
    ((documents, pages, chunks),) = rows(
        home,
        "SELECT count(*),"
        " (SELECT count(*) FROM pages WHERE document_id IN"
        "   (SELECT id FROM documents WHERE filename = ?)),"
        " (SELECT count(*) FROM chunks WHERE document_id IN"
        "   (SELECT id FROM documents WHERE filename = ?))"
        " FROM documents WHERE filename = ?",
        filename,
        filename,
        filename,
    )
    return int(documents), int(pages), int(chunks)


@dataclass(frozen=True)
class Store:
    home: Path
    inbox: Path
    ingest: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A home where a folder of three files was ingested: two.pdf, six.pdf and a corrupt PDF."""
    base = tmp_path_factory.mktemp("store")
    inbox = base / "inbox"
    inbox.mkdir()
    save_pdf(inbox / "two.pdf", [PAGE_ONE, PAGE_TWO])
    save_pdf(inbox / "six.pdf", six_pages())
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage\n")
    home = base / "home"
    return Store(home, inbox, run(home, ["ingest", str(inbox)]))


def document_id(home: Path, filename: str) -> str:
    ((found,),) = rows(home, "SELECT id FROM documents WHERE filename = ?", filename)
    return str(found)


def test_ingest_stores_the_good_files_and_reports_the_corrupt_one(store: Store) -> None:
    res = store.ingest
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"scanrag: {store.inbox / 'corrupt.pdf'}: ")
    assert line.endswith("[corrupt_document]")
    table = res.stdout.splitlines()
    assert table[0].split() == ["status", "pages", "seconds", "document", "file"]
    by_file = {Path(ln.split()[4]).name: ln.split() for ln in table[1:-1]}
    assert by_file["two.pdf"][:2] == ["done", "2"] and by_file["six.pdf"][:2] == ["done", "6"]
    assert by_file["corrupt.pdf"][0] == "failed" and by_file["corrupt.pdf"][-1] == (
        "[corrupt_document]"
    )
    assert table[-1] == "3 files: 2 done, 0 duplicate, 1 failed"
    # refused before anything was stored (as the API's upload refuses it): no failed row
    assert rows(store.home, "SELECT filename, status FROM documents ORDER BY filename") == [
        ("six.pdf", "done"),
        ("two.pdf", "done"),
    ]
    # the originals and the page images are in the blob store under the home
    blobs = [p for p in (store.home / "blobs").rglob("*") if p.is_file()]
    assert len([p for p in blobs if p.suffix == ".jpg"]) == 8
    assert {p.name for p in blobs} >= {
        r[0] for r in rows(store.home, "SELECT sha256 FROM documents")
    }


def test_search_finds_the_page_two_sentence_on_its_line(store: Store, tmp_path: Path) -> None:
    line = 1  # the middle line of page two
    sentence = PAGE_TWO[line]
    res = run(store.home, ["search", sentence, "--json", "-k", "3", "--crops", str(tmp_path)])
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)
    # the score floor: chunks with none of its words and no close meaning are no hits
    assert 1 <= len(hits) <= 3
    assert all(
        set(h)
        == {"document", "page", "bbox", "text", "score", "line_boxes", "kind", "title", "crop"}
        | {"snippet", "highlights", "lines", "found_by", "ranks", "source", "table", "cells"}
        for h in hits
    )
    top = hits[0]
    assert top["document"] == {"id": document_id(store.home, "two.pdf"), "filename": "two.pdf"}
    assert top["page"] == 2 and top["text"] == sentence
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # where the sentence was drawn: the font's ink box from the line's origin
    left, top_ink, right, bottom = font(SIZE).getbbox(sentence)
    y0, y1 = MARGIN + line * PITCH + top_ink, MARGIN + line * PITCH + bottom
    bx0, by0, bx1, by1 = top["bbox"]
    assert abs((by0 + by1) / 2 - (y0 + y1) / 2) < PITCH / 4, (top["bbox"], y0, y1)
    assert by1 - by0 < PITCH and abs(bx0 - (MARGIN + left)) < 12 and bx1 > MARGIN + right - 40
    assert top["line_boxes"] == [top["bbox"]]
    crop = Path(top["crop"])
    assert crop.parent == tmp_path.resolve() and crop.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(crop) as image:
        assert (
            abs(image.width - (bx1 - bx0) - 32) <= 2 and abs(image.height - (by1 - by0) - 32) <= 2
        )
    assert len(list(tmp_path.glob("*.png"))) == len(hits)


def test_search_queries_file_answers_one_line_per_query(store: Store, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    requests = [
        {"id": "q1", "query": "seventeen gulls counted by the lighthouse keeper"},
        {"id": "q2", "query": "the badger crossed the orchard"},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in requests) + "\n\n")
    res = run(store.home, ["search", "--queries", str(queries), "-k", "2", "--json"])
    assert res.returncode == 0, res.stderr
    answers = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(a["id"], a["query"]) for a in answers] == [(r["id"], r["query"]) for r in requests]
    assert all(len(a["hits"]) == 2 for a in answers)
    first, second = (a["hits"][0] for a in answers)
    assert (first["document"]["filename"], first["page"]) == ("two.pdf", 2)
    assert (second["document"]["filename"], second["page"]) == ("six.pdf", 3)
    assert "badger" in second["text"]
    # the snippet shows why it matched: the query's words marked in it
    assert "badger" in [second["snippet"][a:b].lower() for a, b in second["highlights"]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no query key"}\n')
    res = run(store.home, ["search", "--queries", str(bad), "--json"])
    said = " ".join(res.stderr.replace("│", " ").split())  # typer draws usage errors in a box
    assert res.returncode == 2 and 'line 1 is not a JSON object with a "query" string' in said


def test_search_prints_a_table_by_default(store: Store) -> None:
    res = run(
        store.home,
        [
            "search",
            "walrus herring ledger, harbour",
            "-k",
            "2",
            "--document",
            document_id(store.home, "two.pdf"),
        ],
    )
    assert res.returncode == 0, res.stderr
    header, first, second = res.stdout.splitlines()
    assert header.split() == ["rank", "score", "document", "page", "file", "snippet"]
    assert first.split()[:1] == ["1"] and PAGE_ONE[0] in first and " two.pdf " in first
    assert second.split()[0] == "2" and "six.pdf" not in res.stdout


def test_ingesting_the_same_file_again_is_a_duplicate(store: Store) -> None:
    before = counts(store.home, "two.pdf")
    assert before[:2] == (1, 2) and before[2] >= 5
    res = run(store.home, ["ingest", str(store.inbox / "two.pdf")])
    assert res.returncode == 0, res.stderr
    status, pages, *_ = res.stdout.splitlines()[1].split()
    assert (status, pages) == ("duplicate", "2")
    assert res.stdout.splitlines()[-1] == "1 file: 0 done, 1 duplicate, 0 failed"
    assert counts(store.home, "two.pdf") == before


def test_documents_and_show(store: Store) -> None:
    two = document_id(store.home, "two.pdf")
    res = run(store.home, ["documents"])
    assert res.returncode == 0, res.stderr
    listed = {line.split()[0]: line.split() for line in res.stdout.splitlines()[1:]}
    assert listed[two][1:4] == ["done", "2", "two.pdf"] and len(listed) == 2
    res = run(store.home, ["documents", "--json"])
    (listed_two,) = [d for d in json.loads(res.stdout) if d["id"] == two]
    assert {"id", "filename", "status", "pages", "error"} <= set(listed_two)
    res = run(store.home, ["documents", "--status", "failed", "--json"])
    assert json.loads(res.stdout) == []
    res = run(store.home, ["show", two])
    assert res.returncode == 0, res.stderr
    pages = res.stdout.split("\n\f\n")
    assert [p.strip() for p in pages] == ["\n".join(PAGE_ONE), "\n".join(PAGE_TWO), ""]
    res = run(store.home, ["show", two, "--page", "2"])
    assert res.stdout.strip() == "\n".join(PAGE_TWO)
    # --pdf: the stored upload with the stored reading as its text layer (pdftotext reads it)
    searchable = store.home / "two.searchable.pdf"
    res = run(store.home, ["show", two, "--pdf", str(searchable)])
    assert res.returncode == 0 and res.stdout == "", res.stderr
    extracted = subprocess.run(
        ["pdftotext", str(searchable), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")
    assert [p.split() for p in extracted[:2]] == [
        " ".join(PAGE_ONE).split(),
        " ".join(PAGE_TWO).split(),
    ]
    for args, code in [
        (["show", "0" * 32], "document_not_found"),
        (["show", two, "--page", "9"], "page_not_found"),
    ]:
        res = run(store.home, args)
        assert res.returncode == 1 and res.stdout == ""
        (line,) = res.stderr.strip().splitlines()
        assert line.endswith(f"[{code}]") and "Traceback" not in line


def test_a_killed_ingest_is_redone_without_duplicates(store: Store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    six = store.inbox / "six.pdf"
    # one page per batch, so the run is killed between pages rather than after them all
    proc = subprocess.Popen(
        [*SCANRAG, "ingest", str(six)],
        cwd=ROOT,
        env=env_for(home, SCANRAG_OCR__PAGE_BATCH="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        seen: list[tuple[object, ...]] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if (home / "scanrag.db").exists():
                try:
                    seen = rows(home, "SELECT status, pages_done FROM documents")
                except sqlite3.OperationalError:  # schema not created yet
                    seen = []
                if seen and seen[0][0] == "processing" and int(seen[0][1]) >= 1:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"ingest ended before it was killed: {seen}"
    ((status, pages_done),) = rows(home, "SELECT status, pages_done FROM documents")
    assert status == "processing" and 1 <= int(pages_done) < 6
    res = run(home, ["ingest", str(six)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1].split()[:2] == ["done", "6"]
    assert rows(home, "SELECT status, pages_done, page_count FROM documents") == [("done", 6, 6)]
    # the same rows as the clean run in the module's store: nothing doubled, nothing missing
    assert counts(home, "six.pdf") == counts(store.home, "six.pdf")
    assert counts(home, "six.pdf")[:2] == (1, 6)


def test_reindex_rebuilds_chunks_from_stored_pages(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pdf = save_pdf(tmp_path / "book.pdf", six_pages())
    assert run(home, ["ingest", str(pdf)]).returncode == 0
    before = rows(home, "SELECT count(*) FROM chunks")[0][0]
    # a larger budget: several lines per chunk, so fewer chunks, found again by search
    done = subprocess.run(
        [*SCANRAG, "reindex"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env_for(home, SCANRAG_CHUNK__MAX_TOKENS="160"),
    )
    assert done.returncode == 0, done.stderr
    after = rows(home, "SELECT count(*) FROM chunks")[0][0]
    assert before == 12 and 0 < after < before, (before, after)
    assert done.stdout.strip() == f"reindexed 1 documents: {after} chunks; 0 pages laid out again"
    found = json.loads(run(home, ["search", "the lynx crossed the vineyard", "--json"]).stdout)
    assert found[0]["page"] == 6
    missing = run(home, ["reindex", "--document", "nope"])
    assert missing.returncode == 1 and "document_not_found" in missing.stderr


def test_reindex_lays_out_again_pages_read_before_the_layout_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pdf = save_pdf(tmp_path / "book.pdf", six_pages()[:2])
    assert run(home, ["ingest", str(pdf)]).returncode == 0
    with closing(sqlite3.connect(home / "scanrag.db")) as db, db:
        # as a page stored before the layout model: no model recorded, one block of the rows
        for number, layout in db.execute("SELECT number, layout FROM pages").fetchall():
            page = json.loads(layout)
            assert page["layout_model"] == "picodet-layout-cdla"
            page["layout_model"] = None
            db.execute("UPDATE pages SET layout = ? WHERE number = ?", (json.dumps(page), number))
        db.execute("UPDATE pages SET image_key = NULL WHERE number = 2")
    done = run(home, ["reindex"])
    assert done.returncode == 0, done.stderr
    assert "1 pages laid out again" in done.stdout
    assert "1 pages have no stored page image" in done.stderr
    models = [
        json.loads(r[0])["layout_model"]
        for r in rows(home, "SELECT layout FROM pages ORDER BY number")
    ]
    assert models == ["picodet-layout-cdla", None]
    assert rows(home, "SELECT count(*) FROM chunks")[0][0] > 0
