"""The SQuAD benchmark corpus maker: image-only PDFs whose manifest says where each paragraph is."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from bench.squad_corpus import render_article

PARAGRAPHS = [
    "The river board met in March to discuss the spring floods and the state of the dikes.",
    "Engineers reported that the northern embankment had settled by twelve centimetres.",
    "The board agreed to fund repairs before the autumn rains, at a cost of 40,000 pounds.",
]


def test_render_article_manifest_and_image_only_pdf(tmp_path: Path) -> None:
    out = tmp_path / "River_Board.pdf"
    m = render_article("River_Board", PARAGRAPHS, out, dpi=60, seed=7)

    assert m["title"] == "River_Board" and m["dpi"] == 60 and Path(m["pdf"]) == out
    assert m["pages"] >= 1 and sorted(m["page_text"]) == list(range(1, m["pages"] + 1))
    assert len(m["paragraph_pages"]) == len(PARAGRAPHS)
    assert m["page_text"][1].startswith("River Board")  # the heading, underscores as spaces
    for para, pages in zip(PARAGRAPHS, m["paragraph_pages"], strict=True):
        assert pages and all(1 <= p <= m["pages"] for p in pages)
        typeset = " ".join(m["page_text"][p] for p in pages).split()
        assert all(word in typeset for word in para.split())

    pdf = pdfium.PdfDocument(out)
    try:
        assert len(pdf) == m["pages"]
        for page in pdf:
            assert page.get_textpage().get_text_range() == ""  # no text layer, like a scan
    finally:
        pdf.close()


def test_paragraph_across_a_page_break_lists_both_pages(tmp_path: Path) -> None:
    long = " ".join(PARAGRAPHS * 20)  # longer than one page at this size
    m = render_article(
        "Long", [PARAGRAPHS[0], long, PARAGRAPHS[2]], tmp_path / "l.pdf", dpi=60, seed=1
    )

    assert m["pages"] >= 2
    assert m["paragraph_pages"][0] == [1]
    assert len(m["paragraph_pages"][1]) >= 2
    assert m["paragraph_pages"][2] == [m["pages"]]
    words = " ".join(m["page_text"][p] for p in m["paragraph_pages"][1]).split()
    assert words.count("embankment") == 20  # every line of the long paragraph is accounted for


def test_same_seed_gives_the_same_pdf(tmp_path: Path) -> None:
    a = render_article("Same", PARAGRAPHS, tmp_path / "a.pdf", dpi=60, seed=3)
    b = render_article("Same", PARAGRAPHS, tmp_path / "b.pdf", dpi=60, seed=3)

    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert a["page_text"] == b["page_text"]
