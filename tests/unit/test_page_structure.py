"""Lists, headings, running heads and folios on hand-made pages (the rules of
pipelines/page_structure.py and pipelines/running_heads.py; real readings are in
tests/integration/test_page_furniture.py)."""

from __future__ import annotations

import pytest

from pipelines.chunk import ChunkParams, chunk_document
from pipelines.markdown import document_markdown
from pipelines.page_structure import list_marker, page_structure
from pipelines.running_heads import is_folio, mark_running_heads
from pipelines.types import Block, PageResult
from tests.unit.test_markdown import page, para


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("1. The flood report", "number"),
        ("12) Next", "number"),
        ("(3) Third", "number"),
        ("a. First", "letter"),
        ("(b) Second", "letter"),
        ("iv) Fourth", "letter"),
        ("• A bullet", "bullet"),
        ("- A dash", "bullet"),
        ("– An en dash", "bullet"),
        ("A. Lovelace (chair)", None),  # an initial, not an item
        ("2024. A year", None),
        ("3.14 is pi", None),
        ("-5 degrees", None),
    ],
)
def test_list_markers(text: str, family: str | None) -> None:
    found = list_marker(text)
    assert (found[0] if found else None) == family


@pytest.mark.parametrize(
    ("text", "folio"),
    [
        ("12", True),
        ("- 3 -", True),
        ("Page 2", True),
        ("page 2 of 9", True),
        ("xiv", True),
        ("p. 7", True),
        ("36.", False),  # a footnote's number
        ("23.900", False),
        ("Page two", False),
        ("Table 4", False),
    ],
)
def test_folio_pattern(text: str, folio: bool) -> None:
    assert is_folio(text) is folio


def test_list_cut_into_items_with_wrapped_lines() -> None:
    body = para(
        "text",
        "Present: A. Lovelace (chair), C. Babbage",
        "1. The flood report was accepted",
        "without changes.",
        "2. The harbor pumping station will be repaired.",
        "The board then closed the meeting.",
        y=300,
    )
    blocks = page_structure([body])
    assert [b.text.split("\n") for b in blocks] == [
        ["Present: A. Lovelace (chair), C. Babbage"],
        ["1. The flood report was accepted", "without changes."],
        ["2. The harbor pumping station will be repaired."],
        ["The board then closed the meeting."],
    ]
    md = document_markdown([page(body)])
    assert (
        "Present: A. Lovelace (chair), C. Babbage\n\n"
        "1. The flood report was accepted without changes.\n"
        "2. The harbor pumping station will be repaired.\n\n"
        "The board then closed the meeting.\n"
    ) in md
    (chunk,) = chunk_document([page(body)])
    assert "Babbage\n1. The flood report was accepted without changes.\n2. The harbor" in chunk.text


def test_bullets_and_letters_in_markdown() -> None:
    items = para("text", "• apples and", "pears", "• plums", y=300)
    letters = para("text", "(a) the first case;", "(b) the second case.", y=500)
    md = document_markdown([page(items, letters)])
    assert "- apples and pears\n- plums\n\n- (a) the first case;\n- (b) the second case.\n" in md


def test_one_marker_in_a_paragraph_is_no_list() -> None:
    body = para("text", "We counted the otters in", "1. spring and summer of the year.", y=300)
    assert page_structure([body]) == [body]


def _report(number: int, heading: str | None) -> list[Block]:
    blocks = []
    if heading is not None:
        blocks.append(para("text", heading, y=200))
    blocks.append(
        para("text", f"Body text of page {number} runs over", "two lines of a paragraph.", y=300)
    )
    return blocks


def test_page_heading_called_text_titles_the_page_chunks() -> None:
    first = page(para("title", "Annual Report", y=100, h=40), *_report(1, None), number=1)
    second = page(*_report(2, "Minutes of the Board, 12 March"), number=2)
    chunks = chunk_document([first, second])
    assert [(c.page, c.title) for c in chunks] == [
        (1, "Annual Report"),
        (2, "Minutes of the Board, 12 March"),
    ]
    # without a heading of its own, page 2 carries page 1's title (and only then)
    carried = chunk_document([first, page(*_report(2, None), number=2)])
    assert carried[-1].title == "Annual Report"
    plain = chunk_document(
        [first, page(*_report(2, None), number=2)], ChunkParams(carry_title=False)
    )
    assert plain[-1].title is None


