"""Markdown output on hand-made pages: headings, paragraphs, figures, captions, tables, pages."""

from __future__ import annotations

import pytest

from pipelines.markdown import document_markdown, page_markdown
from pipelines.types import (
    Block,
    BlockKind,
    PageResult,
    Table,
    TableCell,
    TextLine,
    Word,
    union_box,
)

CHAR_W = 10.0  # every character is 10 px wide; words are one character apart


def spread(y: float, *cells: tuple[float, str], h: float = 20.0) -> TextLine:
    """One detected line holding ``cells``, each starting at its x, with word boxes."""
    words = []
    for x0, text in cells:
        x = x0
        for w in text.split():
            words.append(Word(w, (x, y, x + CHAR_W * len(w), y + h), 0.9))
            x += CHAR_W * (len(w) + 1)
    text = " ".join(t for _, t in cells)
    return TextLine(text, union_box([w.bbox for w in words]), 0.9, tuple(words))


def line(text: str, y: float, x: float = 100.0, h: float = 20.0) -> TextLine:
    return spread(y, (x, text), h=h)


def block(kind: BlockKind, *lines: TextLine) -> Block:
    return Block(kind, union_box([ln.bbox for ln in lines]), lines)


def para(kind: BlockKind, *texts: str, y: float, x: float = 100.0, h: float = 20.0) -> Block:
    """A block of ``texts`` as lines one under another from ``y``."""
    return block(kind, *(line(t, y + i * (h + 5), x, h) for i, t in enumerate(texts)))


def page(*blocks: Block, number: int = 1) -> PageResult:
    return PageResult(
        source="scan.pdf", page=number, width=1700, height=2200, dpi=200, rotation=0, blocks=blocks
    )


def link(p: PageResult, b: Block) -> str:
    return f"img/p{p.page}-{b.bbox[0]:.0f}-{b.bbox[1]:.0f}.png"


def test_title_paragraphs_dehyphenated_header_footer_left_out() -> None:
    md = page_markdown(
        page(
            para("header", "Journal of Things, 2024", y=20),
            para("title", "A Study", "of Things", y=100, h=40),
            para("text", "The experi-", "ment worked well.", y=200),
            para("text", "Anglo-", "Saxon results were mixed.", y=300),
            para("footer", "Page 3", y=2100),
        )
    )
    assert md == (
        "# A Study of Things\n\nThe experiment worked well.\n\nAnglo-Saxon results were mixed.\n"
    )


def test_heading_levels_per_page_and_across_the_document() -> None:
    first = page(
        para("title", "Deep Reading", y=100, h=40),
        para("title", "1 Introduction", y=200, h=24),
        para("text", "Words.", y=250),
        number=1,
    )
    second = page(para("title", "2 Methods", y=100, h=24), number=2)
    assert page_markdown(first) == "# Deep Reading\n\n## 1 Introduction\n\nWords.\n"
    assert (
        page_markdown(first, heading_levels=1) == "# Deep Reading\n\n# 1 Introduction\n\nWords.\n"
    )
    # alone on its page the section heading is the largest title; in the document it is not
    assert page_markdown(second) == "# 2 Methods\n"
    assert document_markdown([first, second]) == (
        "<!-- page 1 -->\n\n# Deep Reading\n\n## 1 Introduction\n\nWords.\n\n"
        "<!-- page 2 -->\n\n## 2 Methods\n"
    )


def test_three_heading_levels_and_bad_level() -> None:
    p = page(
        para("title", "Big", y=100, h=40),
        para("title", "Middle", y=200, h=28),
        para("title", "Small", y=300, h=20),
        para("title", "Small too", y=400, h=19),  # within 85% of its band's tallest
    )
    assert (
        page_markdown(p, heading_levels=3) == "# Big\n\n## Middle\n\n### Small\n\n### Small too\n"
    )
    assert page_markdown(p) == "# Big\n\n## Middle\n\n## Small\n\n## Small too\n"
    with pytest.raises(ValueError, match="heading_levels"):
        page_markdown(p, heading_levels=0)


