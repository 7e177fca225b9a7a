"""Encode requests: ``{"model": "text"|"image", "items": [{"text": ...} | {"image": {"data":
<base64>, "format": "jpeg"|"png"}}]}`` in, ``{"model", "name", "dim", "vectors"}`` out.

One parser and one answer for ``POST /v1/encode``, ``scanrag encode`` and image queries of the
search, so each refuses bad input with the same code and message: malformed JSON shapes, bad
base64, an image that does not decode or is not the format it says, too many items, an image
over the byte or pixel limit, a model that is not configured.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import BadInput, FileTooLarge, InvalidRequest
from core.vocab import ENCODER_KINDS, EncoderKind

IMAGE_FORMATS = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}


class InvalidBase64(BadInput):
    code = "invalid_base64"
    default_message = "image data is not valid base64"


class InvalidImage(BadInput):
    code = "invalid_image"
    default_message = "the image cannot be decoded"


class TooManyItems(BadInput):
    code = "too_many_items"
    http_status = 413
    default_message = "too many items in one request"


class UnknownModel(BadInput):
    code = "unknown_model"
    default_message = 'model must be "text" or "image"'


class ModelNotConfigured(BadInput):
    """A model the request needs is not configured (encode's and search's answer alike)."""

    code = "model_not_configured"
    default_message = "no image model is configured: set SCANRAG_EMBED__IMAGE_MODEL"


@dataclass(frozen=True)
class ImageLimits:
    """What the images of one request may be: each image's encoded bytes, and their decoded
    pixels, every image of the request together (read from the headers before any is
    decoded: a 10 KB PNG may hold 80 million pixels, a quarter of a gigabyte decoded)."""

    max_bytes: int
    max_pixels: int


class TextEncoder(Protocol):
    """What encoding texts needs (models.embedder.TextEmbedder is one)."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


