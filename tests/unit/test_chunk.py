"""Chunking on hand-made pages: budgets, block and page boundaries, headings, boxes, text."""

from __future__ import annotations

import json
import random

import pytest

from pipelines.chunk import Chunk, ChunkParams, chunk_document, count_words
from pipelines.types import Block, PageResult, TextLine, Word, union_box

LINE_H = 20.0


def line(text: str, y: float, x0: float = 50.0, words: bool = False) -> TextLine:
    x1 = x0 + 10.0 * len(text)
    ws: tuple[Word, ...] = ()
    if words:
        x, boxes = x0, []
        for w in text.split():
            boxes.append(Word(w, (x, y, x + 10.0 * len(w), y + LINE_H), 0.9))
            x += 10.0 * (len(w) + 1)
        ws = tuple(boxes)
    return TextLine(text=text, bbox=(x0, y, x1, y + LINE_H), confidence=0.9, words=ws)


def seq(tag: str, stop: int, start: int = 0) -> str:
    """``tag<start> ... tag<stop-1>`` joined by spaces."""
    return " ".join(f"{tag}{i}" for i in range(start, stop))


def block(kind: str, *texts: str, y: float = 0.0) -> Block:
    lines = tuple(line(t, y + i * 25.0) for i, t in enumerate(texts))
    return Block(kind, union_box([ln.bbox for ln in lines]), lines)


def para(tag: str, n_words: int, y: float = 0.0, per_line: int = 10) -> Block:
    """A paragraph of ``n_words`` words ``tag0 tag1 ...`` in lines of ``per_line`` words."""
    words = seq(tag, n_words).split()
    texts = [" ".join(words[i : i + per_line]) for i in range(0, n_words, per_line)]
    return block("text", *texts, y=y)


def page(number: int, *blocks: Block) -> PageResult:
    return PageResult(
        source="doc.pdf", page=number, width=1700, height=2200, dpi=200, rotation=0, blocks=blocks
    )


def stacked(*blocks: Block) -> tuple[Block, ...]:
    """The blocks placed one under another (so their boxes differ)."""
    out, y = [], 100.0
    for b in blocks:
        texts = [ln.text for ln in b.lines]
        out.append(block(b.kind, *texts, y=y))
        y += 25.0 * len(texts) + 40.0
    return tuple(out)


def block_texts(b: Block) -> str:
    return " ".join(ln.text for ln in b.lines)


def test_budget_respected_on_random_documents() -> None:
    rng = random.Random(7)
    params = ChunkParams(max_tokens=50, min_tokens=10)
    pages = []
    for number in range(1, 6):
        blocks = []
        for k in range(rng.randint(0, 12)):
            if rng.random() < 0.2:
                blocks.append(block("title", " ".join(["Head"] * rng.randint(1, 6))))
            else:
                blocks.append(para(f"p{number}b{k}w", rng.randint(1, 130), per_line=7))
        pages.append(page(number, *stacked(*blocks)))
    chunks = chunk_document(pages, params)
    assert chunks
    for c in chunks:
        assert count_words(c.text) <= params.max_tokens, c.text
    # every word of every page is in some chunk of that page, once
    for p in pages:
        body = [w for c in chunks if c.page == p.page for w in c.text.split() if "w" in w]
        assert body == [w for b in p.blocks if b.kind == "text" for w in block_texts(b).split()]


def test_chunks_end_at_block_boundaries_near_the_budget() -> None:
    blocks = stacked(*(para(f"b{k}w", 60) for k in range(5)))
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=160, min_tokens=0))
    texts = [block_texts(b) for b in blocks]
    assert [c.text for c in chunks] == [
        "\n".join(texts[0:2]),
        "\n".join(texts[2:4]),
        texts[4],
    ]


def test_chunks_never_cross_pages_and_ordinals_run_on() -> None:
    p1 = page(1, *stacked(para("a", 5), para("b", 5)))
    p2 = page(2, *stacked(para("c", 5)))
    p3 = page(3)
    p4 = page(4, *stacked(para("d", 5)))
    chunks = chunk_document([p1, p2, p3, p4])
    assert [(c.page, c.ordinal) for c in chunks] == [(1, 0), (2, 1), (4, 2)]
    assert chunks[0].text == "a0 a1 a2 a3 a4\nb0 b1 b2 b3 b4"


