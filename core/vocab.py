"""Small vocabularies shared by the settings, the code they configure and the edges: the API's
schemas, the CLI's choices and the web app (``/app/kinds.json``) take their values from here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal, get_args

Device = Literal["auto", "cpu", "cuda"]  # where the networks run; auto: CUDA when there is one
Alphabet = Literal["western", "all"]  # the characters the recognizer may answer
EmbedPrecision = Literal["auto", "fp32", "bf16"]  # the embedder's arithmetic; auto: by the CPU
ChunkKind = Literal["text", "table", "figure"]  # what a searchable chunk holds
# how a text encoder turns token states into one vector; auto: the model folder says (or mean)
Pooling = Literal["auto", "mean", "cls", "last"]
EncoderKind = Literal["text", "image"]  # which of the index's encoders
ENCODER_KINDS: Final[tuple[EncoderKind, ...]] = get_args(EncoderKind)
RegionKind = Literal["page", "figure"]  # what an image vector shows
# what a search hit is: a chunk's kind or an image region's; found as a chunk or an image region
HitKind = Literal[ChunkKind, RegionKind]
HitSource = Literal["chunk", "image"]
# the searches a hybrid search fuses: full text, the text model's vectors, the query through the
# image model's text tower against image vectors, an image query against image vectors
LegName = Literal["lexical", "dense", "text_to_image", "image"]

# What a page's block is (pipelines.types.Block; the web app's legend). ``header`` and
# ``footer`` are running heads and page furniture (kept in the page text, left out of chunks and
# Markdown); a ``figure`` or ``table`` block has its region's box even when it holds no text.
BlockKind = Literal[
    "title",
    "text",
    "figure",
    "figure_caption",
    "table",
    "table_caption",
    "header",
    "footer",
    "equation",
]
BLOCK_KINDS: Final[tuple[BlockKind, ...]] = get_args(BlockKind)

# the job queues (a document records the one it went through; workers/celery/queues.py):
# ``interactive`` for uploads, ``batch`` for batch ingestions, ``webhooks`` for notifications
Queue = Literal["interactive", "batch", "webhooks"]
INTERACTIVE: Final = "interactive"
BATCH: Final = "batch"
WEBHOOKS: Final = "webhooks"
QUEUES: Final[tuple[Queue, ...]] = (INTERACTIVE, BATCH, WEBHOOKS)

BBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in page pixels, y down


def as_bbox(values: Iterable[Any], digits: int | None = None) -> BBox:
    """Four numbers (a list from JSON, a database array, a tuple) as a BBox, optionally
    rounded; raises ValueError for anything but four numbers."""
    numbers = [float(v) for v in values]
    if len(numbers) != 4:
        raise ValueError(f"a box is four numbers, not {len(numbers)}")
    x0, y0, x1, y1 = (round(v, digits) for v in numbers) if digits is not None else numbers
    return (x0, y0, x1, y1)
