"""PP-OCRv6 small DB text detector: pages in, text-line quads (page pixels) out, batched."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from core.config import DetPrecision, default_model_cache
from core.errors import ModelError
from core.logging import get_logger
from models.db_postprocess import DBParams, db_boxes
from models.loaded import load_once
from models.net_input import bgr_chw
from models.ort_sessions import Session, cpu_int8_pays, make_session, make_shaped_session
from models.quantize import int8_model
from models.weights import PPOCR_V6_DET, verified_path

log = get_logger("detector")

_MEAN = 0.5
_STD = 0.5


@dataclass(frozen=True)
class DetectionResult:
    """Quads (N x 4 x 2, tl-tr-br-bl, page pixels) and their DB scores for one page."""

    quads: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class DetectorParams:
    """How pages are sized for the detector and what its output must reach to count."""

    pixels: int = 1_360_000  # pages are resized (up or down) to about this many pixels
    batch: int = 1  # pages per run: more helps a GPU; on a CPU it only costs memory
    db: DBParams = field(default_factory=DBParams)
    precision: DetPrecision = "auto"  # auto: int8 on a CPU, fp32 on a GPU
    cache_dir: Path | None = None  # where the int8 model is kept (None: default_model_cache())
    # a GPU's: inputs padded to 256s, a session per shape (models.ort_sessions.SessionPerShape)
    fixed_shapes: bool = False


FIXED_MULTIPLE = 256  # a fixed-shape detector's input sides are multiples of this


def detector_scale(h: int, w: int, params: DetectorParams) -> float:
    """The resize factor that gives the page ``params.pixels`` pixels, whatever its shape.

    One area for every page: low-resolution scans (faxes, 100 dpi forms) are enlarged so their
    small print is found, large renders are shrunk so detection costs the same on every page.
    By area rather than by the long side, so a long, narrow receipt is not shrunk until its
    print is too small to find (tuned on the dev splits, see docs/benchmarks-history.md).
    Landscape sheets get more (below).
    """
    # A landscape sheet may hold two pages side by side (a spread, pipelines.spreads): it gets
    # up to twice the pixels (twice at 3:2 and wider), so each page's print is found at the
    # size a page of its own would have.
    pixels = params.pixels * (1.0 + min(1.0, max(0.0, (w / max(h, 1) - 1.0) / 0.5)))
    return math.sqrt(pixels / max(h * w, 1))


def preprocess(image: np.ndarray, scale: float, multiple: int = 32) -> np.ndarray:
    """RGB uint8 page -> normalised BGR CHW float32, resized by ``scale``, padded to
    ``multiple``s (32: the net's stride)."""
    h, w = image.shape[:2]
    rh, rw = max(32, round(h * scale)), max(32, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (rw, rh), interpolation=interp) if (rh, rw) != (h, w) else image
    ph, pw = -(-rh // multiple) * multiple, -(-rw // multiple) * multiple
    # pad with white: scans are dark text on light paper
    canvas = np.full((ph, pw, 3), 255, dtype=np.uint8)
    canvas[:rh, :rw] = resized
    # (x / 255 - mean) / std
    return bgr_chw(canvas, 255.0 * _MEAN, 1.0 / (255.0 * _STD))


def resolve_precision(precision: DetPrecision, device: str) -> Literal["int8", "fp32"]:
    """``auto`` -> ``int8`` on a CPU where int8 convolutions beat fp32 ones
    (``models.ort_sessions.cpu_int8_pays``: VNNI, or AVX2 alone but for AMD's Zen 2), else
    ``fp32`` (a GPU, ARM, a Zen 2). The int8 model reads as fp32 does on every class: 8-bit
    weights with VNNI, 7-bit ones on AVX2 alone (``models.quantize.weight_bits``).
    """
    if precision == "auto":
        return "int8" if device == "cpu" and cpu_int8_pays() else "fp32"
    return precision


class TextDetector:
    """Finds text lines on pages. The session is built once; ``detect`` batches pages."""

    def __init__(self, session: Session, params: DetectorParams) -> None:
        self.session = session
        self.params = params
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def load(cls, *, device: str, threads: int, params: DetectorParams) -> TextDetector:
        """Load the checksummed PP-OCRv6 small detector on ``device`` (cpu/cuda), as int8 or
        fp32 by ``params.precision``. When the int8 model cannot be built the fp32 one runs, and
        a warning says why."""
        path = verified_path(PPOCR_V6_DET)
        if resolve_precision(params.precision, device) == "int8":
            try:
                path = int8_model(PPOCR_V6_DET, params.cache_dir or default_model_cache())
            except ModelError as exc:
                log.warning("int8 detector unavailable, running fp32", extra={"reason": str(exc)})
        if params.fixed_shapes:
            return cls(make_shaped_session(path, device=device, threads=threads), params)
        return cls(make_session(path, device=device, threads=threads), params)

    def probability_maps(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, float]]:
        """The DB probability map of each page and the scale it was computed at."""
        out: list[tuple[np.ndarray, float]] = [(np.zeros((0, 0)), 1.0)] * len(images)
        prepared: dict[tuple[int, int], list[tuple[int, np.ndarray, float, tuple[int, int]]]] = {}
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            scale = detector_scale(h, w, self.params)
            x = preprocess(img, scale, FIXED_MULTIPLE if self.params.fixed_shapes else 32)
            valid = (max(1, round(h * scale)), max(1, round(w * scale)))
            prepared.setdefault(x.shape[1:], []).append((i, x, scale, valid))
        # pages of the same padded size run as one batch (PDF pages usually share a size)
        for group in prepared.values():
            for start in range(0, len(group), self.params.batch):
                chunk = group[start : start + self.params.batch]
                # one page (a CPU's batch): its own array, not a copy
                batch = chunk[0][1][None] if len(chunk) == 1 else np.stack([c[1] for c in chunk])
                pred = self.session.run(None, {self.input_name: batch})[0]
                for (i, _, scale, (vh, vw)), p in zip(chunk, pred, strict=True):
                    out[i] = (p[0, :vh, :vw], scale)
        return out

    def detect(self, images: list[np.ndarray]) -> list[DetectionResult]:
        """Text-line quads for each page (RGB uint8 arrays), in page pixels."""
        results = []
        for prob, scale in self.probability_maps(images):
            quads, scores = db_boxes(prob, self.params.db)
            results.append(DetectionResult(quads / np.float32(scale), scores))
        return results


def get_detector(*, device: str, threads: int, params: DetectorParams) -> TextDetector:
    """The process-wide detector for these settings, loaded on first use."""
    return load_once(
        ("text detector", device, threads, params),
        lambda: TextDetector.load(device=device, threads=threads, params=params),
    )