def test_heading_is_prepended_to_later_chunks_of_its_section() -> None:
    blocks = stacked(block("title", "Methods"), *(para(f"b{k}w", 60) for k in range(4)))
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=160, min_tokens=0))
    texts = [block_texts(b) for b in blocks[1:]]
    assert [c.text for c in chunks] == [
        "Methods\n" + "\n".join(texts[0:2]),
        "Methods\n" + "\n".join(texts[2:4]),
    ]
    # the first chunk holds the title's line; the second only its own lines
    assert chunks[0].line_boxes[0] == blocks[0].lines[0].bbox
    assert blocks[0].lines[0].bbox not in chunks[1].line_boxes
    assert chunks[1].bbox == union_box([b.bbox for b in blocks[3:5]])


def test_titles_start_new_chunks_and_stacked_titles_stay_together() -> None:
    blocks = stacked(
        block("title", "Chapter 2"),
        block("title", "Methods"),
        para("m", 5),
        block("title", "Results"),
        para("r", 5),
    )
    chunks = chunk_document([page(1, *blocks)])
    assert [c.text for c in chunks] == [
        "Chapter 2\nMethods\nm0 m1 m2 m3 m4",
        "Results\nr0 r1 r2 r3 r4",
    ]


def test_title_carries_to_the_next_page_until_a_new_title() -> None:
    p1 = page(1, *stacked(block("title", "Scope"), para("a", 5)))
    p2 = page(2, *stacked(para("b", 5), block("title", "Terms"), para("c", 5)))
    p3 = page(3, *stacked(para("d", 5)))
    chunks = chunk_document([p1, p2, p3])
    assert [c.text for c in chunks] == [
        "Scope\na0 a1 a2 a3 a4",
        "Scope\nb0 b1 b2 b3 b4",
        "Terms\nc0 c1 c2 c3 c4",
        "Terms\nd0 d1 d2 d3 d4",
    ]
    # the carried heading is context only: the boxes are the page's own lines
    assert chunks[1].line_boxes == (p2.blocks[0].lines[0].bbox,)
    plain = chunk_document([p1, p2, p3], ChunkParams(carry_title=False))
    assert [c.text for c in plain][1:] == [
        "b0 b1 b2 b3 b4",
        "Terms\nc0 c1 c2 c3 c4",
        "d0 d1 d2 d3 d4",
    ]


def test_long_heading_context_is_cut_to_half_the_budget() -> None:
    heading = seq("t", 30)
    blocks = stacked(block("title", heading), para("a", 20), para("b", 20))
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=40, min_tokens=0))
    context = seq("t", 20)
    # the heading too large to share a chunk stands alone; its first 20 words are the context
    assert [c.text for c in chunks] == [
        heading,
        f"{context}\n{block_texts(blocks[1])}",
        f"{context}\n{block_texts(blocks[2])}",
    ]
    assert all(count_words(c.text) <= 40 for c in chunks)


def test_oversized_block_splits_at_lines() -> None:
    big = para("w", 100, y=100.0, per_line=10)
    chunks = chunk_document([page(1, big)], ChunkParams(max_tokens=35, min_tokens=0))
    assert [count_words(c.text) for c in chunks] == [30, 30, 30, 10]
    assert [len(c.line_boxes) for c in chunks] == [3, 3, 3, 1]
    assert chunks[1].line_boxes == tuple(ln.bbox for ln in big.lines[3:6])
    assert chunks[1].bbox == union_box([ln.bbox for ln in big.lines[3:6]])


