"""PP-OCRv6 small CTC recognizer: line crops in, text with per-character confidences out.

Crops are warped straight from the page quad to the 48-pixel model height. Lines of many pages
are recognised together, sorted and batched by width so little compute goes to padding.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort

from core.vocab import Alphabet
from models.ctc import DecodedLine, ctc_greedy_decode
from models.rec_head import narrowed_model
from models.runtime import make_session
from models.weights import PPOCR_V6_REC, verified_path

REC_HEIGHT = 48
STRIDE = 8  # input pixels per CTC time step
MIN_WIDTH = 64  # narrow crops are padded this far: the net needs some context around a glyph


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
    def load(
        cls,
        *,
        device: str,
        threads: int,
        batch: int,
        max_columns: int = 0,
        alphabet: Alphabet = "western",
    ) -> TextRecognizer:
        """Load the checksummed PP-OCRv6 small recognizer, its output layer narrowed to
        ``alphabet``; its charset comes from the model's metadata."""
        path = verified_path(PPOCR_V6_REC)
        model, charset = narrowed_model(path, alphabet)
        session = make_session(path, device=device, threads=threads, model=model)
        return cls(session, charset, batch, max_columns)

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


_cache: dict[tuple[str, int, int, int, str], TextRecognizer] = {}
_cache_lock = threading.Lock()


def get_recognizer(
    *, device: str, threads: int, batch: int, max_columns: int = 0, alphabet: Alphabet = "western"
) -> TextRecognizer:
    """The process-wide recognizer for these settings, loaded on first use."""
    key = (device, threads, batch, max_columns, alphabet)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = TextRecognizer.load(
                device=device,
                threads=threads,
                batch=batch,
                max_columns=max_columns,
                alphabet=alphabet,
            )
        return _cache[key]
