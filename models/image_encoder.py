"""Image encoders: page images and figure crops in, float32 vectors out, from a local CLIP- or
SigLIP-style model folder (``SCANRAG_EMBED__IMAGE_MODEL``) in the Hugging Face layout.

The model must have an image tower (``get_image_features``); when it also has a text tower
(``get_text_features``: CLIP, SigLIP) texts are encoded into the same space, which is how a
text query reaches figures and pages. Loaded by transformers from the folder (AutoModel,
AutoImageProcessor, AutoTokenizer), never downloaded, never running code shipped in the folder.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor

from core.errors import ModelError
from models.embedder import (
    EmbedParams,
    Encoder,
    EncoderIdentity,
    TextEmbedder,
    features,
    load_pretrained,
    model_name,
    resolve_params,
    resolve_precision,
)
from models.loaded import load_once
from models.weights import check_folder, folder_sha256


class ImageEncoder(Encoder):
    """Encodes RGB images (and, with a text tower, texts) with one model; batched."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor: Any,
        text: TextEmbedder | None,
        *,
        identity: EncoderIdentity,
        device: str,
        batch: int,
        precision: Literal["fp32", "bf16"] = "fp32",
        normalize: bool = True,
    ) -> None:
        if batch < 1:
            raise ModelError(f"image batch must be at least 1, got {batch}")
        self.model = model
        self.processor = processor
        self.text = text
        self.identity = identity
        self.device = device
        self.batch = batch
        self.precision = precision
        self.normalize = normalize
        self._processor_lock = threading.Lock()

    @property
    def has_text_tower(self) -> bool:
        """Whether texts can be encoded into this model's image space."""
        return self.text is not None

    @classmethod
    def load(cls, folder: Path, params: EmbedParams = EmbedParams()) -> ImageEncoder:
        """Load the image model in ``folder`` (with its text tower, when it has one) to run as
        ``params`` say (their pooling and length limit are a text model's: not used here)."""
        run = resolve_params(params)
        arithmetic = resolve_precision(run.precision, run.device)  # resolved: as fp32 or bf16
        folder = check_folder(folder, "image model")
        sha = folder_sha256(folder)
        tokenizer, model = load_pretrained(
            folder,
            run.device,
            run.threads,
            what="image model",
            tokenizer=(folder / "tokenizer_config.json").is_file(),
        )
        if not hasattr(model, "get_image_features"):
            raise ModelError(
                f"the model in {folder} ({type(model).__name__}) has no image tower"
                " (get_image_features): use a CLIP- or SigLIP-style model"
            )
        try:
            processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the image processor from {folder}: {exc}") from exc
        name = model_name(folder)
        text = None
        if tokenizer is not None and hasattr(model, "get_text_features"):
            text = TextEmbedder(
                tokenizer,
                model,
                identity=EncoderIdentity("image", name, sha, 0),
                device=run.device,
                batch=run.batch * 4,
                precision=arithmetic,
                pooling="tower",
                max_length=max_text_length(model.config, tokenizer),
                normalize=run.normalize,
            )
        encoder = cls(
            model,
            processor,
            text,
            identity=EncoderIdentity("image", name, sha, 0),
            device=run.device,
            batch=run.batch,
            precision=arithmetic,
            normalize=run.normalize,
        )
        probe = Image.new("RGB", (32, 32), (255, 255, 255))
        dim = int(encoder.embed_images([probe]).shape[1])
        encoder.identity = EncoderIdentity("image", name, sha, dim)
        if text is not None:
            text.identity = encoder.identity
            width = int(text.embed(["dimension"]).shape[1])
            if width != dim:
                raise ModelError(
                    f"the text tower of {folder} gives {width} dims, its image tower {dim}"
                )
        return encoder

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        """Vectors (len(images) x dim, float32) for RGB images, in the order given."""
        out = np.empty((len(images), self.dim), dtype=np.float32)
        bf16 = self.precision == "bf16"
        with (
            torch.inference_mode(),
            torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16),
        ):
            for start in range(0, len(images), self.batch):
                part = [im.convert("RGB") for im in images[start : start + self.batch]]
                with self._processor_lock:
                    pixels = self.processor(images=part, return_tensors="pt")
                inputs = {k: v.to(self.device) for k, v in pixels.items()}
                rows = features(self.model.get_image_features(**inputs)).float()  # type: ignore[operator]
                if self.normalize:
                    rows = torch.nn.functional.normalize(rows, p=2.0, dim=1)
                if out.shape[1] != rows.shape[1]:  # the probe at load learns the width
                    out = np.empty((len(images), rows.shape[1]), dtype=np.float32)
                out[start : start + len(part)] = rows.cpu().numpy()
        return out

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Vectors of texts in the image space (the model's text tower)."""
        if self.text is None:
            raise ModelError(f"the image model {self.name!r} has no text tower")
        return self.text.embed(texts)


def max_text_length(config: Any, tokenizer: Any) -> int:
    """The text tower's position table size (SigLIP pads every text to it), within the
    tokenizer's own limit."""
    text_config = getattr(config, "text_config", None) or config
    limit = int(getattr(text_config, "max_position_embeddings", 0) or 77)
    tokenizer_limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    return min(limit, tokenizer_limit) if 0 < tokenizer_limit < 1_000_000 else limit


def get_image_encoder(folder: Path, params: EmbedParams = EmbedParams()) -> ImageEncoder:
    """The process-wide image encoder of ``folder`` for these ``params``, loaded on first use."""
    # a text model's pooling and length limit do not change an image model: not in its key
    run = replace(resolve_params(params), pooling="auto", max_length=0)
    where = folder.expanduser().resolve()
    return load_once(("image encoder", where, run), lambda: ImageEncoder.load(where, run))
