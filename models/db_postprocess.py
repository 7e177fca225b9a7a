"""DB (differentiable binarisation) post-processing: probability map -> text quads.

Pure numpy + OpenCV array functions, no weights: threshold the map, take connected contours, fit a
minimum-area rectangle, score it by the mean probability inside, grow it by the DB "unclip"
distance (area * ratio / perimeter) and return the grown rectangle as an ordered quad.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DBParams:
    """Thresholds of the DB post-processing (PaddleOCR's names)."""

    thresh: float = 0.3  # pixel probability that counts as text
    box_thresh: float = 0.5  # mean probability a kept box must reach
    unclip_ratio: float = 1.6  # how far the shrunk text kernel is grown back
    max_candidates: int = 3000
    min_size: float = 3.0  # shortest side (map pixels) of a kept box
    dilate: bool = True


def order_quad(points: np.ndarray) -> np.ndarray:
    """Four points ordered top-left, top-right, bottom-right, bottom-left (float32, 4x2)."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], dtype=np.float32)


def box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability of ``prob`` inside the polygon ``quad``."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (quad - np.array([x0, y0], dtype=np.float32)).round().astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip_rect(
    rect: tuple[tuple[float, float], tuple[float, float], float], ratio: float
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Grow a rotated rectangle by DB's distance ``area * ratio / perimeter`` on every side.

    Offsetting a rectangle by d and taking the minimum-area rectangle of the result is the
    rectangle with each side longer by 2d, so no polygon clipping library is needed.
    """
    (cx, cy), (rw, rh), angle = rect
    perimeter = 2.0 * (rw + rh)
    d = rw * rh * ratio / perimeter if perimeter > 0 else 0.0
    return (cx, cy), (rw + 2 * d, rh + 2 * d), angle


def db_boxes(prob: np.ndarray, params: DBParams = DBParams()) -> tuple[np.ndarray, np.ndarray]:
    """Text quads (N x 4 x 2, map pixels, ordered) and their scores from one probability map."""
    if prob.ndim != 2:
        raise ValueError(f"expected a 2-D probability map, got shape {prob.shape}")
    bitmap: np.ndarray = (prob > params.thresh).astype(np.uint8)
    if params.dilate:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), dtype=np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads: list[np.ndarray] = []
    scores: list[float] = []
    h, w = prob.shape
    for contour in contours[: params.max_candidates]:
        if len(contour) < 3:
            continue
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        rect = ((float(cx), float(cy)), (float(rw), float(rh)), float(angle))
        if min(rect[1]) < params.min_size:
            continue
        kernel = order_quad(cv2.boxPoints(rect))
        score = box_score(prob, kernel)
        if score < params.box_thresh:
            continue
        grown = unclip_rect(rect, params.unclip_ratio)
        if min(grown[1]) < params.min_size + 2:
            continue
        quad = order_quad(cv2.boxPoints(grown))
        quad[:, 0] = np.clip(quad[:, 0], 0, w)
        quad[:, 1] = np.clip(quad[:, 1], 0, h)
        quads.append(quad)
        scores.append(score)
    if not quads:
        return np.zeros((0, 4, 2), dtype=np.float32), np.zeros((0,), dtype=np.float32)
    return np.stack(quads), np.asarray(scores, dtype=np.float32)
