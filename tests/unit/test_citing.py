"""Passages a reader can cite (pipelines/citing.py, workers/views.py): the lines of a real chunk
found in its text, and a hit's ``lines`` and crop being the lines of its matching sentence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from api.schemas import SearchHitPublic
from pipelines.chunk import Chunk, ChunkParams, chunk_document
from pipelines.citing import (
    cited_lines,
    cited_spans,
    line_offsets,
    line_texts,
    neighbour_lines,
    passage_lines,
)
from pipelines.snippets import snippet
from pipelines.types import Block, PageResult, TextLine, Word, union_box
from storage.search import SearchHit
from workers.views import crop_bbox, hit_view

LINE_H = 20.0


def _line(text: str, y: float, x0: float = 50.0) -> TextLine:
    return TextLine(text=text, bbox=(x0, y, x0 + 10.0 * len(text), y + LINE_H), confidence=0.9)


def _block(kind: str, texts: list[str], y: float) -> Block:
    lines = tuple(_line(t, y + i * 25.0) for i, t in enumerate(texts))
    return Block(kind, union_box([ln.bbox for ln in lines]), lines)  # type: ignore[arg-type]


def _page(number: int, *blocks: Block) -> PageResult:
    return PageResult("doc.pdf", number, 1700, 2200, 200, 0, blocks=blocks)


# a page: a title, then a paragraph whose third sentence runs over two lines, one hyphenated
PAGE_ONE = _page(
    1,
    _block("title", ["Minutes of the River Board"], 40.0),
    _block(
        "text",
        [
            "The board met on Monday. Water levels rose",
            "quickly after rain. The board expects higher",
            "costs for repairs to the old pump-",
            "ing station near the harbour. Public hearings",
            "will be announced in May.",
        ],
        100.0,
    ),
)
# page two has no title of its own: its chunk starts with page one's as context
PAGE_TWO = _page(
    2,
    _block("text", ["Volunteers may register at the town hall.", "Office hours are posted."], 60.0),
)


def _lines_of(page: PageResult) -> list[tuple[str, list[float]]]:
    """The page's lines as storage.page_lines.page_lines gives them: from the stored layout."""
    layout = page.to_dict()
    return [(ln["text"], ln["bbox"]) for b in layout["blocks"] for ln in b["lines"]]


def test_each_line_box_is_found_in_the_chunk_text_hyphens_and_context_included() -> None:
    first, second = chunk_document([PAGE_ONE, PAGE_TWO])
    texts = line_texts(_lines_of(PAGE_ONE), first.line_boxes)
    assert texts is not None and texts[4].startswith("ing station")
    offsets = line_offsets(first.text, texts)
    assert offsets is not None
    assert first.text[offsets[0][0] : offsets[0][1]] == "Minutes of the River Board"
    # "pump-" + "ing" was joined as "pumping": the line ends before the rest of the word
    a, b = offsets[3]
    assert first.text[a:b] == "costs for repairs to the old pump"
    assert first.text[offsets[4][0] : offsets[4][0] + 3] == "ing"
    # page two's chunk starts with the carried title, which has no box
    assert second.text.startswith("Minutes of the River Board\n")
    texts_two = line_texts(_lines_of(PAGE_TWO), second.line_boxes)
    assert texts_two is not None
    offsets_two = line_offsets(second.text, texts_two)
    assert offsets_two is not None and offsets_two[0][0] == len("Minutes of the River Board\n")


def test_the_cited_lines_are_those_of_the_matching_sentence() -> None:
    (chunk, _) = chunk_document([PAGE_ONE, PAGE_TWO])
    texts = line_texts(_lines_of(PAGE_ONE), chunk.line_boxes)
    assert texts is not None
    offsets = line_offsets(chunk.text, texts)
    assert offsets is not None
    best = snippet(chunk.text, ["repairs", "pumping"])
    assert chunk.text[best.start : best.end].startswith("The board expects higher costs")
    assert cited_spans(chunk.text, ["repairs", "pumping"], best) == [
        (best.start, best.end),
        (best.end + 1, chunk.text.index("May.") + 4),  # none other matches: the next one
    ]
    sentence = [(best.start, best.end)]
    cited = cited_lines(chunk.text, chunk.line_boxes, offsets, sentence)
    assert [c.bbox for c in cited] == list(chunk.line_boxes[2:5])
    assert [c.text for c in cited][1:] == [
        "costs for repairs to the old pump",
        "ing station near the harbour. Public hearings",
    ]