def test_oversized_line_splits_at_words_with_word_boxes() -> None:
    text = seq("w", 25)
    long_line = line(text, 100.0, words=True)
    blk = Block("text", long_line.bbox, (long_line,))
    chunks = chunk_document([page(1, blk)], ChunkParams(max_tokens=10, min_tokens=0))
    assert [c.text for c in chunks] == [
        seq("w", 10, 0),
        seq("w", 20, 10),
        seq("w", 25, 20),
    ]
    assert chunks[1].bbox == union_box([w.bbox for w in long_line.words[10:20]])
    # without word boxes a part of the line gets the line's box
    bare = TextLine(text=text, bbox=long_line.bbox, confidence=0.9)
    blk = Block("text", bare.bbox, (bare,))
    parts = chunk_document([page(1, blk)], ChunkParams(max_tokens=10, min_tokens=0))
    assert all(c.line_boxes == (bare.bbox,) for c in parts)


def test_small_tail_borrows_from_the_chunk_before() -> None:
    blocks = stacked(para("a", 60), para("b", 60), para("c", 30), para("d", 5))
    p = page(1, *blocks)
    greedy = chunk_document([p], ChunkParams(max_tokens=150, min_tokens=0))
    assert [count_words(c.text) for c in greedy] == [150, 5]
    balanced = chunk_document([p], ChunkParams(max_tokens=150, min_tokens=20))
    assert [count_words(c.text) for c in balanced] == [120, 35]
    assert balanced[1].text.startswith("c0 c1")


def test_tail_never_leaves_a_bare_heading() -> None:
    # a heading longer than half the budget is cut as context, so the tail could take the
    # whole body of the first chunk and leave the heading alone: it must not
    heading = seq("t", 30)
    blocks = stacked(block("title", heading), para("a", 8), para("b", 5))
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=40, min_tokens=20))
    context = seq("t", 20)
    assert [c.text for c in chunks] == [
        f"{heading}\na0 a1 a2 a3 a4 a5 a6 a7",
        f"{context}\nb0 b1 b2 b3 b4",
    ]


def test_lines_join_with_spaces_and_dehyphenate() -> None:
    blk = block("text", "an exam-", "ple of Anglo-", "Saxon text on pages 3-", "4 end")
    chunks = chunk_document([page(1, blk)])
    assert chunks[0].text == "an example of Anglo-Saxon text on pages 3- 4 end"


def test_dehyphenation_spans_pieces_of_one_block() -> None:
    blk = block("text", "one two exam-", "ple three")
    chunks = chunk_document([page(1, blk)], ChunkParams(max_tokens=3, min_tokens=0))
    assert [c.text for c in chunks] == ["one two exam-", "ple three"]


def sentence(tag: str, n_words: int) -> str:
    """``n_words`` words ``Tag0 tag1 ... tagN.``: a capitalised sentence ending in a full stop."""
    return f"{tag.upper()}0 {seq(tag, n_words, 1)}."


def test_a_sentence_straddling_the_budget_stays_whole_in_one_chunk() -> None:
    # 6 + 12 + 12 words in lines of 10: the budget of 20 runs out two words into the third
    # sentence, so cutting between lines would split it; the chunk ends at a sentence end
    words = " ".join([sentence("a", 6), sentence("b", 12), sentence("c", 12)]).split()
    lines = [line(" ".join(words[i : i + 10]), 100.0 + 25.0 * i, words=True) for i in (0, 10, 20)]
    blk = Block("text", union_box([ln.bbox for ln in lines]), tuple(lines))
    chunks = chunk_document([page(1, blk)], ChunkParams(max_tokens=20, min_tokens=0))
    assert [c.text for c in chunks] == [
        f"{sentence('a', 6)} {sentence('b', 12)}",
        sentence("c", 12),
    ]
    # the line holding the sentence end is cut there: each part boxed by its own words
    assert chunks[0].line_boxes[-1] == union_box([w.bbox for w in lines[1].words[:8]])
    assert chunks[1].line_boxes[0] == union_box([w.bbox for w in lines[1].words[8:]])
    assert chunks[1].line_boxes[1:] == (lines[2].bbox,)


def test_a_sentence_run_on_into_the_next_block_is_not_cut_at_the_block_end() -> None:
    # a paragraph broken by a column ends mid-sentence; the next block goes on in lower case
    blocks = stacked(
        block("text", sentence("p", 10)), block("text", "Q0 q1 q2 q3 q4 q5 q6 q7"), para("r", 8)
    )
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=20, min_tokens=0))
    assert [c.text for c in chunks] == [sentence("p", 10), f"Q0 {seq('q', 8, 1)}\n{seq('r', 8)}"]