@pytest.mark.parametrize(
    "line_text",
    [
        "The board met on Monday.",  # a sentence
        "Source: Eurostat 2006",  # a note
        "Table 4: Employment rates",  # a caption
        "12",  # a number
        "and the river rose",  # lower case: a paragraph's line
        "Cashier: admin",  # a form's key and value
        "CBS, adopting the use of the",  # a paragraph's line broken off
    ],
)
def test_not_headings(line_text: str) -> None:
    blocks = [para("text", line_text, y=200), *_report(1, None)]
    assert [b.kind for b in page_structure(blocks)] == ["text", "text"]


def test_taller_line_under_text_is_a_heading() -> None:
    blocks = [
        para("text", "A paragraph of body text that", "runs over two lines.", y=100),
        para("text", "Results", y=160, h=30),  # no gap above, but taller than the body
        para("text", "The numbers of the season", "are in the table below.", y=200),
        para("text", "2. Methods", y=260, h=30),  # numbered and tall: a heading, no item
        para("text", "We counted the otters", "on every bank.", y=300),
    ]
    assert [b.kind for b in page_structure(blocks)] == ["text", "title", "text", "title", "text"]


def _furnished(number: int, head: str, folio: str, body_y: float = 300) -> PageResult:
    return page(
        para("text", head, y=40),
        para("text", f"Body of page {number} says something", "over two lines.", y=body_y),
        para("text", folio, y=2150, x=800),
        number=number,
    )


def test_running_head_repeated_on_most_pages_is_furniture() -> None:
    pages = [_furnished(n, "Annual report 2013 of the board", str(40 + n)) for n in (1, 2, 3)]
    marked = mark_running_heads(pages)
    for p in marked:
        assert [b.kind for b in p.blocks] == ["header", "text", "footer"]
    assert all("Annual report" not in c.text for c in chunk_document(marked))


def test_text_on_one_page_of_three_stays() -> None:
    pages = [
        _furnished(1, "A line only page one has at the top", "1"),
        _furnished(2, "Another line of page two at the top", "2"),
        _furnished(3, "Yet another opening line on page 3", "3"),
    ]
    marked = mark_running_heads(pages)
    for p in marked:
        assert [b.kind for b in p.blocks] == ["text", "text", "footer"]


def test_folio_beside_text_is_not_a_folio() -> None:
    # a footnote's number "7" beside its text in the bottom strip
    note = page(
        para("text", "Body text of the page says", "something over two lines.", y=300),
        para("text", "7", y=2150, x=100),
        para("text", "The footnote's text beside its number", y=2150, x=140),
    )
    (marked,) = mark_running_heads([note])
    assert [b.kind for b in marked.blocks] == ["text", "text", "text"]


def test_line_is_pulled_out_of_its_block() -> None:
    # the running head read as the first line of the page's first paragraph
    bodies = {1: ("The otters came back", "in the spring."), 2: ("Herons nest on", "the island.")}
    pages = [
        page(para("text", "Working Paper Series No 9", *bodies[n], y=190), number=n) for n in (1, 2)
    ]
    for n, p in enumerate(mark_running_heads(pages), 1):
        assert [b.kind for b in p.blocks] == ["header", "text"]
        assert p.blocks[0].text == "Working Paper Series No 9"
        assert p.blocks[1].text == "\n".join(bodies[n])


def test_two_pages_with_folios_and_heads_in_one_place() -> None:
    # a left-page and a right-page head differ in text: found by place, as every page has a
    # folio and one short line set apart on top at the same height
    pages = [
        _furnished(1, "Healthy Students Healthy Lives", "10"),
        _furnished(2, "Methodology", "11"),
    ]
    for p in mark_running_heads(pages):
        assert [b.kind for b in p.blocks] == ["header", "text", "footer"]
    # without folios they are only two short lines on top (headings, perhaps)
    bare = [_furnished(1, "Topics", "Enquiries"), _furnished(2, "Hot topics", "By country")]
    for p in mark_running_heads(bare):
        assert [b.kind for b in p.blocks] == ["text", "text", "text"]


def test_alternating_heads_over_four_pages() -> None:
    # (heads of more than a few words: found by repetition, not by place)
    book, chapter = "The Book of Rivers, Lakes and Streams of the North", "Chapter Two: Otters"
    heads = {1: book, 2: chapter + " and Herons and Other Animals of the Canal", 3: book}
    heads[4] = heads[2]
    pages = [_furnished(n, heads[n], f"- {n} -", body_y=300 + 40 * n) for n in (1, 2, 3, 4)]
    for p in mark_running_heads(pages):
        assert [b.kind for b in p.blocks] == ["header", "text", "footer"]
