"""`scanrag ocr` end to end in a subprocess: output formats and every bad-input case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from tests.pagegen import text_page

pytestmark = pytest.mark.slow

SCANRAG = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SCANRAG_OCR__THREADS": "2", **(env or {})}
    return subprocess.run(
        [*SCANRAG, *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=300
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "letter.png"
    text_page(["Dear Board members", "The meeting moves to Friday"]).save(path)
    return path


def test_jsonl_has_one_object_per_page_with_the_documented_fields(good: Path) -> None:
    res = run(["ocr", str(good)])
    assert res.returncode == 0, res.stderr
    (page,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert set(page) >= {
        "source",
        "page",
        "width",
        "height",
        "dpi",
        "rotation",
        "text",
        "blocks",
        "lines",
        "words",
        "seconds",
    }
    assert page["source"] == str(good) and page["page"] == 1 and page["dpi"] is None
    assert page["text"].lower() == "dear board members\nthe meeting moves to friday"
    assert set(page["blocks"][0]) == {"kind", "bbox", "lines"}
    assert set(page["lines"][0]) == {"text", "bbox", "confidence"}
    assert set(page["words"][0]) == {"text", "bbox", "confidence"} and len(page["words"]) == 8


def test_text_and_hocr_formats(good: Path, tmp_path: Path) -> None:
    res = run(["ocr", "--format", "text", str(good)])
    assert res.returncode == 0 and "The meeting moves to Friday" in res.stdout
    res = run(["ocr", "--format", "hocr", "--out", str(tmp_path), str(good)])
    assert res.returncode == 0, res.stderr
    root = ET.parse(tmp_path / "letter.png.hocr").getroot()  # well-formed XHTML
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    words = root.findall(".//h:span[@class='ocrx_word']", ns)
    assert [w.text for w in words][:3] == ["Dear", "Board", "members"]
    assert all(w.get("title", "").startswith("bbox ") for w in words)
    assert root.find(".//h:div[@class='ocr_page']", ns) is not None


def _encrypted_pdf(path: Path, src: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = path.with_suffix(".plain.pdf")
    Image.open(src).save(plain)
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    with path.open("wb") as f:
        writer.write(f)


def test_bad_inputs_get_one_line_each_and_the_good_file_is_still_read(
    good: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    notdoc = tmp_path / "notes.pdf"
    notdoc.write_text("just some text, not a document")
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n1 0 obj garbage\n")
    whole = tmp_path / "whole.pdf"
    Image.open(good).save(whole)
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    encrypted = tmp_path / "locked.pdf"
    _encrypted_pdf(encrypted, good)
    bad = {
        empty: "empty_file",
        notdoc: "unsupported_type",
        corrupt: "corrupt_document",
        truncated: "corrupt_document",
        encrypted: "encrypted_document",
    }
    res = run(["ocr", *map(str, bad), str(good)])
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == len(bad)
    for path, code in bad.items():
        (line,) = [ln for ln in lines if f"{path}:" in ln]
        assert line.endswith(f"[{code}]"), line
    pages = [json.loads(line) for line in res.stdout.splitlines()]
    assert [p["source"] for p in pages] == [str(good)]


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({"SCANRAG_LIMITS__MAX_BYTES": "1000"}, "file_too_large"),
        ({"SCANRAG_LIMITS__MAX_PAGES": "2"}, "too_many_pages"),
        ({"SCANRAG_LIMITS__MAX_PAGE_PIXELS": "100000"}, "page_too_large"),
    ],
)
def test_limits_are_settings(tmp_path: Path, env: dict[str, str], code: str) -> None:
    pdf = tmp_path / "three.pdf"
    pages = [text_page([f"Page {n}"]) for n in (1, 2, 3)]
    pages[0].save(pdf, save_all=True, append_images=pages[1:])
    res = run(["ocr", str(pdf)], env)
    assert res.returncode == 1
    assert res.stderr.strip().endswith(f"[{code}]") and str(pdf) in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_file_is_a_readable_error(tmp_path: Path) -> None:
    res = run(["ocr", str(tmp_path / "nope.png")])
    assert res.returncode == 1 and "nope.png" in res.stderr and "Traceback" not in res.stderr
