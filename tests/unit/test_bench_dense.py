"""bench/dense.py's Tesseract leg and scoring: the shell line reads every page of a folder
(a path with a space in it too) into one text file per page, scored against its reference."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.common import SHARED
from bench.dense import loose_cer, read_outputs, tesseract_cmd
from tests.pagegen import text_page

LINES = ["Quarterly report of the harbour board", "Cargo landed rose by twelve percent"]


@pytest.mark.skipif(not (SHARED / "tools" / "ocr_score.py").exists(), reason="no shared scorer")
def test_loose_cer_counts_edits_over_all_pages() -> None:
    refs = {"a": "Hello, World", "b": "abcd"}
    assert loose_cer(refs, {"a": "hello world", "b": "abcd"}) == 0.0  # loose: case, punctuation
    assert loose_cer(refs, {"a": "hello world", "b": "abxd"}) == pytest.approx(1 / 15)
    assert loose_cer(refs, {"a": "hello world"}) == pytest.approx(4 / 15)  # a missing page


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="no tesseract CLI")
@pytest.mark.skipif(not (SHARED / "tools" / "ocr_score.py").exists(), reason="no shared scorer")
def test_tesseract_leg_reads_every_page(tmp_path: Path) -> None:
    images, out = tmp_path / "page images", tmp_path / "out dir"
    images.mkdir()
    out.mkdir()
    for i, line in enumerate(LINES):
        text_page([line]).save(images / f"p{i}.png")
    subprocess.run(tesseract_cmd(images, out, 2), shell=True, check=True)
    texts = read_outputs(out, ".txt")
    assert sorted(texts) == ["p0", "p1"]
    assert loose_cer({f"p{i}": line for i, line in enumerate(LINES)}, texts) < 0.05
