"""SLANet decoding on hand-made net outputs: tokens to a grid with spans, boxes to crop pixels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from core.errors import ModelError
from models.table_structure import (
    INPUT_SIDE,
    StructurePrediction,
    decode_structure,
    preprocess,
    structure_vocabulary,
)

# the layout of the model's ``character`` metadata (a shortened dictionary of the same kind)
CHARACTER = "\n".join(
    [
        "<thead>",
        "<tr>",
        "<td>",
        "</td>",
        "</tr>",
        "</thead>",
        "<tbody>",
        "</tbody>",
        "<td",
        ' colspan="5"',
        ">",
        ' colspan="2"',
        ' colspan="3"',
        ' rowspan="2"',
        ' rowspan="3"',
    ]
)
VOCAB = structure_vocabulary(CHARACTER)
CROP_HW = (200, 400)


def outputs(
    tokens: Sequence[str], boxes: Mapping[int, Sequence[float]] | None = None, eos: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(structure_probs, loc_preds) whose argmax spells ``sos`` + tokens (+ ``eos``); the box
    of step i (counted in ``tokens``) is ``boxes[i]`` (fractions of the crop), else zeros."""
    seq = ["sos", *tokens, *(["eos"] if eos else [])]
    probs = np.full((len(seq), len(VOCAB)), 0.01, dtype=np.float32)
    for step, token in enumerate(seq):
        probs[step, VOCAB.index(token)] = 0.9
    width = len(next(iter(boxes.values()))) if boxes else 4
    locs = np.zeros((len(seq), width), dtype=np.float32)
    for i, box in (boxes or {}).items():
        locs[i + 1] = box
    return probs, locs


def decode(
    tokens: Sequence[str], boxes: Mapping[int, Sequence[float]] | None = None
) -> StructurePrediction:
    probs, locs = outputs(tokens, boxes)
    return decode_structure(probs, locs, VOCAB, CROP_HW)


def spans(prediction: StructurePrediction) -> list[tuple[int, int, int, int, bool]]:
    return [(c.row, c.col, c.row_span, c.col_span, c.header) for c in prediction.cells]


def test_the_vocabulary_merges_td_and_adds_sos_and_eos() -> None:
    assert VOCAB[0] == "sos" and VOCAB[-1] == "eos"
    assert "<td>" not in VOCAB and VOCAB[-2] == "<td></td>"
    assert len(VOCAB) == len(CHARACTER.split("\n")) + 2


def test_a_spanning_header_over_two_columns() -> None:
    tokens = [
        "<thead>",
        "<tr>",
        "<td></td>",
        "<td",
        ' colspan="2"',
        ">",
        "</td>",
        "</tr>",
        "</thead>",
        "<tbody>",
        "<tr>",
        "<td></td>",
        "<td></td>",
        "<td></td>",
        "</tr>",
        "</tbody>",
    ]
    got = decode(tokens)
    assert (got.rows, got.cols) == (2, 3)
    assert spans(got) == [
        (0, 0, 1, 1, True),
        (0, 1, 1, 2, True),
        (1, 0, 1, 1, False),
        (1, 1, 1, 1, False),
        (1, 2, 1, 1, False),
    ]
    assert got.tokens == tuple(tokens)
    assert got.score == pytest.approx(0.9, abs=0.01)


def test_a_rowspan_pushes_the_next_rows_cells_right() -> None:
    tokens = ["<tbody>", "<tr>", "<td", ' rowspan="2"', ">", "</td>", "<td></td>", "<td></td>"]
    tokens += ["</tr>", "<tr>", "<td></td>", "<td></td>", "</tr>", "</tbody>"]
    got = decode(tokens)
    assert (got.rows, got.cols) == (2, 3)
    assert spans(got) == [
        (0, 0, 2, 1, False),
        (0, 1, 1, 1, False),
        (0, 2, 1, 1, False),
        (1, 1, 1, 1, False),
        (1, 2, 1, 1, False),
    ]


def test_a_cell_spanning_rows_and_columns() -> None:
    tokens = ["<tr>", "<td", ' rowspan="2"', ' colspan="2"', ">", "</td>", "<td></td>", "</tr>"]
    tokens += ["<tr>", "<td></td>", "</tr>", "<tr>", "<td></td>", "<td></td>", "<td></td>"]
    tokens += ["</tr>"]
    assert spans(decode(tokens)) == [
        (0, 0, 2, 2, False),
        (0, 2, 1, 1, False),
        (1, 2, 1, 1, False),
        (2, 0, 1, 1, False),
        (2, 1, 1, 1, False),
        (2, 2, 1, 1, False),
    ]


def test_rows_of_unequal_width_leave_empty_slots() -> None:
    # the second row has one cell: the grid is as wide as the widest row, the slots the net
    # gave no cell stay uncovered (the caller makes empty cells of them)
    tokens = ["<tr>", "<td></td>", "<td></td>", "<td></td>", "</tr>", "<tr>", "<td></td>", "</tr>"]
    got = decode(tokens)
    assert (got.rows, got.cols) == (2, 3)
    assert [(c[0], c[1]) for c in spans(got)] == [(0, 0), (0, 1), (0, 2), (1, 0)]


def test_an_empty_table_has_no_cells() -> None:
    for tokens in ([], ["<tbody>", "</tbody>"], ["<tr>", "</tr>"]):
        got = decode(tokens)
        assert (got.rows, got.cols, got.cells) == (0, 0, ())