def test_a_box_not_on_the_page_gives_no_texts_and_a_run_of_words_is_read_by_position() -> None:
    lines = _lines_of(PAGE_ONE)
    assert line_texts(lines, [(1.0, 1.0, 2.0, 2.0)]) is None
    # the right half of "The board met on Monday. Water levels rose" (42 characters)
    _, box = lines[1]
    half = (box[0] + (box[2] - box[0]) * 25 / 42, box[1], box[2], box[3])
    assert line_texts(lines, [half]) == ("Water levels rose",)


def _chunk_hit(
    page: PageResult, chunk: Chunk, texts: Any, before: Any = (), after: Any = ()
) -> SearchHit:
    """A search hit on ``chunk`` of ``page`` with the line texts (and page lines around it)
    that workers.searching.with_line_texts gives."""
    return SearchHit(
        document_id="d",
        filename="doc.pdf",
        page_number=page.page,
        bbox=chunk.bbox,
        text=chunk.text,
        score=1.0,
        line_boxes=chunk.line_boxes,
        chunk_id=1,
        kind="text",
        title=chunk.title,
        line_texts=texts,
        lines_before=before,
        lines_after=after,
    )


def _hit(page: PageResult, chunk_index: int = 0, known: bool = True) -> SearchHit:
    chunk = chunk_document([page], ChunkParams())[chunk_index]
    texts = line_texts(_lines_of(page), chunk.line_boxes) if known else None
    return _chunk_hit(page, chunk, texts)


def test_a_hit_view_cites_its_sentence_lines_and_the_crop_is_them() -> None:
    hit = _hit(PAGE_ONE)
    view = hit_view(hit, "when are the public hearings announced")
    # the last sentence, and (none other holding a query word, none after it) the one before
    assert [line["text"] for line in view["lines"]] == [
        "quickly after rain. The board expects higher",
        "costs for repairs to the old pump",
        "ing station near the harbour. Public hearings",
        "will be announced in May.",
    ]
    assert crop_bbox(view) == list(union_box([tuple(x["bbox"]) for x in view["lines"]]))
    assert crop_bbox(view) != list(hit.bbox)
    # the API's hit schema documents and carries them
    public = SearchHitPublic(**view, crop_url="/v1/x").model_dump()
    assert public["lines"] == view["lines"]
    assert "lines" in SearchHitPublic.model_json_schema()["properties"]
    # lines unknown (a page read again since): no lines, the crop is the chunk
    unknown = hit_view(replace(hit, line_texts=None), "public hearings")
    assert unknown["lines"] is None and crop_bbox(unknown) == list(hit.bbox)


def test_a_hit_with_no_query_word_cites_the_sentence_most_alike_by_letters() -> None:
    hit = _hit(PAGE_ONE)
    # misspelt: no word matches, "harbor" / "harbour" and "stasion" / "station" are alike
    view = hit_view(hit, "pumpng stasion harbor")
    assert view["highlights"] == []
    assert view["snippet"].startswith("The board expects higher costs")
    assert view["lines"][0]["text"] == "quickly after rain. The board expects higher"


