"""Intact passages (bench/passages.py): the answer's sentence found whole in a hit, or not."""

from __future__ import annotations

from bench.passages import answer_passage, intact_rate, is_intact, join_lines, tokens

# a page as the layout key gives it: one line of print per line, a hyphenated word at a line end
PAGE = (
    "The river board met in March. Engineers said the north-\n"
    "ern embankment had settled by twelve\n"
    "centimetres. Was it safe? The board\n"
    "agreed to fund repairs!"
)


def test_the_answer_sentence_found_whole_in_one_hit_is_intact() -> None:
    passage = answer_passage(PAGE, ["twelve centimetres"])
    assert passage == tokens(
        "Engineers said the northern embankment had settled by twelve centimetres."
    )
    hits = [
        "Unrelated text about floods.",
        "Minutes. Engineers said the northern embankment had settled by twelve centimetres. Was",
    ]
    assert is_intact(passage, hits)


def test_a_sentence_broken_across_two_hits_is_not_intact() -> None:
    passage = answer_passage(PAGE, ["twelve centimetres"])
    assert passage is not None
    hits = ["Engineers said the northern embankment", "had settled by twelve centimetres."]
    assert not is_intact(passage, hits)
    # words of another column in the middle break it too
    assert not is_intact(passage, ["Engineers said the northern Was it safe embankment had ..."])


def test_a_hyphen_at_a_line_end_before_a_lower_case_letter_is_rejoined() -> None:
    assert "northern embankment" in join_lines(PAGE)
    assert join_lines("Jean-\nPaul went") == "Jean- Paul went"  # a capital: not a broken word
    passage = answer_passage(PAGE, ["northern"])
    assert passage is not None and "northern" in passage and "north" not in passage


def test_an_answer_spanning_two_sentences_takes_both() -> None:
    passage = answer_passage(PAGE, ["centimetres. Was it"])
    assert passage == tokens(
        "Engineers said the northern embankment had settled by twelve centimetres. Was it safe?"
    )


def test_the_first_answer_found_case_insensitive_and_unfound_answers_skipped() -> None:
    assert answer_passage(PAGE, ["nowhere", "WAS IT"]) == ["was", "it", "safe"]
    assert answer_passage(PAGE, ["nowhere"]) is None
    assert answer_passage(PAGE, ["REPAIRS"]) == tokens("The board agreed to fund repairs")


def test_intact_rate_counts_only_the_top_k_and_skips_missing_passages() -> None:
    passage = ["was", "it", "safe"]
    rate, skipped = intact_rate(
        [passage, passage, None], [["no", "no", "Was it safe?"], ["was it safe"], []], k=2
    )
    assert (rate, skipped) == (0.5, 1)
    assert intact_rate([None], [[]]) == (None, 1)


def test_the_layout_bench_scores_the_questions_own_sentence_not_the_pages_first_match() -> None:
    from bench.layout import gold_passage

    # "twelve" first occurs on the page in a heading fused onto the next sentence (no full stop
    # parts them); the question was written from the paragraph's own sentence
    page = "Report twelve\nThe board met. Engineers found twelve cracks. Repairs follow."
    key = {"pages": {"a.pdf": {"1": page}}}
    question = {"id": "q1", "answers": ["twelve"], "gold": [["a.pdf", 1]]}
    paragraphs = {"q1": "The board met. Engineers found twelve cracks. Repairs follow."}
    assert gold_passage(key, question, paragraphs) == tokens("Engineers found twelve cracks.")
    assert gold_passage(key, question) == tokens("Report twelve The board met.")
    # a question not in the paragraphs falls back to the page
    assert gold_passage(key, question, {}) == tokens("Report twelve The board met.")
