"""Passages a reader can cite, on a real store: ``scanrag ingest`` of a rendered two-column page
(one chunk holds both columns), then ``scanrag search --json`` with real MiniLM: a hit names
the lines of its matching sentences (``lines``) and its crop is them, not the chunk; a query
with no matching word and no close meaning finds nothing (the score floor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.pagegen import two_column_page

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LEFT = (
    "The river board met on Monday to review the spring flood season. Water levels rose "
    "quickly after heavy rain in the northern valleys. Budget planning starts in May and the "
    "treasurer will present the accounts of the previous year to the members."
)
RIGHT = (
    "Public hearings will be announced in the local paper. The board expects higher costs for "
    "dredging the harbour and for repairs to the old pumping station near the quay. Volunteers "
    "may register at the town hall during office hours."
)
SENTENCE = (
    "The board expects higher costs for dredging the harbour and for repairs to the old "
    "pumping station near the quay."
)


def scanrag(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCANRAG_HOME": str(home), "SCANRAG_OCR__THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("citing")
    pdf = base / "board.pdf"
    two_column_page(LEFT, RIGHT).save(pdf, resolution=200)
    res = scanrag(base / "home", "ingest", str(pdf))
    assert res.returncode == 0, res.stderr
    return base / "home"


def search(home: Path, query: str, crops: Path | None = None) -> list[dict[str, Any]]:
    extra = ["--crops", str(crops)] if crops is not None else []
    res = scanrag(home, "search", query, "--json", "-k", "5", *extra)
    assert res.returncode == 0, res.stderr
    hits: list[dict[str, Any]] = json.loads(res.stdout)
    return hits


def test_a_hit_cites_the_lines_of_its_sentence_and_crops_them(home: Path, tmp_path: Path) -> None:
    hits = search(home, "repairs to the pumping station", crops=tmp_path)
    top = hits[0]
    boxes = top["line_boxes"]
    assert isinstance(boxes, list)
    # the chunk holds both columns (the case this is for): its box spans the gutter
    x0, _, x1, _ = top["bbox"]
    middle = 800  # two_column_page is 1600 px wide
    assert x0 < middle < x1, top["bbox"]
    lines = top["lines"]
    assert isinstance(lines, list) and lines
    cited = " ".join(str(line["text"]) for line in lines)
    words = set(SENTENCE.lower().rstrip(".").split())
    # the cited lines hold the sentence and (no other sentence holding a query word) the one
    # after it, all in the right column; not the sentence before it, nor the left column
    for line in lines:
        assert line["bbox"] in boxes
        assert line["bbox"][0] > middle, line
    assert words <= {w.strip(".,").lower() for w in cited.split()}, cited
    assert "Volunteers" in cited and "hearings" not in cited and "river" not in cited, cited
    assert len(lines) < len(boxes) / 2
    # the crop shows the cited lines (plus a 16 px margin), not the chunk
    crop = Path(str(top["crop"]))
    cx0 = min(line["bbox"][0] for line in lines)
    cx1 = max(line["bbox"][2] for line in lines)
    cy0 = min(line["bbox"][1] for line in lines)
    cy1 = max(line["bbox"][3] for line in lines)
    with Image.open(crop) as image:
        assert abs(image.width - (cx1 - cx0) - 32) <= 2, (image.size, cx0, cx1)
        assert abs(image.height - (cy1 - cy0) - 32) <= 2, (image.size, cy0, cy1)


def test_a_query_with_no_matching_word_and_no_close_meaning_finds_nothing(home: Path) -> None:
    assert search(home, "xyzzy quantum zebra") == []
    res = scanrag(home, "search", "xyzzy quantum zebra")
    assert res.returncode == 0 and "no results" in res.stdout
