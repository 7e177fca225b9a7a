"""A worker process loads its models as it starts (``Runtime.preload``), in the background."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings
from workers.runtime import Runtime

pytestmark = pytest.mark.slow


def test_a_preloaded_runtime_has_its_models_before_its_first_document(tmp_path: Path) -> None:
    rt = Runtime.build(Settings(home=tmp_path))
    try:
        assert rt._ocr is None and rt._embedder is None  # nothing loads on building
        loading = rt.preload(ocr=True)
        loading.join(timeout=300)
        assert not loading.is_alive()
        assert rt._ocr is not None and rt._ocr._models is not None
        assert rt._embedder is not None
        vectors = rt._embedder.embed(["Quarterly rainfall at the northern reservoir"])
        assert vectors.shape == (1, rt._embedder.dim)
    finally:
        rt.close()
