"""The CUDA provider options the settings choose (the sessions themselves need a GPU)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import Settings
from core.errors import ModelError
from models import ort_sessions
from workers.context import build_ocr_engine


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    saved = dict(ort_sessions.CUDA_OPTIONS)
    yield
    ort_sessions.CUDA_OPTIONS.clear()
    ort_sessions.CUDA_OPTIONS.update(saved)


@pytest.mark.parametrize("mode", ["heuristic", "default", "exhaustive"])
def test_the_setting_reaches_the_cuda_provider_options(mode: str) -> None:
    settings = Settings.model_validate({"ocr": {"cuda_conv_search": mode, "device": "cpu"}})
    build_ocr_engine(settings)
    assert ort_sessions.CUDA_OPTIONS["cudnn_conv_algo_search"] == mode.upper()


def test_an_unknown_search_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown cuDNN convolution search"):
        ort_sessions.set_cuda_conv_search("fastest")
    with pytest.raises(ValueError, match="cuda_conv_search"):
        Settings.model_validate({"ocr": {"cuda_conv_search": "fastest"}})
