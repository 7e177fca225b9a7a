"""PP-OCRv6 small CTC recognizer: line crops in, text with per-character confidences out.

Crops are warped straight from the page quad to the 48-pixel model height. Lines of many pages
are recognised together, sorted and batched by width so little compute goes to padding.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import onnxruntime as ort

from core.vocab import Alphabet
from models.ctc import DecodedLine, ctc_greedy_decode
from models.rec_head import narrowed_model
from models.runtime import make_session
from models.weights import PPOCR_V6_REC, PPOCR_V6_REC_TINY, PPOCR_V6_TINY_DICT, verified_path

REC_HEIGHT = 48
STRIDE = 8  # input pixels per CTC time step
MIN_WIDTH = 64  # narrow crops are padded this far: the net needs some context around a glyph

RecSize = Literal["small", "tiny"]


@dataclass(frozen=True)
class RecSpec:
    """Which recognizer, where: ``size`` (PP-OCRv6 small or tiny) on ``device`` with
    ``threads`` onnxruntime threads, ``batch`` crops a run at most, runs capped at
    ``max_columns`` (crops x padded width; 0: no cap), answering ``alphabet``."""

    device: str
    threads: int
    batch: int
    max_columns: int = 0
    alphabet: Alphabet = "western"
    size: RecSize = "small"


@dataclass(frozen=True)
class Recognition:
    """A decoded crop and the width (model pixels) its content occupied."""

    line: DecodedLine
    content_width: float


def crop_quad(image: np.ndarray, quad: np.ndarray, max_width: int = 4096) -> np.ndarray:
    """The region inside ``quad`` (tl, tr, br, bl) warped to a REC_HEIGHT-high, upright crop."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)))
    h = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)), 1.0)
    out_w = int(np.clip(round(REC_HEIGHT * w / h), 8, max_width))
    dst = np.array([[0, 0], [out_w, 0], [out_w, REC_HEIGHT], [0, REC_HEIGHT]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(np.stack([tl, tr, br, bl]), dst)
    # bilinear even when enlarging small print: bicubic's ringing read worse on the dev splits
    return cv2.warpPerspective(
        image, m, (out_w, REC_HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _normalise(crops: list[np.ndarray], width: int) -> np.ndarray:
    batch = np.zeros((len(crops), 3, REC_HEIGHT, width), dtype=np.float32)
    for k, crop in enumerate(crops):
        w = crop.shape[1]
        # RGB -> BGR as the net was trained, scaled to [-1, 1]; padding stays 0
        batch[k, :, :, :w] = (crop[:, :, ::-1].transpose(2, 0, 1) / 127.5) - 1.0
    return batch


def plan_batches(
    widths: list[int], max_batch: int, overhead: int = 512, max_columns: int = 0
) -> list[tuple[int, int]]:
    """Split sorted crop widths into batches ``[start, end)`` with the least padded work.

    A batch costs its size times its widest crop (every crop is padded to it) plus a fixed
    ``overhead`` (pixels' worth of per-run cost); a dynamic programme finds the cheapest split.
    ``max_columns`` (0: no cap) bounds a batch's padded width summed over its crops: a crop
    wider than that runs alone.
    """
    n = len(widths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, max(0, end - max_batch) - 1, -1):
            size = (end - start) * widths[end - 1]
            if max_columns and size > max_columns and start < end - 1:
                break  # widths are sorted: a larger batch ending here is wider still
            cost = best[start] + size + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    spans = []
    end = n
    while end > 0:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


class TextRecognizer:
    """Reads line crops. The session is built once; ``recognize`` batches by width."""

    def __init__(
        self, session: ort.InferenceSession, charset: list[str], batch: int, max_columns: int = 0
    ) -> None:
        self.session = session
        self.charset = charset
        self.batch = batch
        self.max_columns = max_columns
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def load(cls, spec: RecSpec) -> TextRecognizer:
        """Load the checksummed PP-OCRv6 recognizer ``spec`` names, its output layer narrowed to
        its alphabet; the charset comes from the model's metadata (small) or the dictionary
        file shipped beside it (tiny)."""
        if spec.size == "tiny":
            path = verified_path(PPOCR_V6_REC_TINY)
            chars = verified_path(PPOCR_V6_TINY_DICT).read_text(encoding="utf-8").splitlines()
            model, charset = narrowed_model(path, spec.alphabet, chars)
        else:
            path = verified_path(PPOCR_V6_REC)
            model, charset = narrowed_model(path, spec.alphabet)
        session = make_session(path, device=spec.device, threads=spec.threads, model=model)
        return cls(session, charset, spec.batch, spec.max_columns)

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Decode every crop (REC_HEIGHT-high RGB uint8); results in input order."""
        results: list[Recognition | None] = [None] * len(crops)
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
        widths = [max(MIN_WIDTH, -(-crops[i].shape[1] // STRIDE) * STRIDE) for i in order]
        for start, end in plan_batches(widths, self.batch, max_columns=self.max_columns):
            idx = order[start:end]
            probs = self.session.run(
                None, {self.input_name: _normalise([crops[i] for i in idx], widths[end - 1])}
            )[0]
            # time steps past a crop's own width are padding: never decode them
            lengths = np.array(widths[start:end]) // STRIDE
            decoded = ctc_greedy_decode(probs, self.charset, lengths)
            for i, line in zip(idx, decoded, strict=True):
                results[i] = Recognition(line, float(crops[i].shape[1]))
        return [r for r in results if r is not None]


def sure(rec: Recognition, min_conf: float) -> bool:
    """Whether every character of a reading has confidence ``min_conf`` or more (an empty
    reading is never sure)."""
    return bool(rec.line.char_conf) and min(rec.line.char_conf) >= min_conf


@dataclass(frozen=True)
class CascadeParams:
    """When the fast recognizer's reading stands.

    A line the fast net reads with every character at ``min_conf`` or more keeps that reading;
    the others are read again by the accurate net. ``probe`` lines spread over a call are read
    by the fast net first, and the accurate net reads the whole call unless at least
    ``min_sure`` of them are sure and at least ``min_long`` are paragraph lines of
    ``long_chars`` characters or more. The first sends noisy scans to small (tiny is unsure of
    most of their lines, and reading twice would cost more than it saves); the second keeps
    tiny to pages of running text: on forms and receipts (short fields, low resolution) tiny
    is sometimes sure and wrong (doubled letters merged: "Street" -> "Stret"), and it saved
    them only 3-5% of the time. The paragraph rule is the layout gate's (pipelines.regions:
    half the lines of 20+ characters), which separates the dev splits' running-text pages from
    their forms and receipts.
    """

    min_conf: float = 0.9
    probe: int = 16
    min_sure: float = 0.5
    min_long: float = 0.5
    long_chars: int = 20


class CascadeRecognizer:
    """PP-OCRv6 tiny first, small where tiny is unsure: clean print at tiny's cost, small's
    reading everywhere else (the same ``recognize`` as TextRecognizer)."""

    def __init__(
        self, fast: TextRecognizer, accurate: TextRecognizer, params: CascadeParams
    ) -> None:
        self.fast = fast
        self.accurate = accurate
        self.params = params

    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Decode every crop; results in input order."""
        n = len(crops)
        if n == 0:
            return []
        p = self.params
        step = max(1, n // p.probe)
        probe = list(range(0, n, step))[: p.probe]
        readings: dict[int, Recognition] = dict(
            zip(probe, self.fast.recognize([crops[i] for i in probe]), strict=True)
        )
        probed = readings.values()
        sure_share = sum(sure(r, p.min_conf) for r in probed) / len(probe)
        long_share = sum(len(r.line.text) >= p.long_chars for r in probed) / len(probe)
        if sure_share < p.min_sure or long_share < p.min_long:
            return self.accurate.recognize(crops)
        rest = [i for i in range(n) if i not in readings]
        readings.update(zip(rest, self.fast.recognize([crops[i] for i in rest]), strict=True))
        again = [i for i in range(n) if not sure(readings[i], p.min_conf)]
        readings.update(zip(again, self.accurate.recognize([crops[i] for i in again]), strict=True))
        return [readings[i] for i in range(n)]


_cache: dict[RecSpec, TextRecognizer] = {}
_cache_lock = threading.Lock()


def get_recognizer(spec: RecSpec) -> TextRecognizer:
    """The process-wide recognizer for ``spec``, loaded on first use."""
    with _cache_lock:
        if spec not in _cache:
            _cache[spec] = TextRecognizer.load(spec)
        return _cache[spec]