def test_figure_with_caption_and_link_labels_dropped() -> None:
    figure = Block("figure", (100, 400, 800, 800), (line("0", 780), line("50", 780, x=400)))
    caption = para("figure_caption", "Figure 1: Speed by", "page age.", y=820)
    p = page(para("text", "Before.", y=300), figure, caption, para("text", "After.", y=900))
    assert page_markdown(p, figure_link=link) == (
        "Before.\n\n![Figure 1: Speed by page age.](img/p1-100-400.png)\n\nAfter.\n"
    )
    # no link (none given, or None returned): the caption alone, in italics
    assert page_markdown(p) == "Before.\n\n*Figure 1: Speed by page age.*\n\nAfter.\n"
    assert page_markdown(p, figure_link=lambda p, b: None) == page_markdown(p)


def test_caption_above_figure_nearer_caption_and_awkward_links() -> None:
    above = para("figure_caption", "Figure 2: [a] scan (b).", y=380)
    figure = Block("figure", (100, 410, 800, 800), ())
    far_below = para("figure_caption", "Figure 3: Elsewhere.", y=1200)
    md = page_markdown(page(above, figure, far_below), figure_link=lambda p, b: "my figs/f(2).png")
    assert md == ("![Figure 2: \\[a\\] scan (b).](<my figs/f(2).png>)\n\n*Figure 3: Elsewhere.*\n")


def test_orphan_caption_and_figure_without_caption() -> None:
    p = page(
        Block("figure", (100, 100, 800, 500), ()),
        para("text", "A paragraph between.", y=520),
        para("figure_caption", "Figure 4: An *orphan*.", y=600),
    )
    assert page_markdown(p, figure_link=link) == (
        "![Figure](img/p1-100-100.png)\n\nA paragraph between.\n\n*Figure 4: An \\*orphan\\*.*\n"
    )
    # a figure with neither link nor caption writes nothing
    assert page_markdown(p) == "A paragraph between.\n\n*Figure 4: An \\*orphan\\*.*\n"


def test_table_of_cell_lines() -> None:
    cells = [
        ["Name", "Age", "City"],
        ["Ann", "34", "Oslo"],
        ["Bob", "27", "Rome"],
    ]
    # one detected line per cell, listed column by column, centres a few px off the row's
    lines = [
        line(cells[r][c], 100 + 30 * r + (c % 2) * 4, x=100 + 200 * c)
        for c in range(3)
        for r in range(3)
    ]
    md = page_markdown(page(block("table", *lines)))
    assert md == (
        "| Name | Age | City |\n| --- | --- | --- |\n| Ann | 34 | Oslo |\n| Bob | 27 | Rome |\n"
    )


def test_table_rows_as_single_lines_with_caption_below() -> None:
    xs = (100.0, 300.0, 500.0)
    rows = [
        ("Model", "Params", "Top-1 acc"),
        ("ResNet 50", "25 M", "76.1"),
        ("ViT B/16", "86 M", "81.8"),
    ]
    table = block(
        "table", *(spread(100 + 30 * r, *zip(xs, row, strict=True)) for r, row in enumerate(rows))
    )
    caption = para("table_caption", "Table 2: Accuracy.", y=200)
    md = page_markdown(page(table, caption))
    assert md == (
        "*Table 2: Accuracy.*\n\n"
        "| Model | Params | Top-1 acc |\n"
        "| --- | --- | --- |\n"
        "| ResNet 50 | 25 M | 76.1 |\n"
        "| ViT B/16 | 86 M | 81.8 |\n"
    )


def test_table_pipes_escaped_and_lines_without_word_boxes() -> None:
    head = spread(100, (100, "Key"), (300, "Value"))
    boxless = TextLine("a|b", (100, 130, 130, 150), 0.9)  # no words: the line is one cell
    value = TextLine("x | y", (300, 130, 350, 150), 0.9)
    md = page_markdown(page(block("table", head, boxless, value)))
    assert md == "| Key | Value |\n| --- | --- |\n| a\\|b | x \\| y |\n"
    # outside tables a pipe stays as read
    assert page_markdown(page(para("text", "either | or", y=100))) == "either | or\n"


