import numpy as np
import pytest

from models.ctc import ctc_greedy_decode, word_spans
from models.recognizer import plan_batches

CHARSET = ["a", "b", "c"]  # classes: 0 blank, 1 a, 2 b, 3 c, 4 space


def probs_for(path: list[int], p: float = 0.9) -> np.ndarray:
    out = np.full((1, len(path), 5), (1 - p) / 4, dtype=np.float32)
    for t, k in enumerate(path):
        out[0, t, k] = p
    return out


def test_greedy_collapses_repeats_and_drops_blanks() -> None:
    line = ctc_greedy_decode(probs_for([1, 1, 0, 1, 2, 2, 4, 3, 0]), CHARSET)[0]
    assert line.text == "aab c"
    assert line.char_steps == ((0, 1), (3, 3), (4, 5), (6, 6), (7, 7))
    assert line.confidence == pytest.approx(0.9)


def test_lengths_cut_off_padding_and_edge_spaces_are_trimmed() -> None:
    p = probs_for([4, 1, 2, 4, 3, 3])
    assert ctc_greedy_decode(p, CHARSET, np.array([4]))[0].text == "ab"


def test_class_count_must_match_charset() -> None:
    with pytest.raises(ValueError):
        ctc_greedy_decode(np.zeros((1, 3, 4), dtype=np.float32), CHARSET)


def test_word_spans_follow_time_steps() -> None:
    #        a  a  b  _  sp sp c  c  _  _
    path = [1, 1, 2, 0, 4, 4, 3, 3, 0, 0]
    line = ctc_greedy_decode(probs_for(path), CHARSET)[0]
    words = word_spans(line, stride=8, content_width=80)
    assert [w.text for w in words] == ["ab", "c"]
    first, second = words
    assert 0 <= first.x0 <= 1 and 24 <= first.x1 <= 32  # ends before the space (t=4 -> 32 px)
    assert second.x0 >= 48 - 1e-6 and second.x1 <= 80
    assert first.x1 <= second.x0


def test_plan_batches_splits_where_padding_would_cost_more() -> None:
    widths = [64, 64, 72, 80, 800, 800, 816]
    spans = plan_batches(widths, max_batch=32, overhead=100)
    assert spans == [(0, 4), (4, 7)]
    assert plan_batches([], 8) == []
    assert all(e - s <= 2 for s, e in plan_batches([64] * 7, 2))


def test_plan_batches_caps_a_batch_width_by_columns() -> None:
    widths = [64] * 10 + [300, 320, 2000]
    spans = plan_batches(widths, max_batch=32, overhead=0, max_columns=256)
    assert all((e - s) * widths[e - 1] <= 256 or e - s == 1 for s, e in spans)
    assert spans[-1] == (12, 13)  # wider than the cap: alone
    assert sum(e - s for s, e in spans) == len(widths)


def test_a_likely_space_in_a_blank_gap_is_read() -> None:
    # a _ _ b: blank wins both gap steps, but the space class reaches 0.3 in the second
    p = probs_for([1, 0, 0, 2])
    p[0, 2, 4] = 0.3
    p[0, 2, 0] = 0.6
    line = ctc_greedy_decode(p, CHARSET)[0]
    assert line.text == "a b"
    assert line.char_steps[1] == (2, 2)  # the space sits where it was most likely
    assert ctc_greedy_decode(p, CHARSET, space_probability=0)[0].text == "ab"
    # a faint space (below the threshold) is not a word gap
    p[0, 2, 4] = 0.05
    assert ctc_greedy_decode(p, CHARSET)[0].text == "ab"