PASSAGE_HIT = {
    "document": {"id": "0123456789abcdef0123456789abcdef", "filename": "a.pdf"},
    "page": 2,
    "bbox": [0, 0, 900, 400],
    "text": "The board met. The board expects higher costs for repairs.",
    "score": 0.5,
    "kind": "text",
    "title": None,
    "snippet": "The board expects higher costs for repairs.",
    "highlights": [[35, 42]],
    "crop_url": "/v1/documents/0123456789abcdef0123456789abcdef/pages/2/crop?bbox=0,40,500,80",
    "line_boxes": [[0, 0, 900, 40], [0, 40, 500, 80]],
    "lines": [{"text": "The board expects higher costs for repairs.", "bbox": [0, 40, 500, 80]}],
}


def test_the_client_retrievers_and_mcp_carry_a_hits_lines() -> None:
    import json

    import anyio
    import httpx
    from llama_index.core.schema import QueryBundle

    from api.client import ScanragClient
    from api.integrations.langchain import ScanragRetriever as LangchainRetriever
    from api.integrations.llamaindex import ScanragRetriever as LlamaRetriever
    from api.integrations.mcp_server import build_server

    older = {k: v for k, v in PASSAGE_HIT.items() if k != "lines"}  # a service before lines

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"query": "repairs", "hits": [PASSAGE_HIT, older]})

    client = ScanragClient(
        "http://scanrag.test", api_key="k", transport=httpx.MockTransport(answer)
    )
    hits = client.search("repairs")
    assert hits[0].lines == tuple(PASSAGE_HIT["lines"]) and hits[1].lines is None  # type: ignore[arg-type]
    docs = LangchainRetriever(client=client, k=2).invoke("repairs")
    assert docs[0].metadata["lines"] == PASSAGE_HIT["lines"] and "lines" not in docs[1].metadata
    nodes = LlamaRetriever(client, k=2).retrieve(QueryBundle("repairs"))
    assert nodes[0].node.metadata["lines"] == PASSAGE_HIT["lines"]
    server = build_server(client)
    result: Any = anyio.run(server.call_tool, "search", {"query": "repairs"})
    found = [json.loads(block.text) for block in result.content]
    assert found[0]["lines"] == PASSAGE_HIT["lines"] and found[1]["lines"] is None


def _worded_block(texts: list[str], y: float) -> Block:
    """A text block whose lines have their words' boxes (as OCR gives them), so a chunk that
    cuts a line at a sentence end boxes each part by its words."""
    lines = []
    for i, text in enumerate(texts):
        line = _line(text, y + i * 25.0)
        x0, top, _, bottom = line.bbox
        words, at = [], 0
        for word in text.split():
            start = text.index(word, at)
            at = start + len(word)
            box = (x0 + 10.0 * start, top, x0 + 10.0 * at, bottom)
            words.append(Word(word, box, 0.9))
        lines.append(replace(line, words=tuple(words)))
    return Block("text", union_box([ln.bbox for ln in lines]), tuple(lines))


# a paragraph longer than a chunk's budget, whose second sentence is longer than a chunk: it is
# cut between lines wherever the chunks end
CUT_PAGE = _page(
    1,
    _block("title", ["Minutes of the Harbour Board"], 40.0),
    _worded_block(
        [
            "The harbour board met on Monday in the hall.",
            "Members heard that the old pumping station by",
            "the quay needs new valves before the winter",
            "floods, that the dredging of the channel is",
            "late again, and that the repairs will cost more",
            "than the budget allows this year. A public",
            "meeting is planned for the first week of May.",
        ],
        100.0,
    ),
)
CUT_SENTENCE = (
    "Members heard that the old pumping station by the quay needs new valves before the winter"
    " floods, that the dredging of the channel is late again, and that the repairs will cost"
    " more than the budget allows this year."
)
CUT_BUDGET = 24  # tokens a chunk holds: the sentence (38 words) never fits one


def _cut_hit(page: PageResult, holding: str, max_tokens: int = CUT_BUDGET) -> SearchHit:
    """A hit on the chunk of ``page`` (cut to ``max_tokens``) whose text holds ``holding``,
    with its line texts and the page's lines around it, as
    workers.searching.with_line_texts gives them."""
    chunks = chunk_document([page], ChunkParams(max_tokens=max_tokens, min_tokens=0))
    (chunk,) = [c for c in chunks if holding in c.text]
    lines = _lines_of(page)
    texts = line_texts(lines, chunk.line_boxes)
    before, after = neighbour_lines(lines, chunk.line_boxes)
    return _chunk_hit(page, chunk, texts, before, after)


