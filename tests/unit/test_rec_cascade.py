"""The recognizer cascade: tiny's sure words stand, the rest are read again by small."""

from __future__ import annotations

import numpy as np

from models.ctc import DecodedLine
from models.recognizer import (
    STRIDE,
    CascadeParams,
    CascadeRecognizer,
    Recognition,
    splice,
    unsure_spans,
)


class Net:
    """A recognizer seam: crop k (a 1-pixel-wide image holding k) reads as ``f"{name}{k}"``
    with the confidence ``conf(k)``; remembers which crops it was given."""

    def __init__(self, name: str, conf: dict[int, float]) -> None:
        self.name, self.conf, self.seen = name, conf, []  # type: list[int]

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        out = []
        for crop in crops:
            k = int(crop[0, 0, 0])
            self.seen.append(k)
            text = f"{self.name}{k}"
            c = self.conf.get(k, 0.99)
            line = DecodedLine(text, (c,) * len(text), tuple((i, i) for i in range(len(text))))
            out.append(Recognition(line, 1.0))
        return out


def crops(n: int) -> list[np.ndarray]:
    return [np.full((1, 1, 3), k, dtype=np.uint8) for k in range(n)]


def test_sure_lines_keep_the_fast_reading_unsure_ones_are_read_again() -> None:
    fast, accurate = Net("t", {3: 0.5, 7: 0.89}), Net("s", {})
    params = CascadeParams(min_conf=0.9, min_long=0, min_wide=0)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(10))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [
        "t0", "t1", "t2", "s3", "t4", "t5", "t6", "s7", "t8", "t9"
    ]  # fmt: skip
    assert sorted(fast.seen) == list(range(10))  # each crop read once by the fast net
    assert accurate.seen == [3, 7]


def test_a_call_the_fast_net_is_unsure_of_goes_to_the_accurate_net_whole() -> None:
    unsure = {k: 0.4 for k in range(100) if k % 10 < 6}  # 60% of the lines, every probed one
    fast, accurate = Net("t", unsure), Net("s", {})
    params = CascadeParams(min_conf=0.9, probe=10, max_unsure=0.5, min_long=0, min_wide=0)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(100))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"s{k}" for k in range(100)]
    assert fast.seen == list(range(0, 100, 10))  # only the probe
    assert accurate.seen == list(range(100))


def test_empty_readings_are_never_sure_and_no_crops_read_nothing() -> None:
    fast, accurate = Net("", {}), Net("s", {})
    cascade = CascadeRecognizer(fast, accurate, CascadeParams())  # type: ignore[arg-type]
    assert cascade.recognize([]) == []
    empty = Net("t", {})
    empty.recognize = lambda cs: [  # type: ignore[method-assign]
        Recognition(DecodedLine("", (), ()), 1.0) for _ in cs
    ]
    cascade = CascadeRecognizer(empty, accurate, CascadeParams(min_long=0, min_wide=0))  # type: ignore[arg-type]
    assert [r.line.text for r in cascade.recognize(crops(3))] == ["s0", "s1", "s2"]


def test_a_call_of_short_lines_goes_to_the_accurate_net_however_sure_the_fast_one_is() -> None:
    fast, accurate = Net("t", {}), Net("s", {})  # every line sure, "t0".."t9": short
    params = CascadeParams(min_conf=0.9, probe=4, min_long=0.5, long_chars=3, min_wide=0)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(12))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"s{k}" for k in range(12)]
    assert len(fast.seen) == 4  # the probe only
    # the same lines counted long: the fast net's readings stand
    fast, accurate = Net("t", {}), Net("s", {})
    params = CascadeParams(min_conf=0.9, probe=4, min_long=0.5, long_chars=2, min_wide=0)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(12))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"t{k}" for k in range(12)] and accurate.seen == []


def test_a_call_of_narrow_crops_goes_to_the_accurate_net_unprobed() -> None:
    fast, accurate = Net("t", {}), Net("s", {})
    narrow = [np.full((48, 120, 3), k, dtype=np.uint8) for k in range(10)]
    params = CascadeParams(min_long=0, wide_px=400, min_wide=0.2)
    out = CascadeRecognizer(fast, accurate, params).recognize(narrow)  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"s{k}" for k in range(10)]
    assert fast.seen == [] and accurate.seen == list(range(10))
    # two of the ten as wide as a paragraph's line: the fast net reads them all
    wide = narrow[:8] + [np.full((48, 400, 3), k, dtype=np.uint8) for k in (8, 9)]
    fast, accurate = Net("t", {}), Net("s", {})
    out = CascadeRecognizer(fast, accurate, params).recognize(wide)  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"t{k}" for k in range(10)] and accurate.seen == []


def line_of(text: str, conf: dict[int, float] | None = None, runs: dict[int, int] | None = None):
    """A decoded line: character k at time step 2k (held ``runs[k]`` steps), confidence 0.99
    unless ``conf`` says otherwise."""
    conf, runs = conf or {}, runs or {}
    steps = tuple((2 * k, 2 * k + runs.get(k, 1) - 1) for k in range(len(text)))
    return DecodedLine(text, tuple(conf.get(k, 0.99) for k in range(len(text))), steps)


