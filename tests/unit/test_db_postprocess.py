import numpy as np
import pytest

from models.db_postprocess import DBParams, box_score, db_boxes, order_quad, unclip_rect


def test_order_quad_puts_top_left_first() -> None:
    pts = np.array([[10, 20], [0, 0], [10, 0], [0, 20]], dtype=np.float32)
    assert order_quad(pts).tolist() == [[0, 0], [10, 0], [10, 20], [0, 20]]


def test_two_text_blobs_give_two_grown_boxes() -> None:
    prob = np.zeros((100, 200), dtype=np.float32)
    prob[20:30, 10:90] = 0.9  # a shrunk text kernel
    prob[60:70, 50:190] = 0.8
    quads, scores = db_boxes(prob, DBParams(unclip_ratio=1.5))
    assert len(quads) == 2
    order = np.argsort(quads[:, 0, 1])
    first = quads[order[0]]
    # the kernel (80 x 10) is grown by area * ratio / perimeter on every side
    d = 81 * 11 * 1.5 / (2 * (81 + 11))
    assert first[0, 0] == pytest.approx(10 - d, abs=1.5)
    assert first[2, 1] == pytest.approx(30 + d, abs=1.5)
    assert 0.75 < scores[order[0]] <= 0.9  # the dilated rim counts, at probability 0


def test_low_probability_and_tiny_blobs_are_dropped() -> None:
    prob = np.zeros((50, 50), dtype=np.float32)
    prob[10:20, 5:40] = 0.35  # above the pixel threshold, below the box threshold
    prob[40:42, 40:42] = 0.99  # too small
    quads, _ = db_boxes(prob, DBParams(thresh=0.3, box_thresh=0.5))
    assert len(quads) == 0


def test_box_score_is_mean_inside_polygon() -> None:
    prob = np.zeros((10, 10), dtype=np.float32)
    prob[:, :5] = 1.0
    quad = np.array([[0, 0], [9, 0], [9, 9], [0, 9]], dtype=np.float32)
    assert box_score(prob, quad) == pytest.approx(0.5, abs=0.01)


def test_unclip_rect_keeps_centre_and_angle() -> None:
    (cx, cy), (w, h), a = unclip_rect(((5.0, 6.0), (40.0, 10.0), 3.0), 2.0)
    assert (cx, cy, a) == (5.0, 6.0, 3.0)
    assert w - 40 == pytest.approx(h - 10) == pytest.approx(2 * 400 * 2 / 100)


def test_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError):
        db_boxes(np.zeros((1, 4, 4), dtype=np.float32))


def _q(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)


def test_vertical_runs_chain_characters_lying_on_their_side() -> None:
    from pipelines.read import vertical_runs

    # a Bates number up the margin, found one character at a time (boxes wider than tall,
    # touching), beside an ordinary line and a receipt's column of upright digits
    bates = [_q(580, 780 + 13 * k, 601, 795 + 13 * k) for k in range(6)]
    line = [_q(100, 780, 400, 795)]
    upright_digits = [_q(300, 500 + 24 * k, 317, 523 + 24 * k) for k in range(4)]
    quads = np.stack(bates + line + upright_digits)
    assert vertical_runs(quads) == [[0, 1, 2, 3, 4, 5]]
    assert vertical_runs(np.stack(bates[:2] + line)) == []  # two pieces are not a run