def test_empty_pages_and_blank_lines_give_no_chunks() -> None:
    blank = block("text", "   ", "")
    title_blank = block("title", " ")
    assert chunk_document([page(1), page(2, blank, title_blank)]) == []
    assert chunk_document([]) == []
    chunks = chunk_document([page(1, blank), page(2, block("text", "", "hello"))])
    assert [(c.page, c.ordinal, c.text) for c in chunks] == [(2, 0, "hello")]
    assert len(chunks[0].line_boxes) == 1


def test_custom_token_counter_sets_the_budget() -> None:
    def count_chars(text: str) -> int:
        return sum(len(w) for w in text.split())

    blocks = stacked(*(block("text", "abcd efgh") for _ in range(5)))
    chunks = chunk_document(
        [page(1, *blocks)], ChunkParams(max_tokens=20, min_tokens=0), count_chars
    )
    assert [count_chars(c.text) for c in chunks] == [16, 16, 8]


def test_chunk_round_trips_through_json() -> None:
    blocks = stacked(block("title", "T"), para("a", 12))
    (chunk,) = chunk_document([page(3, *blocks)])
    again = Chunk.from_dict(json.loads(json.dumps(chunk.to_dict())))
    assert again == chunk
    assert again.page == 3 and again.ordinal == 0


def test_params_are_validated() -> None:
    with pytest.raises(ValueError):
        ChunkParams(max_tokens=1)
    with pytest.raises(ValueError):
        ChunkParams(max_tokens=10, min_tokens=11)


def test_headers_and_footers_make_no_chunk() -> None:
    blocks = stacked(
        block("header", "Journal of Things 12"),
        block("title", "Intro"),
        para("w", 12),
        block("footer", "page 7"),
    )
    chunks = chunk_document([page(1, *blocks)])
    text = " ".join(c.text for c in chunks)
    assert "Journal" not in text and "page 7" not in text
    assert [c.kind for c in chunks] == ["text"] and chunks[0].text.startswith("Intro\n")
    assert chunks[0].title == "Intro"


def test_a_table_is_a_chunk_of_its_own_with_its_caption() -> None:
    blocks = stacked(
        block("title", "Results"),
        para("a", 8),
        block("table_caption", "Table 1: sizes"),
        block("table", "name size", "x 1", "y 2"),
        para("b", 8),
    )
    chunks = chunk_document([page(1, *blocks)], ChunkParams(max_tokens=100, min_tokens=0))
    assert [c.kind for c in chunks] == ["text", "table", "text"]
    assert chunks[0].text == "Results\n" + seq("a", 8)
    # the table: the section title as context, caption then rows in order; never joined
    assert chunks[1].text == "Results\nTable 1: sizes\nname size x 1 y 2"
    assert chunks[2].text == "Results\n" + seq("b", 8)
    assert all(c.title == "Results" for c in chunks)


def test_a_figure_chunk_has_its_region_box_and_caption() -> None:
    figure = Block("figure", (60.0, 300.0, 700.0, 800.0), (line("axis 1990", 820.0 - 500),))
    caption = block("figure_caption", "Figure 2: oil prices", y=820.0)
    before = para("p", 6, y=100.0)
    chunks = chunk_document([page(1, before, figure, caption)])
    assert [c.kind for c in chunks] == ["text", "figure"]
    fig = chunks[1]
    assert fig.text == "axis 1990\nFigure 2: oil prices"
    assert fig.bbox[0] <= 60.0 and fig.bbox[1] <= 300.0 and fig.bbox[3] >= 840.0
    assert Chunk.from_dict(json.loads(json.dumps(fig.to_dict()))) == fig


def test_a_figure_without_text_makes_no_chunk() -> None:
    figure = Block("figure", (60.0, 300.0, 700.0, 800.0), ())
    chunks = chunk_document([page(1, para("p", 6, y=100.0), figure)])
    assert [c.kind for c in chunks] == ["text"]
