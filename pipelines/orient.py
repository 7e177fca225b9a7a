"""Orientation decisions for a batch of pages: which pages lie sideways or upside down, and
turning them upright (image, detected boxes and reading turned together).

The measurements and image operations these decisions rest on (``sideways_rotation``,
``vote_flip``, ``rotate_image``, ``turn_quads``) are in ``pipelines.read``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from models.detector import DetectionResult
from pipelines.read import (
    Detector,
    PageReading,
    ReadParams,
    Recognizer,
    read_lines,
    rotate_image,
    sideways_rotation,
    turn_quads,
    vote_flip,
)


class OrientedPages(NamedTuple):
    """The pages of a batch as they will be read: images, their detections, and how far each
    page was turned clockwise (0, 90, 180 or 270 degrees) to get there."""

    images: list[np.ndarray]
    detections: list[DetectionResult]
    rotations: list[int]


def turn_sideways_pages(
    pages: OrientedPages, detector: Detector, recognizer: Recognizer, params: ReadParams
) -> OrientedPages:
    """The pages whose text runs vertically turned by 90 or 270 degrees (and detected again);
    the others as they were."""
    images, detections, rotations = _copied(pages)
    for i, det in enumerate(detections):
        if len(det.quads) and sideways_rotation(det.quads):
            images[i], detections[i], rotations[i] = _turn_sideways(
                images[i], detector, recognizer, params
            )
    return OrientedPages(images, detections, rotations)


def turn_upside_down_pages(
    pages: OrientedPages, readings: list[PageReading], recognizer: Recognizer, params: ReadParams
) -> tuple[OrientedPages, list[PageReading]]:
    """The pages that read poorly and whose lines read better turned by 180 degrees, turned
    and read again; the others, and pages already turned sideways, as they were.

    It comes after reading: a page read surely (``upright_confidence``) is not voted on.
    """
    images, detections, rotations = _copied(pages)
    readings = list(readings)
    for i, reading in enumerate(readings):
        if rotations[i] or reading.confidence >= params.upright_confidence:
            continue
        det = detections[i]
        if len(det.quads) and vote_flip(images[i], det.quads, recognizer, params):
            images[i], detections[i] = _turn_over(images[i], det)
            rotations[i] = 180
            readings[i] = read_lines([images[i]], [detections[i]], recognizer, params)[0]
    return OrientedPages(images, detections, rotations), readings


def _turn_sideways(
    image: np.ndarray, detector: Detector, recognizer: Recognizer, params: ReadParams
) -> tuple[np.ndarray, DetectionResult, int]:
    """A page whose text runs vertically: turned 90 or 270 degrees, whichever reads better."""
    turned = rotate_image(image, 90)
    det = detector.detect([turned])[0]
    if len(det.quads) and vote_flip(turned, det.quads, recognizer, params):
        return (*_turn_over(turned, det), 270)
    return turned, det, 90


def _turn_over(image: np.ndarray, det: DetectionResult) -> tuple[np.ndarray, DetectionResult]:
    """The image and its detected boxes turned by 180 degrees."""
    h, w = image.shape[:2]
    return rotate_image(image, 180), replace(det, quads=turn_quads(det.quads, 180, w, h))


def _copied(pages: OrientedPages) -> OrientedPages:
    """Fresh lists, so that turning pages leaves the caller's as they were."""
    return OrientedPages(list(pages.images), list(pages.detections), list(pages.rotations))
