"""Reading detected lines: crops -> recognition -> TextLine with word boxes; page orientation.

The recognizer is passed in (a protocol), so this module runs with any implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from models.ctc import word_spans
from models.db_postprocess import order_quad
from models.detector import DetectionResult
from models.recognizer import STRIDE, Recognition, crop_quad
from pipelines.types import TextLine, Word


class Detector(Protocol):
    def detect(self, images: list[np.ndarray]) -> list[DetectionResult]: ...


class Recognizer(Protocol):
    def recognize(self, crops: list[np.ndarray]) -> list[Recognition]: ...


@dataclass(frozen=True)
class ReadParams:
    """What a line must reach to be kept, and how orientation is decided."""

    min_confidence: float = 0.7  # mean character confidence of a kept line (tuned on dev)
    upright_confidence: float = 0.88  # pages read this well are not checked for 180 degrees
    orientation_samples: int = 8
    sample_width: int = 320


def _lerp(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    return a + (b - a) * u


def is_vertical(quad: np.ndarray) -> bool:
    """A box much taller than wide (a vertical line of text, or a rotated page's line)."""
    tl, tr, _, bl = quad
    return bool(np.linalg.norm(bl - tl) > 1.5 * np.linalg.norm(tr - tl))


def line_from_recognition(quad: np.ndarray, rec: Recognition) -> TextLine:
    """A TextLine in page pixels: words placed along the quad from the CTC time steps."""
    tl, tr, br, bl = quad.astype(np.float64)
    words = []
    for span in word_spans(rec.line, STRIDE, rec.content_width):
        u0, u1 = span.x0 / rec.content_width, span.x1 / rec.content_width
        pts = np.stack([_lerp(tl, tr, u0), _lerp(tl, tr, u1), _lerp(bl, br, u1), _lerp(bl, br, u0)])
        words.append(
            Word(
                span.text,
                (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()),
                span.confidence,
            )
        )
    bbox = (
        float(quad[:, 0].min()),
        float(quad[:, 1].min()),
        float(quad[:, 0].max()),
        float(quad[:, 1].max()),
    )
    return TextLine(
        text=rec.line.text,
        bbox=tuple(round(v, 1) for v in bbox),  # type: ignore[arg-type]
        confidence=rec.line.confidence,
        words=tuple(words),
        quad=tuple((round(float(x), 1), round(float(y), 1)) for x, y in quad),
    )


@dataclass(frozen=True)
class PageReading:
    """The kept lines of a page and how sure the reading was over all detected lines."""

    lines: list[TextLine]
    confidence: float  # character-weighted mean over every line read, kept or not


def read_lines(
    images: list[np.ndarray],
    detections: list[DetectionResult],
    recognizer: Recognizer,
    params: ReadParams,
) -> list[PageReading]:
    """Recognise every detected line of every page in one batched call; a reading per page."""
    crops: list[np.ndarray] = []
    owners: list[tuple[int, np.ndarray]] = []
    for p, (image, det) in enumerate(zip(images, detections, strict=True)):
        for quad in det.quads:
            crops.append(crop_quad(image, quad))
            owners.append((p, quad))
    recs = recognizer.recognize(crops)
    # tall boxes may hold vertical text: read them turned both ways, keep the surer reading
    tall = [k for k, (_, q) in enumerate(owners) if is_vertical(q)]
    if tall:
        turned = [np.roll(owners[k][1], s, axis=0) for k in tall for s in (-1, 1)]
        alt = recognizer.recognize(
            [
                crop_quad(images[owners[k][0]], q)
                for k, q in zip([k for k in tall for _ in (0, 1)], turned, strict=True)
            ]
        )
        for n, k in enumerate(tall):
            for m in (0, 1):
                cand = alt[2 * n + m]
                if len(cand.line.text) > len(recs[k].line.text) and (
                    cand.line.confidence > recs[k].line.confidence
                ):
                    recs[k] = cand
                    owners[k] = (owners[k][0], turned[2 * n + m])
    kept: list[list[TextLine]] = [[] for _ in images]
    read: list[list[Recognition]] = [[] for _ in images]
    for (p, quad), rec in zip(owners, recs, strict=True):
        read[p].append(rec)
        if not rec.line.text.strip() or rec.line.confidence < params.min_confidence:
            continue
        kept[p].append(line_from_recognition(quad, rec))
    return [PageReading(k, _mean_confidence(r)) for k, r in zip(kept, read, strict=True)]


# --- orientation ------------------------------------------------------------------------------


def rotate_image(image: np.ndarray, degrees: int) -> np.ndarray:
    """The image turned clockwise by 0/90/180/270 degrees."""
    codes = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return image if degrees % 360 == 0 else cv2.rotate(image, codes[degrees % 360])


def _sample_crops(image: np.ndarray, quads: np.ndarray, params: ReadParams) -> list[np.ndarray]:
    """Middle parts of the longest lines, as read upright (for orientation votes)."""
    lengths = [np.linalg.norm(q[1] - q[0]) for q in quads]
    picks = np.argsort(lengths)[::-1][: params.orientation_samples]
    crops = []
    for k in picks:
        crop = crop_quad(image, quads[k])
        w = crop.shape[1]
        if w > params.sample_width:
            start = (w - params.sample_width) // 2
            crop = crop[:, start : start + params.sample_width]
        crops.append(crop)
    return crops


def _mean_confidence(recs: list[Recognition]) -> float:
    total = sum(len(r.line.text) for r in recs)
    if total == 0:
        return 0.0
    return sum(r.line.confidence * len(r.line.text) for r in recs) / total


def vote_flip(
    image: np.ndarray, quads: np.ndarray, recognizer: Recognizer, params: ReadParams
) -> bool:
    """True when the sampled lines read better turned by 180 degrees."""
    crops = _sample_crops(image, quads, params)
    if not crops:
        return False
    recs = recognizer.recognize(crops + [np.ascontiguousarray(c[::-1, ::-1]) for c in crops])
    upright, flipped = recs[: len(crops)], recs[len(crops) :]
    return _mean_confidence(flipped) > _mean_confidence(upright) + 0.05


def sideways_rotation(quads: np.ndarray) -> bool:
    """True when most text (by area) lies in tall boxes: the page is turned 90 or 270 degrees."""
    tall = wide = 0.0
    for q in quads:
        w, h = float(np.linalg.norm(q[1] - q[0])), float(np.linalg.norm(q[3] - q[0]))
        if h > 2 * w:
            tall += w * h
        elif w > 2 * h:
            wide += w * h
    return tall > wide


def turn_quads(quads: np.ndarray, degrees: int, width: int, height: int) -> np.ndarray:
    """Quads of an image of ``width x height`` as they lie after turning it clockwise."""
    out = []
    for q in quads:
        x, y = q[:, 0], q[:, 1]
        if degrees == 90:
            pts = np.stack([height - y, x], axis=1)
        elif degrees == 180:
            pts = np.stack([width - x, height - y], axis=1)
        elif degrees == 270:
            pts = np.stack([y, width - x], axis=1)
        else:
            pts = q
        out.append(order_quad(pts))
    return np.stack(out) if out else quads
