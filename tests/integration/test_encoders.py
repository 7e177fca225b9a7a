"""Encoders by local path, on real model folders the tests build: tiny BERT-like, CLIP and SigLIP
models made by transformers from small configs (random weights) and saved with
``save_pretrained``, loaded through the same code a user's folder goes through."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, AutoTokenizer

from core.errors import ModelError
from models.embedder import EmbedParams, TextEmbedder, get_embedder
from models.image_encoder import ImageEncoder, get_image_encoder
from tests.tiny_encoders import build


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoders")
    return {
        "bert": build(root / "bert", "bert"),
        "bert-cls": build(root / "bert-cls", "bert", seed=1, pooling="cls"),
        "clip": build(root / "clip", "clip"),
        "siglip": build(root / "siglip", "siglip"),
    }


def picture(seed: int, size: tuple[int, int] = (90, 60)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


CPU = EmbedParams(device="cpu")
FP32 = EmbedParams(device="cpu", precision="fp32")
TEXTS = ["the quick brown fox", "quarterly revenue chart", "", "water " * 80]


def test_a_bert_folder_is_a_text_encoder_with_its_identity(models: dict[str, Path]) -> None:
    folder = models["bert"]
    encoder = TextEmbedder.load(folder, FP32)
    vectors = encoder.embed(TEXTS)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    identity = encoder.identity
    assert (identity.kind, identity.name, identity.sha256, identity.dim) == (
        "text",
        "bert",
        weights,
        32,
    )
    # no pooling config: the attention-masked mean of the last hidden states, as computed here
    model = AutoModel.from_pretrained(folder)
    enc = AutoTokenizer.from_pretrained(folder)([TEXTS[0]], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    mean = hidden.mean(dim=0).numpy()
    assert np.allclose(vectors[0], mean / np.linalg.norm(mean), atol=1e-5)
    # the limit comes from the tokenizer (32 tokens): the long text is cut, not refused
    assert encoder.max_length == 32 and encoder.pooling == "mean"


def test_pooling_and_length_come_from_the_folder_or_the_settings(
    models: dict[str, Path],
) -> None:
    folder = models["bert-cls"]
    cls = TextEmbedder.load(folder, FP32)
    assert cls.pooling == "cls"
    model = AutoModel.from_pretrained(folder)
    enc = AutoTokenizer.from_pretrained(folder)([TEXTS[1]], return_tensors="pt")
    with torch.no_grad():
        first = model(**enc).last_hidden_state[0, 0].numpy()
    assert np.allclose(cls.embed([TEXTS[1]])[0], first / np.linalg.norm(first), atol=1e-5)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 12}))
    short = TextEmbedder.load(folder, replace(FP32, pooling="mean", normalize=False))
    assert (short.pooling, short.max_length) == ("mean", 12)
    raw = short.embed([TEXTS[1]])[0]
    assert not np.isclose(np.linalg.norm(raw), 1.0)  # normalisation off, as asked
    (folder / "sentence_bert_config.json").unlink()


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_an_image_model_encodes_images_and_texts_into_one_space(
    models: dict[str, Path], family: str
) -> None:
    folder = models[family]
    encoder = ImageEncoder.load(folder, replace(FP32, batch=2))
    dim = 16 if family == "clip" else 32  # CLIP's projection; SigLIP's hidden size
    assert encoder.identity.kind == "image" and encoder.dim == dim and encoder.has_text_tower
    images = [picture(0), picture(1), picture(0), picture(2, (40, 300))]
    vectors = encoder.embed_images(images)
    assert vectors.shape == (4, dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # random weights still map the same pixels to the same vector, whatever the batch
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)
    assert np.allclose(encoder.embed_images([images[1]])[0], vectors[1], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)
    texts = encoder.embed_texts(TEXTS[:2])
    assert texts.shape == (2, dim)
    # the text tower as the text model: the same vectors through the text encoder's loader
    as_text = TextEmbedder.load(folder, FP32)
    assert as_text.pooling == "tower" and np.allclose(as_text.embed(TEXTS[:2]), texts, atol=1e-5)
    # SigLIP pads every text to its full length (its pooled state is the last position's), so
    # a text reads the same alone or beside a longer one
    alone = encoder.embed_texts([TEXTS[0]])[0]
    assert np.allclose(alone, texts[0], atol=1e-5)


def test_folders_that_are_not_encoders_are_refused_with_the_reason(
    models: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"no config\.json"):
        TextEmbedder.load(tmp_path, CPU)
    with pytest.raises(ModelError, match="no image tower"):
        ImageEncoder.load(models["bert"], CPU)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelError, match="no weight file"):
        TextEmbedder.load(broken, CPU)


def test_encoders_are_loaded_once_per_process(models: dict[str, Path]) -> None:
    first = get_image_encoder(models["clip"], CPU)
    assert get_image_encoder(models["clip"], EmbedParams(device="cpu")) is first
    text = get_embedder(models["bert"], CPU)
    assert get_embedder(models["bert"], EmbedParams(device="cpu")) is text
    assert get_embedder(models["bert-cls"], CPU) is not text
    # every setting is part of what names the loaded model
    assert get_embedder(models["bert"], replace(CPU, normalize=False)) is not text
    assert get_embedder(models["bert"], replace(CPU, max_length=8)) is not text


def test_a_service_with_a_wrong_model_folder_is_not_ready(
    models: dict[str, Path], tmp_path: Path
) -> None:
    from core.config import Settings
    from workers.context import check_models

    check_models(Settings(embed={"text_model": models["bert"], "image_model": models["clip"]}))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"image model .* is not a model folder"):
        check_models(Settings(embed={"image_model": tmp_path}))  # type: ignore[arg-type]
