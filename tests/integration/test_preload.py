"""A worker process loads its models as it starts (``Runtime.preload``), in the background."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from workers.runtime import Runtime

pytestmark = pytest.mark.slow


def test_a_preloaded_runtime_has_its_models_before_its_first_document(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(home=tmp_path))
    try:
        assert runtime._ocr is None and runtime._embedder is None  # nothing loads on building
        loading = runtime.preload(ocr=True)
        loading.join(timeout=300)
        assert not loading.is_alive()
        assert runtime._ocr is not None and runtime._ocr._models is not None
        assert runtime._embedder is not None
        vectors = runtime._embedder.embed(["Quarterly rainfall at the northern reservoir"])
        assert vectors.shape == (1, runtime._embedder.dim)
    finally:
        runtime.close()
