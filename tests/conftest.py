"""Shared fixtures: the real OCR engine (loaded once per test session) and page makers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.engine import EngineParams, OcrEngine


@pytest.fixture(scope="session")
def engine() -> OcrEngine:
    eng = OcrEngine(EngineParams(device="cpu"))
    eng.models()
    return eng


@pytest.fixture()
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