class ImageEncoder(Protocol):
    """What encoding images needs (models.image_encoder.ImageEncoder is one)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def has_text_tower(self) -> bool: ...

    def embed_images(self, images: list[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class CheckedImage:
    """An image of a request, checked from its header (format, size) but not decoded yet."""

    raw: bytes
    fmt: str  # the format it says it is: jpeg, jpg or png
    width: int
    height: int
    where: str

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def decode(self) -> Image.Image:
        """The image as RGB, or InvalidImage when its data does not decode."""
        try:
            with Image.open(io.BytesIO(self.raw)) as img:
                return img.convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidImage(f"{self.where} cannot be decoded as {self.fmt} ({exc})") from exc


def decode_image(value: Any, limits: ImageLimits, where: str = "image") -> Image.Image:
    """``{"data": <base64>, "format": "jpeg"|"png"}`` as a decoded RGB image, or a BadInput
    saying what is wrong with it (the limits are checked before decoding)."""
    return check_image(*image_bytes(value, limits, where), limits, where).decode()


def image_bytes(value: Any, limits: ImageLimits, where: str = "image") -> tuple[bytes, str]:
    """The file bytes and format of ``{"data": <base64>, "format": "jpeg"|"png"}``, or a
    BadInput (the shape, the format, the byte limit, the base64)."""
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise InvalidRequest(f'{where} must be {{"data": <base64>, "format": "jpeg"|"png"}}')
    fmt = value.get("format", "")
    if not isinstance(fmt, str) or fmt.lower() not in IMAGE_FORMATS:
        raise InvalidRequest(f'{where}: format must be "jpeg" or "png", not {fmt!r}')
    data = value["data"]
    # base64 of max_bytes is 4/3 as long: refuse a huge string before decoding it
    if len(data) > (limits.max_bytes + 2) // 3 * 4 + 4:
        raise FileTooLarge(f"{where} is over the limit of {limits.max_bytes:,} bytes")
    try:
        return base64.b64decode(data, validate=True), fmt
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64(f"{where}: data is not valid base64 ({exc})") from exc


def open_image(raw: bytes, fmt: str, limits: ImageLimits, where: str = "image") -> Image.Image:
    """An image file's bytes, said to be ``fmt`` (jpeg, jpg, png), as a decoded RGB image, or
    a BadInput saying what is wrong with it (the limits are checked before decoding)."""
    return check_image(raw, fmt, limits, where).decode()


def check_image(raw: bytes, fmt: str, limits: ImageLimits, where: str = "image") -> CheckedImage:
    """An image file's bytes checked from its header, without decoding its pixels: the format
    it says, the byte limit and the pixel limit. Raises a BadInput saying what is wrong."""
    if fmt.lower() not in IMAGE_FORMATS:
        raise InvalidImage(f'{where}: format must be "jpeg" or "png", not {fmt!r}')
    if len(raw) > limits.max_bytes:
        raise FileTooLarge(f"{where} is over the limit of {limits.max_bytes:,} bytes")
    try:
        with Image.open(io.BytesIO(raw)) as img:  # lazy: reads the header, not the pixels
            real, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"{where} cannot be decoded as {fmt} ({exc})") from exc
    if real != IMAGE_FORMATS[fmt.lower()]:
        raise InvalidImage(f"{where} is {real or 'not an image'}, not {fmt}")
    if width * height > limits.max_pixels:
        raise FileTooLarge(
            f"{where} is {width}x{height} pixels, over the limit of {limits.max_pixels:,} pixels"
        )
    return CheckedImage(raw, fmt, width, height, where)


@dataclass(frozen=True)
class EncodeRequest:
    """A parsed encode request: the model and its items (texts or decoded images)."""

    model: EncoderKind
    items: list[str | Image.Image]


def parse_request(
    body: Any, limits: ImageLimits, max_items: int, *, image_model: bool = True
) -> EncodeRequest:
    """The request JSON (already parsed) checked and decoded. Every image is checked from its
    header, and the pixels of all of them together against ``limits.max_pixels``, before any
    is decoded; none is decoded for the text model, or when no image model is configured
    (``image_model`` False)."""
    if not isinstance(body, dict):
        raise InvalidRequest('the request must be a JSON object {"model", "items"}')
    model = body.get("model")
    if model not in ENCODER_KINDS:
        raise UnknownModel(f'model must be "text" or "image", not {model!r}')
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidRequest("items must be a non-empty list")
    if len(items) > max_items:
        raise TooManyItems(f"{len(items)} items in one request, over the limit of {max_items}")
    if model == "image" and not image_model:
        raise ModelNotConfigured()
    checked: list[str | CheckedImage] = []
    for number, item in enumerate(items):
        where = f"items[{number}]"
        if not isinstance(item, dict) or len(item) != 1 or not {"text", "image"} & set(item):
            raise InvalidRequest(f'{where} must be {{"text": ...}} or {{"image": ...}}')
        if "text" in item:
            if not isinstance(item["text"], str):
                raise InvalidRequest(f"{where}.text must be a string")
            checked.append(item["text"])
        elif model == "text":
            raise InvalidRequest('the text model reads texts: send {"text": ...} items')
        else:
            where += ".image"
            checked.append(check_image(*image_bytes(item["image"], limits, where), limits, where))
    total = sum(item.pixels for item in checked if isinstance(item, CheckedImage))
    if total > limits.max_pixels:
        raise FileTooLarge(
            f"the images hold {total:,} pixels together, over the limit of"
            f" {limits.max_pixels:,} for one request: send them in several requests"
        )
    parsed = [item if isinstance(item, str) else item.decode() for item in checked]
    return EncodeRequest(model, parsed)


def encode(
    request: EncodeRequest, text: TextEncoder | None, image: ImageEncoder | None
) -> dict[str, Any]:
    """The response: ``{"model", "name", "dim", "vectors"}``, one vector per item in order.

    The text model reads texts; the image model reads images, and texts through its text tower
    (the vectors a text query is compared with image regions by).
    """
    if request.model == "text":
        if any(not isinstance(item, str) for item in request.items):
            raise InvalidRequest('the text model reads texts: send {"text": ...} items')
        if text is None:
            raise ModelNotConfigured("no text model is loaded")
        vectors = text.embed([str(item) for item in request.items])
        return _response("text", text.name, vectors)
    if image is None:
        raise ModelNotConfigured()
    texts = [i for i, item in enumerate(request.items) if isinstance(item, str)]
    images = [i for i, item in enumerate(request.items) if not isinstance(item, str)]
    if texts and not image.has_text_tower:
        raise InvalidRequest(
            f"the image model {image.name!r} has no text tower: send image items only"
        )
    vectors = np.empty((len(request.items), image.dim), dtype=np.float32)
    if texts:
        vectors[texts] = image.embed_texts([str(request.items[i]) for i in texts])
    if images:
        pictures = [item for item in request.items if isinstance(item, Image.Image)]
        vectors[images] = image.embed_images(pictures)
    return _response("image", image.name, vectors)


def _response(model: EncoderKind, name: str, vectors: np.ndarray) -> dict[str, Any]:
    return {
        "model": model,
        "name": name,
        "dim": int(vectors.shape[1]),
        "vectors": vectors.astype(np.float32).tolist(),
    }
