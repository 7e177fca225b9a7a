"""Snippets: the best-matching sentences of a passage and the offsets of the matched words."""

from __future__ import annotations

from pipelines.snippets import fold, matches, sentences, snippet

PASSAGE = (
    "The river board met on Monday to review the spring flood season. Water levels rose "
    "quickly after heavy rain in the northern valleys. Budget planning starts in May. The "
    "board expects higher costs for dredging and for repairs to the old pumping station near "
    "the harbor. Public hearings will be announced."
)


def marked(s) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.text[a:b] for a, b in s.highlights]


def test_the_sentence_with_most_query_words_is_chosen_and_its_words_marked() -> None:
    s = snippet(PASSAGE, ["pumping", "station", "repair"])
    assert s.text.startswith("The board expects higher costs")
    assert marked(s) == ["repairs", "pumping", "station"]
    assert "Budget" not in s.text and "hearings" not in s.text


def test_two_neighbouring_sentences_when_the_terms_are_split_between_them() -> None:
    s = snippet(PASSAGE, ["flood", "rain"])
    assert s.text == (
        "The river board met on Monday to review the spring flood season. Water levels rose "
        "quickly after heavy rain in the northern valleys."
    )
    assert marked(s) == ["flood", "rain"]


def test_case_accents_and_stems_match_but_short_prefixes_do_not() -> None:
    assert fold("Café") == "cafe" and matches("repaired", "repair") and matches("cafe", "cafe")
    assert not matches("catalogue", "cat") and not matches("cat", "dog")
    s = snippet("Das Café liegt am Hafen. Kein Treffer hier.", ["CAFE"])
    assert marked(s) == ["Café"]


def test_no_match_gives_the_passage_start_without_marks() -> None:
    s = snippet(PASSAGE, ["zeppelin"])
    assert s.text.startswith("The river board met") and s.highlights == ()
    assert snippet("", ["x"]).text == ""


def test_a_long_sentence_is_cut_around_its_matches_at_word_boundaries() -> None:
    words = [f"word{k}" for k in range(200)]
    words[150] = "needle"
    text = " ".join(words) + "."
    s = snippet(text, ["needle"], max_chars=80)
    assert len(s.text) <= 82 and s.text.startswith("…") and s.text.endswith("…")
    assert marked(s) == ["needle"]
    assert all(w.startswith("word") or w == "needle" for w in s.text.strip("…").split())


def test_sentences_split_at_stops_and_capitalised_line_breaks() -> None:
    text = "Total due: 12.50 dollars. Paid in full!\nInvoice 44\nthanks"
    assert [text[a:b] for a, b in sentences(text)] == [
        "Total due: 12.50 dollars.",
        "Paid in full!",
        "Invoice 44\nthanks",
    ]


def test_terminal_snippets_bold_the_marked_words_and_cut_plain() -> None:
    from cli.tables import BOLD, RESET, emphasised

    text = "the pumping station near the harbor"
    spans = [[4, 11], [12, 19]]
    assert emphasised(text, spans, 100, bold=True) == (
        f"the {BOLD}pumping{RESET} {BOLD}station{RESET} near the harbor"
    )
    assert emphasised(text, spans, 100, bold=False) == text
    # a mark the cut runs into is left plain
    assert emphasised(text, spans, 16, bold=True) == f"the {BOLD}pumping{RESET} sta…"
