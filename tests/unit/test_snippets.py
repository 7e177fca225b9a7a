"""Snippets: the best-matching sentences of a passage and the offsets of the matched words."""

from __future__ import annotations

import re

from pipelines.snippets import _matched, fold, matches, sentences, snippet

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


def test_each_word_marks_the_first_query_word_it_matches_as_comparing_with_each_would() -> None:
    # the matcher looks up candidate terms by their first letters: it must find what comparing
    # every word with every term, in order, finds (short words, shared stems, term order)
    text = "Cat cats catalogue repair Repairs repaired rep réparer the theatre theory ox oxen"
    terms = ["repairs", "cat", "repair", "the", "theo", "ox", "rep", "catalog", "reparer"]
    expected = []
    for m in re.finditer(r"\w+(?:['’]\w+)*", text):
        word = fold(m.group())
        k = next((k for k, t in enumerate(terms) if matches(word, t)), None)
        if k is not None:
            expected.append((m.start(), m.end(), k))
    assert _matched(text, 0, len(text), terms) == expected
    assert [text[a:b] for a, b, _ in expected] == [
        "Cat", "catalogue", "repair", "Repairs", "repaired", "rep", "réparer", "the", "theory",
        "ox",
    ]  # fmt: skip
    assert [k for *_, k in expected] == [1, 7, 0, 0, 2, 6, 8, 3, 4, 5]


def test_the_snippet_marks_what_matching_each_sentence_alone_marks() -> None:
    # the passage's words are matched once and shared out to the sentences by position
    for terms in (["pumping", "station", "repair"], ["flood", "rain"], ["board", "budget"]):
        s = snippet(PASSAGE, terms)
        alone = _matched(PASSAGE, s.start, s.end, [fold(t) for t in terms])
        assert s.highlights == tuple((a - s.start, b - s.start) for a, b, _ in alone)
