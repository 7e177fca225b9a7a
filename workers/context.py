"""Settings -> the things processing needs: pipeline parameters, the OCR engine, the migrated
database, the blob store and the embedder. The CLI, the workers and the API all build them here,
so a setting means the same everywhere (the pipeline itself never sees the settings object)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypedDict

from core.config import Settings
from models.detector import DetectorParams
from models.encoder_identity import EmbedParams
from models.layout_detector import RegionParams
from models.ort_sessions import set_cuda_conv_search
from models.recognizer import CascadeParams
from models.weights import (
    LAYOUT_CDLA,
    PPOCR_V6_DET,
    PPOCR_V6_REC,
    PPOCR_V6_REC_TINY,
    PPOCR_V6_TINY_DICT,
    SLANET_1M,
    check_folder,
    folder_sha256,
    verified_path,
)
from pipelines.chunk import ChunkParams
from pipelines.cores import Cores
from pipelines.encode import ImageLimits
from pipelines.engine import EngineParams, OcrEngine
from pipelines.load import LoadParams
from pipelines.ocr import OcrParams
from pipelines.read import ReadParams
from storage.blobs import BlobStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from models.embedder import TextEmbedder
    from models.image_encoder import ImageEncoder
    from models.query_encoder import OnnxQueryEncoder


def load_params(settings: Settings, dpi: int | None = None) -> LoadParams:
    """How documents are opened and rasterised."""
    return LoadParams(
        dpi=dpi or settings.ocr.dpi,
        renderer=settings.ocr.renderer,
        max_bytes=settings.limits.max_bytes,
        max_pages=settings.limits.max_pages,
        max_page_pixels=settings.limits.max_page_pixels,
    )


def chunk_params(settings: Settings) -> ChunkParams:
    """How pages are cut into chunks: the budget, and a section tail kept in proportion to it."""
    max_tokens = settings.chunk.max_tokens
    # ChunkParams' defaults are 160 and 24: keep that ratio when the budget is configured
    return ChunkParams(max_tokens=max_tokens, min_tokens=max_tokens * 3 // 20)


class SearchOptions(TypedDict):
    """Keyword arguments of ``storage.search.hybrid_search`` that come from the settings."""

    rrf_k: float
    lexical_weight: float
    candidates: int
    image_weight: float
    min_cosine: float | None
    min_cosine_worded: float


def search_options(settings: Settings) -> SearchOptions:
    """The fusion options of ``storage.search.hybrid_search`` from the settings."""
    search = settings.search
    return SearchOptions(
        rrf_k=search.rrf_k,
        lexical_weight=search.lexical_weight,
        candidates=search.candidates,
        image_weight=search.image_weight,
        min_cosine=search.min_cosine,
        min_cosine_worded=search.min_cosine_worded,
    )


def build_ocr_engine(
    settings: Settings, device: str | None = None, cores: Cores | None = None
) -> OcrEngine:
    """An OCR engine for these settings (models load on first use), reading on ``cores``
    (default: its own)."""
    ocr = settings.ocr
    set_cuda_conv_search(ocr.cuda_conv_search)
    return OcrEngine(
        EngineParams(
            device=device or ocr.device,
            threads=ocr.threads,
            workers=ocr.workers,
            rec_batch=ocr.rec_batch,
            rec_columns=ocr.rec_columns,
            alphabet=ocr.alphabet,
            regions=RegionParams() if ocr.layout_model else None,
            tables=ocr.table_model,
            cascade=CascadeParams() if ocr.fast_recognizer else None,
            fixed_shapes=None if ocr.cuda_fixed_shapes else False,
            detector=DetectorParams(
                pixels=ocr.det_pixels,
                batch=ocr.det_batch,
                precision=ocr.det_precision,
                cache_dir=settings.model_cache,
            ),
            ocr=OcrParams(
                page_batch=ocr.page_batch,
                orientation=ocr.orientation,
                read=ReadParams(min_confidence=ocr.min_confidence),
            ),
        ),
        cores,
    )


def check_models(settings: Settings) -> None:
    """Check that every model file the workers will run is installed and intact (raises
    core.errors.ModelError naming the file and how to fix it): a service refuses to start, or
    reports not ready, rather than fail each document or read without its layout model."""
    weights = [PPOCR_V6_DET, PPOCR_V6_REC]
    if settings.ocr.layout_model:
        weights.append(LAYOUT_CDLA)
        if settings.ocr.table_model:  # it runs on the layout model's table regions only
            weights.append(SLANET_1M)
    # the tiny recognizer runs only on a CPU (pipelines.engine): a deployment set to CUDA
    # need not install it
    if settings.ocr.fast_recognizer and settings.ocr.device != "cuda":
        weights += [PPOCR_V6_REC_TINY, PPOCR_V6_TINY_DICT]
    for weight in weights:
        verified_path(weight)
    # a configured encoder folder that is not one is found at start, not at the first index
    embed = settings.embed
    for folder, what in ((embed.text_model, "text model"), (embed.image_model, "image model")):
        if folder is not None:
            check_folder(folder, what)
            folder_sha256(folder.expanduser())


def open_database(settings: Settings) -> Engine:
    """An engine on the configured database (default: SQLite under home), migrated to head."""
    # imported here: sqlalchemy costs 0.3 s, and `scanrag ocr` opens no database
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import make_sql_engine, migrate
    from storage.errors import DatabaseUnavailable, database_reason

    url = settings.resolved_database_url()
    try:
        engine = make_sql_engine(url)
        migrate(engine)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot open the database: {database_reason(exc)}") from exc
    return engine


def blob_store(settings: Settings) -> BlobStore:
    """Originals and page images, under ``<home>/blobs`` whatever the database is."""
    return BlobStore(settings.home / "blobs")


def embed_params(settings: Settings) -> EmbedParams:
    """How the index's encoders run (the text model's batch; the image model's is
    ``image_batch``)."""
    embed = settings.embed
    return EmbedParams(
        device=embed.device,
        threads=embed.threads,
        batch=embed.batch,
        precision=embed.precision,
        pooling=embed.text_pooling,
        max_length=embed.text_max_length,
        normalize=embed.normalize,
    )


def load_embedder(settings: Settings) -> TextEmbedder:
    """The text embedder of the index, loaded once per process."""
    from models.embedder import get_embedder  # imports torch: only commands that embed pay it

    return get_embedder(settings.embed.text_model, embed_params(settings))


def load_query_embedder(settings: Settings) -> TextEmbedder | OnnxQueryEncoder:
    """A text embedder for a process that embeds a query or two (``scanrag search``): the
    built-in MiniLM on onnxruntime (0.3 s to load, no torch; vectors within 1e-6 cosine of
    torch's), else the configured model as ``load_embedder`` loads it. An ONNX file that cannot
    be exported (on first use) falls back to torch, with a warning."""
    from core.errors import ModelError

    embed = settings.embed
    if embed.text_model is not None or embed.device == "cuda" or not embed.normalize:
        return load_embedder(settings)
    from models.query_encoder import get_query_encoder

    try:
        return get_query_encoder(settings.model_cache, threads=embed.threads)
    except ModelError as exc:
        from core.logging import get_logger

        get_logger("workers").warning("query encoder on torch", extra={"reason": exc.message})
        return load_embedder(settings)


def image_limits(settings: Settings) -> ImageLimits:
    """What the images of an encode or search request may be: the embed settings' bytes
    (each) and pixels (together), never more pixels than a page may have."""
    return ImageLimits(
        max_bytes=settings.embed.max_image_bytes,
        max_pixels=min(settings.embed.max_image_pixels, settings.limits.max_page_pixels),
    )


def load_image_encoder(settings: Settings) -> ImageEncoder | None:
    """The image encoder of the index (None when no image model is configured), loaded once
    per process."""
    embed = settings.embed
    if embed.image_model is None:
        return None
    from models.image_encoder import get_image_encoder  # imports torch

    params = replace(embed_params(settings), batch=embed.image_batch)
    return get_image_encoder(embed.image_model, params)
