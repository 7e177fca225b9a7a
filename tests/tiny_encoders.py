"""Tiny real encoder folders for tests: BERT-like, CLIP and SigLIP models made by transformers
from small configs with random weights and ``save_pretrained`` into a folder (a few hundred KB),
with a byte-pair tokenizer trained here and the image processor of each family.

They load through the same code users' model folders do (models.embedder, models.image_encoder).
Random weights still map the same input to the same vector, which is what the tests rely on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertModel,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    PreTrainedTokenizerFast,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)
from transformers.utils import logging as hf_logging

Family = Literal["bert", "clip", "siglip"]
_WORDS = (
    "the quick brown fox jumps over the lazy dog invoice total revenue chart figure page "
    "report quarterly growth river bank water table sales region north south 0123456789"
)
_SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}


def tokenizer(max_length: int = 32) -> PreTrainedTokenizerFast:
    """A byte-pair tokenizer of a few hundred tokens, trained on a line of English."""
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    bpe.train_from_iterator(
        [_WORDS] * 8, trainers.BpeTrainer(vocab_size=300, special_tokens=specials)
    )
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=max_length,
    )


def build(folder: Path, family: Family, seed: int = 0, pooling: str | None = None) -> Path:
    """Write a tiny ``family`` model with weights drawn from ``seed`` into ``folder``; with
    ``pooling`` (cls, mean), a sentence-transformers pooling config beside it."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tok = tokenizer()
    vocab = tok.vocab_size
    text = {
        **_SMALL,
        "vocab_size": vocab,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }
    vision = {**_SMALL, "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    torch.manual_seed(seed)
    model: torch.nn.Module
    if family == "bert":
        model = BertModel(BertConfig(**{**text, "max_position_embeddings": 64}))
    elif family == "clip":
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ).save_pretrained(folder)
    else:
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    model.save_pretrained(folder)  # type: ignore[operator]
    tok.save_pretrained(folder)
    if pooling is not None:
        (folder / "1_Pooling").mkdir(exist_ok=True)
        config = {"word_embedding_dimension": 32, f"pooling_mode_{pooling}_token": True}
        if pooling == "mean":
            config = {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return folder
