"""The recognizer cascade: tiny's sure readings stand, the rest are read again by small."""

from __future__ import annotations

import numpy as np

from models.ctc import DecodedLine
from models.recognizer import CascadeParams, CascadeRecognizer, Recognition


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
    params = CascadeParams(min_conf=0.9, min_long=0)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(10))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [
        "t0", "t1", "t2", "s3", "t4", "t5", "t6", "s7", "t8", "t9"
    ]  # fmt: skip
    assert sorted(fast.seen) == list(range(10))  # each crop read once by the fast net
    assert accurate.seen == [3, 7]


def test_a_call_the_fast_net_is_unsure_of_goes_to_the_accurate_net_whole() -> None:
    unsure = {k: 0.4 for k in range(100) if k % 10 < 6}  # 60% of the lines, every probed one
    fast, accurate = Net("t", unsure), Net("s", {})
    params = CascadeParams(min_conf=0.9, probe=10, min_sure=0.5, min_long=0)
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
    cascade = CascadeRecognizer(empty, accurate, CascadeParams(min_long=0))  # type: ignore[arg-type]
    assert [r.line.text for r in cascade.recognize(crops(3))] == ["s0", "s1", "s2"]


def test_a_call_of_short_lines_goes_to_the_accurate_net_however_sure_the_fast_one_is() -> None:
    fast, accurate = Net("t", {}), Net("s", {})  # every line sure, "t0".."t9": short
    params = CascadeParams(min_conf=0.9, probe=4, min_long=0.5, long_chars=3)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(12))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"s{k}" for k in range(12)]
    assert len(fast.seen) == 4  # the probe only
    # the same lines counted long: the fast net's readings stand
    fast, accurate = Net("t", {}), Net("s", {})
    params = CascadeParams(min_conf=0.9, probe=4, min_long=0.5, long_chars=2)
    out = CascadeRecognizer(fast, accurate, params).recognize(crops(12))  # type: ignore[arg-type]
    assert [r.line.text for r in out] == [f"t{k}" for k in range(12)] and accurate.seen == []
