"""Test pages typeset with a real font (DejaVu, from the fonts-dejavu-core package)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


def text_page(lines: list[str], size: int = 28, width: int = 1400, margin: int = 80) -> Image.Image:
    """A white page with ``lines`` typeset one under another."""
    f = font(size)
    height = margin * 2 + int(len(lines) * size * 1.6)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((margin, margin + int(i * size * 1.6)), line, fill="black", font=f)
    return img


def two_column_page(left: str, right: str, size: int = 24) -> Image.Image:
    """A page with a title across the top and two columns of wrapped prose below it."""
    f, title = font(size), font(int(size * 1.6))
    width, margin, gutter = 1600, 80, 80
    col_w = (width - 2 * margin - gutter) // 2
    chars = int(col_w / (size * 0.55))
    left_lines = textwrap.wrap(left, chars)
    right_lines = textwrap.wrap(right, chars)
    step = int(size * 1.5)
    height = margin * 3 + int(size * 1.6) + step * max(len(left_lines), len(right_lines))
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((margin, margin), "Annual Report of the River Board", fill="black", font=title)
    top = margin * 2 + int(size * 1.6)
    for i, line in enumerate(left_lines):
        draw.text((margin, top + i * step), line, fill="black", font=f)
    # the right column starts half a line lower, as columns rarely line up exactly
    for i, line in enumerate(right_lines):
        draw.text((margin + col_w + gutter, top + step // 2 + i * step), line, fill="black", font=f)
    return img


def scanned(img: Image.Image, angle: float = 0.8, seed: int = 0, quality: int = 60) -> Image.Image:
    """The page as a scanner would give it: slightly turned, grey, noisy, JPEG-compressed."""
    import io

    import numpy as np

    rng = np.random.default_rng(seed)
    grey = img.convert("L").rotate(angle, expand=True, fillcolor=255, resample=Image.BICUBIC)
    arr = np.asarray(grey, dtype=np.float32) * 0.92 + 12  # paper is never white, ink never black
    arr += rng.normal(0, 9, arr.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")
