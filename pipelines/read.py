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
    vertical_confidence: float = 0.9  # a vertical run of characters read as one line this surely
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


def vertical_runs(quads: np.ndarray, min_run: int = 3) -> list[list[int]]:
    """Chains of small boxes stacked one right under the other on one vertical axis.

    A line of text that runs vertically (a Bates number printed up a form's margin) is often
    found one character at a time, each character a small box of its own: these chains are
    candidates to be read again as one turned line. Returns index lists, top to bottom.
    """
    boxes = [(q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()) for q in quads]
    small = [
        0.7 * (b[3] - b[1]) <= (b[2] - b[0]) <= 2.5 * (b[3] - b[1]) and b[3] > b[1] for b in boxes
    ]
    below: dict[int, int] = {}
    above: set[int] = set()
    for i in sorted((k for k in range(len(boxes)) if small[k]), key=lambda k: boxes[k][1]):
        bi = boxes[i]
        wi, hi, cx = bi[2] - bi[0], bi[3] - bi[1], (bi[0] + bi[2]) / 2
        best, best_gap = -1, float("inf")
        for j, bj in enumerate(boxes):
            if j == i or not small[j] or j in above:
                continue
            wj, hj = bj[2] - bj[0], bj[3] - bj[1]
            gap = bj[1] - bi[3]
            if (
                abs((bj[0] + bj[2]) / 2 - cx) <= 0.25 * max(wi, wj)
                and 0.6 <= wj / wi <= 1 / 0.6
                and -0.6 * min(hi, hj) <= gap <= 0.5 * max(hi, hj)
                and bj[1] > bi[1]
                and gap < best_gap
            ):
                best, best_gap = j, gap
        if best >= 0:
            below[i] = best
            above.add(best)
    runs = []
    for start in below:
        if start in above:
            continue
        run = [start]
        while run[-1] in below:
            run.append(below[run[-1]])
        # characters lying on their side are wider than tall (upright digits: taller than wide)
        aspect = np.median([(boxes[k][2] - boxes[k][0]) / (boxes[k][3] - boxes[k][1]) for k in run])
        if len(run) >= min_run and aspect >= 1.0:
            runs.append(run)
    return runs


def _run_quads(quads: np.ndarray, run: list[int]) -> list[np.ndarray]:
    """The box around a run's pieces as a quad read top to bottom and as one read bottom up."""
    pts = quads[run].reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    return [np.roll(box, s, axis=0) for s in (-1, 1)]


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
    dropped = _merge_vertical_runs(images, detections, recognizer, params, owners, recs)
    kept: list[list[TextLine]] = [[] for _ in images]
    read: list[list[Recognition]] = [[] for _ in images]
    for k, ((p, quad), rec) in enumerate(zip(owners, recs, strict=True)):
        if k in dropped:
            continue
        read[p].append(rec)
        if not rec.line.text.strip() or rec.line.confidence < params.min_confidence:
            continue
        kept[p].append(line_from_recognition(quad, rec))
    return [PageReading(k, _mean_confidence(r)) for k, r in zip(kept, read, strict=True)]


def _merge_vertical_runs(
    images: list[np.ndarray],
    detections: list[DetectionResult],
    recognizer: Recognizer,
    params: ReadParams,
    owners: list[tuple[int, np.ndarray]],
    recs: list[Recognition],
) -> set[int]:
    """Read each page's vertical runs of one-character boxes as one turned line; where that
    reads surely, the line replaces its pieces (appended to ``owners``/``recs``). Returns the
    indices of the pieces it replaced."""
    runs: list[tuple[int, list[int]]] = []
    offset = 0
    for p, det in enumerate(detections):
        runs += [(p, [offset + k for k in run]) for run in vertical_runs(det.quads)]
        offset += len(det.quads)
    if not runs:
        return set()
    quads = np.stack([q for _, q in owners])
    candidates = [(p, q) for p, run in runs for q in _run_quads(quads, run)]
    alt = recognizer.recognize([crop_quad(images[p], q) for p, q in candidates])
    dropped: set[int] = set()
    for n, (_, run) in enumerate(runs):
        best = max((2 * n, 2 * n + 1), key=lambda k: alt[k].line.confidence)
        line = alt[best].line
        # pieces read upright as a character or two each, the run turned as at least one
        # character a piece, surely: otherwise the pieces were separate lines (a receipt's
        # stacked quantities)
        pieces_short = all(len(recs[k].line.text.strip()) <= 2 for k in run)
        if (
            pieces_short
            and line.confidence >= params.vertical_confidence
            and len(line.text.strip()) >= len(run)
        ):
            dropped.update(run)
            owners.append(candidates[best])
            recs.append(alt[best])
    return dropped


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
