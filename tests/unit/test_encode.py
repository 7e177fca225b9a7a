"""Encode requests parsed and refused without a model: shapes, base64, formats, limits."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import BadInput
from pipelines.encode import ImageLimits, decode_image, encode, parse_request

LIMITS = ImageLimits(max_bytes=50_000, max_pixels=100 * 100)


def image_item(size: tuple[int, int] = (20, 10), fmt: str = "PNG") -> dict[str, str]:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, fmt)
    return {"data": base64.b64encode(buffer.getvalue()).decode(), "format": fmt.lower()}


def code(body: object, max_items: int = 4) -> str:
    with pytest.raises(BadInput) as info:
        parse_request(body, LIMITS, max_items)
    return info.value.code


def test_a_good_request_decodes_its_texts_and_images_in_order() -> None:
    body = {"model": "image", "items": [{"text": "a"}, {"image": image_item(fmt="JPEG")}]}
    request = parse_request(body, LIMITS, 4)
    assert request.model == "image" and request.items[0] == "a"
    picture = request.items[1]
    assert isinstance(picture, Image.Image) and picture.size == (20, 10)
    assert picture.mode == "RGB"


def test_every_bad_shape_has_its_code() -> None:
    assert code([]) == "invalid_request"
    assert code({"model": "audio", "items": [{"text": "a"}]}) == "unknown_model"
    assert code({"model": "text", "items": []}) == "invalid_request"
    assert code({"model": "text", "items": [{"text": 3}]}) == "invalid_request"
    assert code({"model": "text", "items": [{"text": "a", "image": {}}]}) == "invalid_request"
    assert code({"model": "text", "items": [{"text": "a"}] * 5}) == "too_many_items"
    bad = {"data": "not base64!", "format": "png"}
    assert code({"model": "image", "items": [{"image": bad}]}) == "invalid_base64"
    liar = {**image_item(), "format": "jpeg"}  # PNG bytes said to be JPEG
    assert code({"model": "image", "items": [{"image": liar}]}) == "invalid_image"
    junk = {"data": base64.b64encode(b"plain text").decode(), "format": "png"}
    assert code({"model": "image", "items": [{"image": junk}]}) == "invalid_image"
    assert code({"model": "image", "items": [{"image": image_item((200, 200))}]}) == (
        "file_too_large"  # over the pixel limit, by the header: never decoded
    )
    huge = {"data": "A" * 80_000, "format": "png"}
    assert code({"model": "image", "items": [{"image": huge}]}) == "file_too_large"


class Fake:
    """An encoder that answers a row of its input's length, to check the routing."""

    name, dim, has_text_tower = "fake", 2, False

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return np.array([[im.width, im.height] for im in images], dtype=np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("no text tower")


def test_items_reach_the_right_tower_and_come_back_in_order() -> None:
    fake = Fake()
    text = parse_request({"model": "text", "items": [{"text": "ab"}, {"text": "c"}]}, LIMITS, 4)
    assert encode(text, fake, None) == {
        "model": "text",
        "name": "fake",
        "dim": 2,
        "vectors": [[2.0, 0.0], [1.0, 0.0]],
    }
    images = parse_request({"model": "image", "items": [{"image": image_item()}]}, LIMITS, 4)
    assert encode(images, None, fake)["vectors"] == [[20.0, 10.0]]
    with pytest.raises(BadInput) as info:
        encode(images, fake, None)
    assert info.value.code == "model_not_configured"
    mixed = parse_request({"model": "image", "items": [{"text": "a"}]}, LIMITS, 4)
    with pytest.raises(BadInput, match="no text tower"):
        encode(mixed, None, fake)


def declared_png(width: int, height: int) -> dict[str, str]:
    """A PNG whose header declares ``width`` x ``height`` 1-bit pixels but whose data is a few
    bytes: decoding it fails (invalid_image), so a refusal by size proves the header was read
    first and nothing was decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 9))
    return {"data": base64.b64encode(raw + chunk(b"IEND", b"")).decode(), "format": "png"}


def test_a_bomb_is_refused_from_its_header_before_decoding() -> None:
    limits = ImageLimits(max_bytes=50_000, max_pixels=16_777_216)
    bomb = {"model": "image", "items": [{"image": declared_png(8944, 8944)}]}
    with pytest.raises(BadInput) as info:
        parse_request(bomb, limits, 4)
    assert info.value.code == "file_too_large" and "8944x8944" in info.value.message
    with pytest.raises(BadInput) as info:
        decode_image(declared_png(8944, 8944), limits)  # the search's image
    assert info.value.code == "file_too_large"
    # within the limit, the same lie is found when it is decoded
    assert code({"model": "image", "items": [{"image": declared_png(50, 50)}]}) == "invalid_image"


def test_the_pixels_of_all_images_of_a_request_are_bounded_together() -> None:
    each = {"image": declared_png(60, 60)}  # 3,600 pixels, under 10,000 alone
    assert code({"model": "image", "items": [each, each, each]}) == "file_too_large"
    two = parse_request(
        {"model": "image", "items": [{"image": image_item((60, 60))}] * 2}, LIMITS, 4
    )
    assert [im.size for im in two.items if isinstance(im, Image.Image)] == [(60, 60)] * 2


def test_no_image_is_decoded_for_a_model_that_would_not_read_it() -> None:
    junk = {"image": {"data": "not base64!", "format": "png"}}
    # the text model reads texts: refused before the image is even base64-decoded
    assert code({"model": "text", "items": [{"text": "a"}, junk]}) == "invalid_request"
    with pytest.raises(BadInput) as info:
        parse_request({"model": "image", "items": [junk]}, LIMITS, 4, image_model=False)
    assert info.value.code == "model_not_configured"
