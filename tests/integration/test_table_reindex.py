"""``scanrag reindex`` gives a document read before the table model its tables: the cells are
read from the stored page image, the chunks rebuilt around them, and a search by a row and a
column then cites the cell where they meet (real models, a SCANRAG_HOME of its own)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.test_tables_service import GRID, table_page
from tests.integration.test_cli_ingest import ROOT, SCANRAG, env_for, rows

pytestmark = pytest.mark.slow


def scanrag(home: Path, *args: str) -> str:
    env = env_for(home, SCANRAG_CHUNK__MAX_TOKENS="160")
    res = subprocess.run(
        [*SCANRAG, *args], capture_output=True, text=True, cwd=ROOT, timeout=600, env=env
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def table_blocks(home: Path) -> list[dict[str, object]]:
    return [
        block
        for (layout,) in rows(home, "SELECT layout FROM pages")
        for block in json.loads(layout)["blocks"]
        if block["kind"] == "table"
    ]


def test_reindex_reads_the_tables_of_a_document_read_before_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    image, _ = table_page()
    image.save(tmp_path / "report.png")
    scanrag(home, "ingest", str(tmp_path / "report.png"))
    (read,) = table_blocks(home)
    assert read.get("table") is not None  # the ingest read the cells
    # as stored before the table model: the table block without cells, chunks of its lines
    with closing(sqlite3.connect(home / "scanrag.db")) as db, db:
        for number, layout in db.execute("SELECT number, layout FROM pages").fetchall():
            page = json.loads(layout)
            for block in page["blocks"]:
                block.pop("table", None)
            db.execute("UPDATE pages SET layout = ? WHERE number = ?", (json.dumps(page), number))
    scanrag(home, "reindex", "--no-relayout")
    assert table_blocks(home)[0].get("table") is None
    assert rows(home, "SELECT count(*) FROM chunks WHERE cells IS NOT NULL") == [(0,)]

    out = scanrag(home, "reindex")
    assert "tables read on 1 pages" in out
    (table,) = table_blocks(home)
    grid = table["table"]
    assert isinstance(grid, dict) and (grid["rows"], grid["cols"]) == (len(GRID), len(GRID[0]))
    assert rows(home, "SELECT kind, table_index FROM chunks WHERE cells IS NOT NULL") == [
        ("table", 0)
    ]
    hits = json.loads(scanrag(home, "search", "Methane released to water", "--json", "-k", "3"))
    top = hits[0]
    assert top["kind"] == "table" and top["table"] == 0
    assert [(c["row"], c["col"], c["text"]) for c in top["cells"]] == [(2, 2, "12")]