def test_table_without_grid_falls_back_to_lines_and_empty_table() -> None:
    one_column = para("table", "Apples 3", "- Pears", "Plums", y=100)
    assert page_markdown(page(one_column)) == "Apples 3\n\\- Pears\nPlums\n"
    one_row = block("table", spread(100, (100, "a"), (300, "b")))
    assert page_markdown(page(one_row)) == "a b\n"
    empty = Block("table", (100, 100, 800, 500), ())
    caption = para("table_caption", "Table 3: Lost.", y=60)
    assert page_markdown(page(caption, empty)) == "*Table 3: Lost.*\n"
    assert page_markdown(page(empty)) == ""
    assert document_markdown([]) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# not a heading", "\\# not a heading"),
        # a paragraph opening with a list marker is a list item (issue 34)
        ("- a bullet", "- a bullet"),
        ("* a bullet too", "- a bullet too"),
        ("+ not a bullet", "\\+ not a bullet"),
        ("1. an item", "1. an item"),
        ("12) an item", "12) an item"),
        ("(b) a lettered item", "- (b) a lettered item"),
        ("- # item text escaped", "- \\# item text escaped"),
        ("> not a quote", "&gt; not a quote"),  # a quote's > is an entity, not markup
        ("---", "\\---"),
        ("```", "\\```"),
        ("#hashtag stays", "#hashtag stays"),
        ("-5 degrees stays", "-5 degrees stays"),
        ("3.14 stays", "3.14 stays"),
        ("2024. A year", "2024\\. A year"),
    ],
)
def test_paragraph_start_escaped(text: str, expected: str) -> None:
    assert page_markdown(page(para("text", text, y=100))) == expected + "\n"


def test_two_column_article_snapshot() -> None:
    left, right = 100.0, 900.0
    figure = Block(
        "figure",
        (left, 520, 800, 880),
        (line("0", 860, x=120), line("100", 860, x=700), line("CER", 700, x=110)),
    )
    table_rows = [
        ("System", "CER", "WER"),
        ("Tesseract 4.1", "6.2", "14.0"),
        ("scanrag", "3.1", "7.5"),
    ]
    table = block(
        "table",
        *(
            spread(560 + 30 * r, *zip((right, right + 250, right + 400), row, strict=True))
            for r, row in enumerate(table_rows)
        ),
    )
    article = page(
        para("header", "Journal of Scanned Documents, Vol. 3", y=40, x=600),
        para("title", "Reading Old Scans", "With Modern OCR", y=120, x=500, h=48),
        para("text", "Ada Lovelace and Charles Babbage", y=250, x=650),
        # left column
        para("title", "1 Introduction", y=320, x=left, h=28),
        para(
            "text",
            "Scanned documents hold a large share of the world's know-",
            "ledge, yet most of it cannot be searched. We read pages",
            "with a detector and a recognizer.",
            y=370,
            x=left,
        ),
        figure,
        para("figure_caption", "Figure 1: Character error rate by page age.", y=900, x=left),
        para("title", "2 Method", y=960, x=left, h=28),
        para("text", "1. Rasterize each page at 300 dpi.", y=1010, x=left),
        # right column
        para("text", "2. Detect text lines and read", "them in reading order.", y=320, x=right),
        para("title", "3 Results", y=420, x=right, h=28),
        para("table_caption", "Table 1: Error rates on the test set.", y=500, x=right),
        table,
        para("text", "Our system halves the error rate of Tesseract.", y=680, x=right),
        para("footer", "3", y=2120, x=850),
        number=3,
    )
    expected = """\
# Reading Old Scans With Modern OCR

Ada Lovelace and Charles Babbage

## 1 Introduction

Scanned documents hold a large share of the world's knowledge, yet most of it cannot be searched. \
We read pages with a detector and a recognizer.

![Figure 1: Character error rate by page age.](img/p3-100-520.png)

## 2 Method

1. Rasterize each page at 300 dpi.
2. Detect text lines and read them in reading order.

## 3 Results

*Table 1: Error rates on the test set.*

| System | CER | WER |
| --- | --- | --- |
| Tesseract 4.1 | 6.2 | 14.0 |
| scanrag | 3.1 | 7.5 |

Our system halves the error rate of Tesseract.
"""
    assert page_markdown(article, figure_link=link) == expected
    assert document_markdown([article], figure_link=link) == "<!-- page 3 -->\n\n" + expected


