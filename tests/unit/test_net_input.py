"""The networks' input arrays: OpenCV's one pass gives what the numpy formula gives."""

from __future__ import annotations

import numpy as np

from models.detector import preprocess
from models.net_input import bgr_chw
from models.recognizer import _normalise


def test_bgr_chw_is_the_scaled_bgr_planes() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    got = bgr_chw(rgb, 127.5, 1 / 127.5)
    want = (rgb[:, :, ::-1].transpose(2, 0, 1).astype(np.float64) - 127.5) / 127.5
    assert got.shape == (3, 5, 7) and got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.abs(got - want).max() < 1e-6
    assert got[0, 2, 3] == np.float32((int(rgb[2, 3, 2]) - 127.5) / 127.5)  # blue plane first


def test_detector_pads_white_and_recognizer_pads_zero() -> None:
    page = np.zeros((40, 50, 3), dtype=np.uint8)  # black page
    x = preprocess(page, 1.0)
    assert x.shape == (3, 64, 64)
    assert np.all(x[:, :40, :50] == -1.0) and np.all(x[:, 40:, :] == 1.0)  # white padding
    crop = np.full((48, 20, 3), 255, dtype=np.uint8)
    batch = _normalise([crop], 32)
    assert np.all(batch[0, :, :, :20] == 1.0) and np.all(batch[0, :, :, 20:] == 0.0)