@pytest.mark.parametrize(
    ("tokens", "want"),
    [
        # no </tr>: the next <tr> starts a row all the same
        (["<tr>", "<td></td>", "<tr>", "<td></td>"], [(0, 0, 1, 1), (1, 0, 1, 1)]),
        # a cell before any <tr> opens a row
        (["<td></td>", "<td></td>", "</tr>"], [(0, 0, 1, 1), (0, 1, 1, 1)]),
        # an unclosed <td ... ends at the next cell, its span kept
        (["<tr>", "<td", ' colspan="2"', "<td></td>"], [(0, 0, 1, 2), (0, 2, 1, 1)]),
        # stray closers and a span outside any <td change nothing
        (["</td>", ">", ' colspan="3"', "<tr>", "<td></td>", "</td>", "</tr>"], [(0, 0, 1, 1)]),
        # a rowspan past the last row is cut there
        (["<tr>", "<td", ' rowspan="3"', ">", "</td>", "</tr>"], [(0, 0, 1, 1)]),
        # a colspan into a slot a rowspan above holds stops before it
        (
            [
                "<tr>",
                "<td></td>",
                "<td",
                ' rowspan="2"',
                ">",
                "</tr>",
                "<tr>",
                "<td",
                ' colspan="3"',
            ],
            [(0, 0, 1, 1), (0, 1, 2, 1), (1, 0, 1, 1)],
        ),
        # a row no cell covers (<tr></tr>) is no row
        (
            ["<tr>", "<td></td>", "</tr>", "<tr>", "</tr>", "<tr>", "<td></td>"],
            [(0, 0, 1, 1), (1, 0, 1, 1)],
        ),
        # a row fully covered by a rowspan above stays a row
        (["<tr>", "<td", ' rowspan="2"', ">", "</td>", "</tr>", "<tr>", "</tr>"], [(0, 0, 2, 1)]),
    ],
)
def test_malformed_sequences_still_give_a_grid(
    tokens: list[str], want: list[tuple[int, int, int, int]]
) -> None:
    got = decode(tokens)
    assert [c[:4] for c in spans(got)] == want
    assert got.rows == max(r + rs for r, _, rs, _ in want)
    assert got.cols == max(c + cs for _, c, _, cs in want)


def test_decoding_stops_at_eos_and_survives_without_it() -> None:
    probs, locs = outputs(["<tr>", "<td></td>", "</tr>"])
    extra_probs, extra_locs = outputs(["<tr>", "<td></td>", "<td></td>"], eos=False)
    # steps after eos are the net's padding in a batch: never read
    got = decode_structure(
        np.concatenate([probs, extra_probs[1:]]),
        np.concatenate([locs, extra_locs[1:]]),
        VOCAB,
        CROP_HW,
    )
    assert (got.rows, got.cols) == (1, 1)
    # no eos at all (the net ran out of steps): what was written is kept
    truncated = decode_structure(extra_probs, extra_locs, VOCAB, CROP_HW)
    assert (truncated.rows, truncated.cols) == (1, 2)


def test_boxes_are_mapped_to_crop_pixels() -> None:
    tokens = ["<tr>", "<td></td>", "<td", ' colspan="2"', ">", "</td>", "</tr>"]
    boxes = {1: (0.1, 0.2, 0.3, 0.4), 2: (0.5, -0.1, 1.2, 0.5)}
    got = decode(tokens, boxes=boxes)
    h, w = CROP_HW
    first, second = got.cells
    assert first.bbox == pytest.approx((0.1 * w, 0.2 * h, 0.3 * w, 0.4 * h), abs=1e-3)
    # outside the crop: clipped to it
    assert second.bbox == pytest.approx((0.5 * w, 0.0, float(w), 0.5 * h), abs=1e-3)


def test_a_quad_box_becomes_its_enclosing_box() -> None:
    tokens = ["<tr>", "<td></td>", "</tr>"]
    quad = (0.1, 0.2, 0.5, 0.25, 0.45, 0.6, 0.05, 0.55)
    (cell,) = decode(tokens, boxes={1: quad}).cells
    h, w = CROP_HW
    assert cell.bbox == pytest.approx((0.05 * w, 0.2 * h, 0.5 * w, 0.6 * h), abs=1e-3)


def test_outputs_that_do_not_fit_the_vocabulary_are_refused() -> None:
    probs, locs = outputs(["<tr>", "<td></td>"])
    with pytest.raises(ModelError, match="structure tokens"):
        decode_structure(probs[:, :-1], locs, VOCAB, CROP_HW)
    with pytest.raises(ModelError, match="boxes"):
        decode_structure(probs, locs[:-1], VOCAB, CROP_HW)


def test_preprocess_keeps_the_aspect_and_pads_below() -> None:
    crop = np.zeros((100, 400, 3), np.uint8)
    crop[..., 0] = 255  # pure red
    x = preprocess(crop)
    assert x.shape == (3, INPUT_SIDE, INPUT_SIDE) and x.dtype == np.float32
    rows = INPUT_SIDE // 4
    # BGR, as the net was trained: red is the last channel
    assert x[2, :rows].mean() == pytest.approx((1 - 0.406) / 0.225, abs=1e-3)
    assert x[0, :rows].mean() == pytest.approx(-0.485 / 0.229, abs=1e-3)
    assert not x[:, rows:].any()  # the padding is the normalised 0
    assert preprocess(np.zeros((30, 20), np.uint8)).shape == (3, INPUT_SIDE, INPUT_SIDE)
