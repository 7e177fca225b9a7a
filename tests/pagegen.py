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


def _paragraph(draw: ImageDraw.ImageDraw, text: str, x0: int, x1: int, y: int, size: int) -> int:
    """Typeset ``text`` as a justified paragraph between x0 and x1 from y; the y below it."""
    f, line, step = font(size), [], int(size * 1.5)
    words = text.split()
    for word in words:
        if line and draw.textlength(" ".join([*line, word]), font=f) > x1 - x0:
            gap = (x1 - x0 - sum(draw.textlength(w, font=f) for w in line)) / max(1, len(line) - 1)
            x = float(x0)
            for w in line:
                draw.text((x, y), w, fill="black", font=f)
                x += draw.textlength(w, font=f) + gap
            y, line = y + step, []
        line.append(word)
    draw.text((x0, y), " ".join(line), fill="black", font=f)  # the last line is not spread
    return y + step


def article_page(
    header: str, title: str, left: list[str], right: list[str], caption: str, footer: str
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """An A4 page at 150 dpi: a running header, a bold title, two columns of justified
    paragraphs, a bar chart with its caption at the foot of the left column, a page footer.
    Also the chart's box."""
    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    draw.text((100, 50), header, fill="black", font=font(18))
    bold = ImageFont.truetype(str(FONT.with_name("DejaVuSans-Bold.ttf")), 48)
    draw.text((100, 130), title, fill="black", font=bold)
    columns = ((100, 590), (650, 1140))
    y = 260
    for text in left:
        y = _paragraph(draw, text, *columns[0], y, 20) + 20
    chart = (110, y + 20, 580, y + 340)
    draw.rectangle(chart, outline="black", width=2)
    for k, h in enumerate((120, 220, 90, 260, 180)):
        x = chart[0] + 30 + k * 88
        draw.rectangle((x, chart[3] - h, x + 50, chart[3] - 2), fill=(90, 90, 90))
    _paragraph(draw, caption, *columns[0], chart[3] + 20, 18)
    y = 260
    for text in right:
        y = _paragraph(draw, text, *columns[1], y, 20) + 20
    draw.text((600, 1680), footer, fill="black", font=font(18))
    return img, chart


def questionnaire_page(
    title: str, columns: list[list[tuple[str, list[str]]]], size: int = 22
) -> Image.Image:
    """A letter page at 150 dpi: a title, then columns of short lines, each a run of questions
    with their options indented under them (a questionnaire), a blank line after each."""
    width, margin = 1275, 90
    img = Image.new("RGB", (width, 1650), "white")
    draw = ImageDraw.Draw(img)
    draw.text((margin, 70), title, fill="black", font=font(int(size * 1.5)))
    col_w = (width - 2 * margin) // len(columns)
    step, f = int(size * 1.5), font(size)
    for c, questions in enumerate(columns):
        x, y = margin + c * col_w, 170
        for question, options in questions:
            draw.text((x, y), question, fill="black", font=f)
            y += step
            for option in options:
                draw.rectangle((x + 30, y + 4, x + 30 + size - 6, y + size - 2), outline="black")
                draw.text((x + 30 + size + 6, y), option, fill="black", font=f)
                y += step
            y += step
    return img


def spread(left: Image.Image, right: Image.Image) -> Image.Image:
    """Two pages side by side on one sheet, as a book scanner or a 2-up print gives them."""
    sheet = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), "white")
    sheet.paste(left.convert("RGB"), (0, 0))
    sheet.paste(right.convert("RGB"), (left.width, 0))
    return sheet
