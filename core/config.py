"""scanrag settings: one class, nested groups, environment prefix ``SCANRAG_`` with ``__`` nesting.

Example: ``SCANRAG_OCR__DPI=300`` or ``SCANRAG_LIMITS__MAX_PAGES=500``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.netguard import Allow
from core.vocab import Alphabet, Device, EmbedPrecision, Pooling

Renderer = Literal["pdfium", "pdf2image"]


class LimitSettings(BaseModel):
    """What an input may be before it is refused (each check names the limit it broke)."""

    max_bytes: int = Field(default=500 * 1024 * 1024, gt=0, description="largest input file")
    max_pages: int = Field(default=2000, gt=0, description="most pages in one document")
    max_page_pixels: int = Field(
        default=80_000_000, gt=0, description="largest page (width x height) after rendering"
    )


DetPrecision = Literal["auto", "int8", "fp32"]
ConvSearch = Literal["heuristic", "default", "exhaustive"]  # cuDNN's convolution algorithm choice


def default_model_cache() -> Path:
    """``$XDG_CACHE_HOME/scanrag`` (default ``~/.cache/scanrag``): models built on this machine."""
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "scanrag"


class OcrSettings(BaseModel):
    """How pages are read."""

    dpi: int = Field(default=200, ge=50, le=600, description="PDF rasterisation resolution")
    renderer: Renderer = "pdfium"
    device: Device = "auto"
    threads: int = Field(
        default=0, ge=0, description="onnxruntime threads per model; 0 = cores / workers"
    )
    workers: int = Field(
        default=0, ge=0, le=256, description="page batches read at once; 0 = cores (GPU: 1)"
    )
    page_batch: int = Field(default=1, ge=1, le=64, description="pages read together")
    det_batch: int = Field(
        default=1, ge=1, le=64, description="pages per detector run (1 on CPU keeps memory low)"
    )
    rec_batch: int = Field(default=32, ge=1, le=512, description="text lines per recognizer run")
    rec_columns: int = Field(
        default=0, ge=0, description="widest recognizer run (lines x pixels); 0 = 1024 (GPU: any)"
    )
    det_pixels: int = Field(
        default=1_360_000, ge=100_000, le=16_000_000, description="detector input size (pixels)"
    )
    alphabet: Alphabet = Field(
        default="western",
        description="characters read: western (Latin, Greek, symbols) or all (adds CJK, kana)",
    )
    min_confidence: float = Field(
        default=0.7, ge=0, le=1, description="lines read less surely are dropped"
    )
    orientation: bool = Field(default=True, description="detect and undo 90/180/270 rotations")
    layout_model: bool = Field(
        default=True,
        description="find layout regions (columns, titles, tables, figures) with the CDLA model;"
        " false: reading order by the row rules alone",
    )
    table_model: bool = Field(
        default=True,
        description="read the cells of table regions with the SLANet table structure model"
        " (needs layout_model); false: a table is its lines, as other text",
    )
    fast_recognizer: bool = Field(
        default=True,
        description="on a CPU, read lines with PP-OCRv6 tiny first and again with small where"
        " tiny is unsure of a word (clean print at tiny's cost); false: small reads every line",
    )
    det_precision: DetPrecision = Field(
        default="auto",
        description="detector arithmetic; auto = int8 on an x86 CPU with VNNI or AVX2 (7-bit"
        " weights there), fp32 elsewhere (GPU, ARM, AMD Zen 2)",
    )
    cuda_conv_search: ConvSearch = Field(
        default="heuristic",
        description="on CUDA, how cuDNN picks convolution algorithms: heuristic (asked once per"
        " shape), default (one fixed algorithm), exhaustive (each shape timed once)",
    )
    cuda_fixed_shapes: bool = Field(
        default=True,
        description="on CUDA, pad detector and recognizer runs to a few shapes, one session"
        " each (onnxruntime rebuilds a convolution's plan whenever its input shape changes)",
    )


class ChunkSettings(BaseModel):
    """How pages are cut into retrievable chunks."""

    max_tokens: int = Field(
        default=160, ge=16, le=512, description="chunk size budget (embedder word pieces)"
    )


class SearchSettings(BaseModel):
    """How the hybrid search fuses its legs (defaults tuned on the dev split of bench/rag.py)."""

    rrf_k: float = Field(default=10.0, gt=0, description="reciprocal rank fusion constant")
    lexical_weight: float = Field(
        default=3.0, ge=0, description="weight of the full-text leg (the dense leg has 1)"
    )
    candidates: int = Field(default=50, ge=1, le=1000, description="hits each leg contributes")
    image_weight: float = Field(
        default=1.0, ge=0, description="weight of the image legs (image model) in the fusion"
    )
    min_cosine: float | None = Field(
        default=0.3,
        ge=-1,
        le=1,
        description="score floor: a query finds passages only when one of them has this"
        " cosine with it (text model) or more; null: no floor (bench/citing.py)",
    )
    min_cosine_worded: float = Field(
        default=0.15,
        ge=-1,
        le=1,
        description="the score floor for a passage holding one of the query's words",
    )


class EmbedSettings(BaseModel):
    """The encoders of the index: text (built-in MiniLM, or a local model folder) and,
    optionally, images (a local CLIP- or SigLIP-style model folder)."""

    device: Device = "auto"
    # 16: as fast as 32 or 64 on a CPU, with a half or a quarter of the activation memory
    # (docs/BENCHMARKS.md, issue 15)
    batch: int = Field(default=16, ge=1, le=1024)
    threads: int = Field(
        default=0,
        ge=0,
        description="torch threads, 0 = cores; the ONNX query encoder's (search), 0 = one",
    )
    precision: EmbedPrecision = Field(
        default="auto",
        description="matrix products in fp32 or bf16; auto = bf16 on a CPU with AMX or"
        " AVX-512 BF16 (vectors within 3e-5 cosine of fp32's), else fp32",
    )
    text_model: Path | None = Field(
        default=None,
        description="a local folder holding a text encoder in the Hugging Face layout (config,"
        " weights, tokenizer); None: the built-in all-MiniLM-L6-v2",
    )
    image_model: Path | None = Field(
        default=None,
        description="a local folder holding a CLIP- or SigLIP-style model (image tower, and a"
        " text tower for text queries); None: no image vectors",
    )
    text_pooling: Pooling = Field(
        default="auto",
        description="token states to one vector (mean, cls, last); auto: the folder's"
        " sentence-transformers pooling config, else mean",
    )
    text_max_length: int = Field(
        default=0, ge=0, le=32768, description="tokens read per text; 0 = the model's own limit"
    )
    normalize: bool = Field(default=True, description="L2-normalise every vector")
    image_batch: int = Field(default=16, ge=1, le=1024, description="images per encoder run")
    max_encode_items: int = Field(
        default=64, ge=1, le=4096, description="most items in one /v1/encode request"
    )
    max_image_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="largest image in an encode or search request"
    )
    # A few kilobytes of PNG may declare tens of millions of pixels (a quarter of a gigabyte
    # decoded, more in the image processor); the encoders read images at a few hundred pixels
    # a side, so the pixels of one request's images together are held to far less than a
    # page's, checked from the headers: 2048 x 2048 costs the API ~70 MB (docs/BENCHMARKS.md)
    max_image_pixels: int = Field(
        default=2048 * 2048,
        gt=0,
        description="most pixels (width x height) of the images in one encode or search request,"
        " together",
    )


class ServiceSettings(BaseModel):
    """The API and the workers."""

    import_root: Path | None = Field(
        default=None,
        description="one import folder per tenant, <root>/<tenant>, which folder batches read;"
        " None: batches of folders off",
    )
    auth_disabled: bool = Field(
        default=False, description="development only: every request is tenant 'default'"
    )
    public_url: str = Field(default="", description="base of links in responses ('' = relative)")
    # slow clients: a connection waiting on its client is held only this long (api/edge.py)
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a client has to send a request's headers"
    )
    body_timeout: float = Field(
        default=20.0,
        gt=0,
        description="seconds a client has to send a request's body, plus 1 s per body_min_rate"
        " bytes of it",
    )
    body_min_rate: int = Field(
        default=16_384, gt=0, description="bytes per second a long body must arrive at, at least"
    )
    keep_alive: int = Field(
        default=5, ge=1, description="seconds an idle connection is kept open between requests"
    )
    event_streams: int = Field(
        default=32, ge=1, description="open progress event streams per tenant, per API process"
    )
    event_stream_seconds: float = Field(
        default=300.0, gt=0, description="seconds before an event stream ends (clients reconnect)"
    )
    metrics_key: str = Field(
        default="",
        pattern=r"^(|.{16,})$",
        description="the operator's key for /metrics (Bearer; 16 characters at least); empty:"
        " /metrics is off. Tenants' keys never read it",
    )
    page_range: int = Field(default=4, ge=1, le=256, description="pages per worker task")
    # fair queueing (workers/fairness.py): a long document keeps this many page-range tasks
    # queued or running, and short documents go first; the default matches a worker's default
    # processes (one a core), so one document alone still keeps a worker busy
    page_window: int = Field(
        default_factory=lambda: max(2, os.cpu_count() or 1),
        ge=0,
        description="page-range tasks of one document queued or running at once (default: the"
        " CPU count); 0: all at once, in arrival order (no fairness between documents)",
    )
    soft_time_limit: int = Field(default=540, ge=1, description="seconds a task may run, soft")
    time_limit: int = Field(default=600, ge=2, description="seconds before a task is killed")
    visibility_timeout: int = Field(
        default=3600, ge=3, description="seconds before an unacknowledged task is redelivered"
    )
    max_deliveries: int = Field(
        default=3, ge=1, description="deliveries of one task before its document is poison"
    )
    max_memory_mb: int = Field(default=3000, ge=100, description="worker child recycled above")
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU priority of worker processes below the API's, where they share a machine",
    )
    worker_preload: bool = Field(
        default=True,
        description="worker processes load their models as they start, not at their first"
        " document (off: a worker serving only webhooks or batch listings)",
    )
    webhook_retries: int = Field(default=8, ge=0)
    webhook_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds one webhook attempt may take in all, however slowly the receiver"
        " answers (workers/webhooks.py)",
    )
    webhook_allow: str = Field(
        default="",
        description="comma-separated hosts, addresses or CIDR networks webhooks may reach although"
        " they are not public (on-premise receivers); empty: public addresses only",
    )
    sweep_interval: float = Field(
        default=30.0, gt=0, description="seconds between checks for a restarted broker"
    )
    idempotency_lease: float = Field(
        default=30.0,
        gt=0,
        description="seconds an Idempotency-Key's claim outlives its request's process: renewed"
        " while the request runs, so a retry after the API died is answered anew after this",
    )
    blob_sweep_interval: float = Field(
        default=3600.0,
        gt=0,
        description="seconds between sweeps of stale temp files and orphan blobs (each worker)",
    )
    blob_sweep_grace: float = Field(
        default=3600.0,
        gt=0,
        description="a temp file or unreferenced blob younger than this is never swept (uploads"
        " and tasks in flight); keep it above time_limit",
    )

    @field_validator("webhook_allow")
    @classmethod
    def _allow_parses(cls, value: str) -> str:
        Allow.parse(value)  # a typo is an error at start-up, not a refused webhook later
        return value

    @property
    def webhook_allowed(self) -> Allow:
        """``webhook_allow`` parsed."""
        return Allow.parse(self.webhook_allow)


class Settings(BaseSettings):
    """All scanrag settings, read from the environment (prefix ``SCANRAG_``)."""

    model_config = SettingsConfigDict(
        env_prefix="SCANRAG_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(default=Path(os.path.expanduser("~/.scanrag")))
    model_cache: Path = Field(
        default_factory=default_model_cache,
        description="models built on this machine (the int8 detector), shared by every home",
    )
    log_level: str = "INFO"
    log_json: bool = False
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file under home"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker")
    ocr: OcrSettings = OcrSettings()
    limits: LimitSettings = LimitSettings()
    chunk: ChunkSettings = ChunkSettings()
    embed: EmbedSettings = EmbedSettings()
    search: SearchSettings = SearchSettings()
    service: ServiceSettings = ServiceSettings()

    def resolved_database_url(self) -> str:
        """The database URL: the setting, or ``sqlite:///<home>/scanrag.db``."""
        return self.database_url or f"sqlite:///{self.home / 'scanrag.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return Settings()
