"""One onnxruntime session per input shape (the GPU's fixed-shape runs), with a stub session."""

from __future__ import annotations

import numpy as np

from models.ort_sessions import SessionPerShape
from models.recognizer import WIDTH_LADDER, fixed_batches, ladder_width


class StubSession:
    """Records the shapes it ran."""

    made = 0

    def __init__(self) -> None:
        StubSession.made += 1
        self.ran: list[tuple[int, ...]] = []

    def run(self, output_names: list[str] | None, feed: dict[str, np.ndarray]) -> list[int]:
        self.ran.append(feed["x"].shape)
        return [id(self)]

    def get_inputs(self) -> list[str]:
        return ["x"]


def test_each_shape_runs_on_a_session_of_its_own_and_the_least_recent_goes() -> None:
    StubSession.made = 0
    shaped = SessionPerShape(StubSession, limit=2)  # type: ignore[arg-type]
    assert StubSession.made == 1  # built at load, so that a broken model fails there
    a, b, c = (np.zeros((1, 3, h, 32), np.float32) for h in (32, 64, 96))
    first = shaped.run(None, {"x": a})[0]
    assert StubSession.made == 1  # the first shape took the session built at load
    second = shaped.run(None, {"x": b})[0]
    assert second != first and StubSession.made == 2
    assert shaped.run(None, {"x": a})[0] == first  # the same shape, the same session
    shaped.run(None, {"x": c})  # a third shape: b's session, the least recently used, goes
    assert StubSession.made == 3 and len(shaped.sessions()) == 2
    assert shaped.run(None, {"x": a})[0] == first
    assert all(len(set(s.ran)) == 1 for s in shaped.sessions())  # type: ignore[attr-defined]


def test_fixed_runs_share_a_ladder_width_and_hold_at_most_a_batch() -> None:
    widths = sorted([64, 120, 300, 320, 328, 600, 900, 1000, 1300, 2000, 4096, 5000] + [96] * 9)
    spans = fixed_batches(widths, batch=4)
    assert [i for s, e in spans for i in range(s, e)] == list(range(len(widths)))
    for start, end in spans:
        assert 0 < end - start <= 4
        assert len({ladder_width(w) for w in widths[start:end]}) == 1
        assert ladder_width(widths[start]) >= widths[end - 1]
    assert ladder_width(WIDTH_LADDER[3] + 1) == WIDTH_LADDER[4]
    assert ladder_width(4096) == WIDTH_LADDER[-1]
    assert ladder_width(5000) == 5000  # wider than the ladder: its own width
