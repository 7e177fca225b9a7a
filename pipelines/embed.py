"""Embedding: chunks and queries -> unit vectors, through any model with an ``embed`` method.

all-MiniLM-L6-v2 is a symmetric model (trained on sentence pairs without instructions), so a
query is embedded as is, with no "query:" prefix, in the same space as the chunks' texts.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipelines.chunk import Chunk


class Embedder(Protocol):
    """What the pipeline needs from a text embedder (models.embedder.TextEmbedder is one)."""

    def embed(self, texts: list[str]) -> np.ndarray:
        """One vector per text (rows in the order given)."""
        ...


def _checked(vectors: np.ndarray, rows: int) -> np.ndarray:
    if vectors.ndim != 2 or vectors.shape[0] != rows:
        raise ValueError(f"the embedder returned shape {vectors.shape} for {rows} texts")
    return vectors


def embed_chunks(chunks: list[Chunk], embedder: Embedder) -> np.ndarray:
    """The vectors of the chunks' texts as the embedder reads them (``Chunk.embedded``: a
    table's values named by their headers), len(chunks) x dim, row i for chunk i."""
    return _checked(embedder.embed([c.embedded for c in chunks]), len(chunks))


def embed_query(text: str, embedder: Embedder) -> np.ndarray:
    """The vector (dim,) of a search query, embedded as is (no prefix, no rewriting)."""
    return _checked(embedder.embed([text]), 1)[0]