def test_raw_html_in_read_text_is_escaped_everywhere() -> None:
    """OCR'd text is text: a ``<script>`` read off a page must not reach a Markdown renderer as
    HTML, in a heading, paragraph, caption, figure alt text or table cell."""
    script = "<script>alert(1)</script>"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    md = page_markdown(
        page(
            para("title", f"Title {script}", y=100, h=40),
            para("text", f"Body {script} & <img src=x onerror=alert(2)>", y=200),
            para("figure", "label", y=300),
            para("figure_caption", f"Figure 1: {script}", y=420),
            block(
                "table",
                spread(600, (100, "<b>Name</b>"), (600, "Score")),
                spread(640, (100, "&lt;x"), (600, script)),
            ),
        ),
        figure_link=link,
    )
    assert "<script" not in md and "<img" not in md and "<b>" not in md, md
    assert f"# Title {escaped}\n" in md
    assert f"Body {escaped} &amp; &lt;img src=x onerror=alert(2)&gt;\n" in md
    assert f"![Figure 1: {escaped}](" in md
    # an entity read as text stays text: its & is escaped too
    assert f"| &amp;lt;x | {escaped} |" in md
    assert "| &lt;b&gt;Name&lt;/b&gt; | Score |" in md


def cells_table(*cells: tuple[int, int, int, int, str, bool]) -> Block:
    """A table block with recognised cells (row, col, row_span, col_span, text, header)."""
    table = Table(
        rows=max(r + rs for r, _, rs, _, _, _ in cells),
        cols=max(c + cs for _, c, _, cs, _, _ in cells),
        cells=tuple(
            TableCell(r, c, rs, cs, (100.0 * c, 30.0 * r, 100.0 * (c + cs), 30.0 * (r + rs)), t, h)
            for r, c, rs, cs, t, h in cells
        ),
    )
    return Block("table", (0, 0, 300, 90), (line("words", 10),), table)


def test_table_cells_without_spans_are_a_pipe_table() -> None:
    md = page_markdown(
        page(
            cells_table(
                (0, 0, 1, 1, "Gas", True),
                (0, 1, 1, 1, "to air | kg", True),
                (1, 0, 1, 1, "CO2", False),
                (1, 1, 1, 1, "100 <million>", False),
                (2, 0, 1, 1, "Methane", False),
                (2, 1, 1, 1, "", False),
            )
        )
    )
    assert md == (
        "| Gas | to air \\| kg |\n| --- | --- |\n| CO2 | 100 &lt;million&gt; |\n| Methane |  |\n"
    )


def test_table_cells_with_spans_are_an_html_table() -> None:
    md = page_markdown(
        page(
            cells_table(
                (0, 0, 2, 1, "Pollutant", True),
                (0, 1, 1, 2, "Releases", True),
                (1, 1, 1, 1, "to air", True),
                (1, 2, 1, 1, "to water", True),
                (2, 0, 1, 1, "A & B", False),
                (2, 1, 1, 1, "10", False),
                (2, 2, 1, 1, "", False),
            )
        )
    )
    assert md == (
        "<table>\n"
        '<tr><th rowspan="2">Pollutant</th><th colspan="2">Releases</th></tr>\n'
        "<tr><th>to air</th><th>to water</th></tr>\n"
        "<tr><td>A &amp; B</td><td>10</td><td></td></tr>\n"
        "</table>\n"
    )
