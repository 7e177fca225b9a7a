"""embed_chunks / embed_query with a stand-in embedder: texts in order, shapes checked."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.chunk import Chunk
from pipelines.embed import embed_chunks, embed_query


class LengthEmbedder:
    """A 2-dim 'embedding' that records what it was asked to embed."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen.append(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32).reshape(-1, 2)


def chunk(ordinal: int, text: str) -> Chunk:
    box = (0.0, 0.0, 10.0, 10.0)
    return Chunk(page=1, ordinal=ordinal, text=text, bbox=box, line_boxes=(box,))


def test_chunks_are_embedded_by_text_in_order() -> None:
    emb = LengthEmbedder()
    vectors = embed_chunks([chunk(0, "abc"), chunk(1, "Title\nbody")], emb)
    assert emb.seen == [["abc", "Title\nbody"]]
    assert vectors[:, 0].tolist() == [3.0, 10.0]
    assert embed_chunks([], emb).shape == (0, 2)


def test_query_is_embedded_as_is() -> None:
    emb = LengthEmbedder()
    vector = embed_query("  what is DB?", emb)
    assert emb.seen == [["  what is DB?"]]
    assert vector.shape == (2,)


def test_wrong_row_count_is_refused() -> None:
    class Broken:
        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts) + 1, 2), dtype=np.float32)

    with pytest.raises(ValueError, match="shape"):
        embed_chunks([chunk(0, "a")], Broken())