def test_a_sentence_cut_at_the_chunks_start_is_highlighted_whole() -> None:
    hit = _cut_hit(CUT_PAGE, "this year.")
    # the chunk holds the end of the sentence that answers, not its start
    assert "Members heard" not in hit.text
    view = hit_view(hit, "how much will the repairs cost against the budget")
    texts = [line["text"] for line in view["lines"]]
    # the page's lines before the chunk that hold the sentence's start, in reading order, and
    # not the one before them (it ends its own sentence), nor the title
    assert CUT_SENTENCE in " ".join(texts), texts
    assert texts[0] == "Members heard that the old pumping station by", texts
    assert "Minutes of the Harbour Board" not in texts
    outside = [line for line in view["lines"] if tuple(line["bbox"]) not in hit.line_boxes]
    assert outside and outside == view["lines"][: len(outside)]
    # the crop is the passage, from the sentence's first line on, not the page
    assert crop_bbox(view)[1] == _lines_of(CUT_PAGE)[2][1][1]


def test_a_sentence_cut_at_the_chunks_end_is_highlighted_whole() -> None:
    hit = _cut_hit(CUT_PAGE, "Members heard")
    assert "this year." not in hit.text
    view = hit_view(hit, "what does the pumping station need")
    texts = [line["text"] for line in view["lines"]]
    # on to the line where the sentence ends, no further
    assert CUT_SENTENCE in " ".join(texts), texts
    assert texts[-1] == "than the budget allows this year. A public", texts
    assert "meeting is planned for the first week of May." not in texts


def test_a_running_head_or_folio_set_apart_is_never_added() -> None:
    page = _page(
        2,
        Block("header", (50.0, 20.0, 500.0, 40.0), (_line("Harbour Board News", 20.0),)),
        _block(
            "text",
            [
                "continued from the first page, the valves are",
                "old. The board will ask the town for a loan to",
                "replace them before the floods of the coming",
            ],
            200.0,
        ),
        Block("footer", (50.0, 2100.0, 120.0, 2120.0), (_line("Page 2", 2100.0),)),
    )
    hit = _cut_hit(page, "continued", max_tokens=160)
    before, after = hit.lines_before, hit.lines_after
    assert [t for t, _ in before] == ["Harbour Board News"]
    assert [t for t, _ in after] == ["Page 2"]
    for query in ("how old are the valves", "what will the loan replace"):
        view = hit_view(hit, query)
        assert all(tuple(line["bbox"]) in hit.line_boxes for line in view["lines"]), query


def test_a_chunk_starting_inside_a_line_has_that_lines_other_words_as_its_neighbour() -> None:
    line = CUT_PAGE.blocks[1].lines[5]  # "than the budget allows this year. A public"
    head, tail = line.words[:6], line.words[6:]
    run = union_box([w.bbox for w in tail])
    boxes = (run, CUT_PAGE.blocks[1].lines[6].bbox)
    lines = _lines_of(CUT_PAGE)
    before, after = neighbour_lines(lines, boxes)
    assert before[-1][0] == "than the budget allows this year."
    assert before[-1][1][2] == run[0] and before[-1][1][0] <= head[0].bbox[0]
    assert before[-2][0] == "late again, and that the repairs will cost more"
    assert after == ()
    # the run starts a sentence: nothing is added before it
    text = "A public meeting is planned for the first week of May."
    texts = line_texts(lines, boxes)
    assert texts == ("A public", "meeting is planned for the first week of May.")
    best = snippet(text, ["meeting"])
    cited = passage_lines(text, boxes, texts, ["meeting"], best, before, after)
    assert cited is not None and [c.bbox for c in cited] == list(boxes)