class Columns:
    """A recognizer seam for one line: the fast net reads ``line``; the accurate net reads a
    crop by the columns it holds (each column's pixel is its x), as ``answer(x0, x1)``."""

    def __init__(self, line: DecodedLine, answer) -> None:  # type: ignore[no-untyped-def]
        self.line, self.answer, self.seen = line, answer, []  # type: list[tuple[int, int]]

    def fast(self, crops: list[np.ndarray]) -> list[Recognition]:
        return [Recognition(self.line, float(c.shape[1])) for c in crops]

    def accurate(self, crops: list[np.ndarray]) -> list[Recognition]:
        out = []
        for c in crops:
            x0, x1 = int(c[0, 0, 0]), int(c[0, -1, 0]) + 1
            self.seen.append((x0, x1))
            text = self.answer(x0, x1)
            out.append(Recognition(line_of(text), float(c.shape[1])))
        return out


def column_crop(width: int) -> np.ndarray:
    crop = np.zeros((2, width, 3), dtype=np.int32)
    crop[:, :, 0] = np.arange(width)[None, :]
    return crop


def cascade_of(seam: Columns, **kw: float) -> CascadeRecognizer:
    class Net:
        def __init__(self, f) -> None:  # type: ignore[no-untyped-def]
            self.recognize = f

    params = CascadeParams(min_conf=0.9, min_long=0, min_wide=0, **kw)  # type: ignore[arg-type]
    return CascadeRecognizer(Net(seam.fast), Net(seam.accurate), params)  # type: ignore[arg-type]


def test_only_the_unsure_word_is_cut_out_and_read_again() -> None:
    text = "the quick brovn fox"  # 'v' (index 13) unsure
    seam = Columns(line_of(text, {13: 0.5}), lambda x0, x1: "brown")
    (out,) = cascade_of(seam).recognize([column_crop(16 * len(text))])
    assert out.line.text == "the quick brown fox"
    # cut in the middle of the gaps: between 'k' (step 16) and 'b' (step 20), 'n' (28) and 'f'
    assert seam.seen == [(18 * STRIDE, 30 * STRIDE)]
    # the new word's time steps are the line's: it starts where the cut does
    assert out.line.char_steps[10] == (18, 18)
    assert out.line.char_steps[:10] == line_of(text).char_steps[:10]


def test_an_unsure_space_sends_both_its_words_a_merged_letter_its_own() -> None:
    # a soft space (index 4) inside "1960"; the 'l' of "formaly" held 4 steps
    text = "in 1 960 the formaly said so and went on"
    runs = {18: 4}
    answers = {(4 * STRIDE, 16 * STRIDE): "1960", (24 * STRIDE, 40 * STRIDE): "formally"}
    seam = Columns(line_of(text, {4: 0.4}, runs), lambda x0, x1: answers[(x0, x1)])
    (out,) = cascade_of(seam).recognize([column_crop(16 * len(text))])
    assert out.line.text == "in 1960 the formally said so and went on"
    assert sorted(seam.seen) == sorted(answers)


def test_a_space_is_unsure_only_below_its_own_floor() -> None:
    # the spaces at 3 and 9 at 0.8: below min_conf but above min_space_conf (tiny is often
    # that unsure of the gaps between words it reads right); the 'x' of "fox" at 0.8 is unsure
    text = "the quick fox jumps"
    params = CascadeParams(min_conf=0.9, min_space_conf=0.7)
    width = 16 * len(text)
    assert unsure_spans(line_of(text, {3: 0.8, 9: 0.8}), width, params) == []
    spans = unsure_spans(line_of(text, {3: 0.8, 12: 0.8}), width, params)
    assert spans is not None and [text[a:b] for a, b, _, _ in spans] == ["fox"]
    # a space below its floor still sends both its words
    spans = unsure_spans(line_of(text, {3: 0.6}), width, params)
    assert spans is not None and [text[a:b] for a, b, _, _ in spans] == ["the quick"]
    # with the floor at min_conf a space counts as every other character
    spans = unsure_spans(line_of(text, {3: 0.8}), width, CascadeParams(min_space_conf=0.9))
    assert spans is not None and [text[a:b] for a, b, _, _ in spans] == ["the quick"]


def test_a_cut_read_as_something_else_sends_the_line_whole() -> None:
    text = "one two three four"
    seam = Columns(line_of(text, {5: 0.3}), lambda x0, x1: "xqzj" if x0 else text)
    (out,) = cascade_of(seam).recognize([column_crop(300)])
    assert out.line.text == text
    assert seam.seen[-1] == (0, 300)  # read again whole


def test_a_line_mostly_unsure_is_read_whole_at_once() -> None:
    text = "ab cd ef"
    seam = Columns(line_of(text, {0: 0.2, 3: 0.2, 6: 0.2}), lambda x0, x1: "AB CD EF")
    (out,) = cascade_of(seam).recognize([column_crop(128)])
    assert out.line.text == "AB CD EF" and seam.seen == [(0, 128)]


def test_splice_drops_the_spaces_an_empty_reading_leaves() -> None:
    line = line_of("a bc d")
    spans = unsure_spans(line_of("a bc d", {2: 0.1}), 100, CascadeParams())
    assert spans is not None and [s[:2] for s in spans] == [(2, 4)]
    out = splice(line, spans, [line_of("")])
    assert out.text == "a d" and len(out.char_steps) == len(out.char_conf) == 3
    assert unsure_spans(line_of(""), 100, CascadeParams()) is None
    assert unsure_spans(line, 100, CascadeParams()) == []
