"""SQuAD articles as scanned-looking PDFs (image only), remembering which pages hold each paragraph.

    python bench/squad_corpus.py --split dev --out /tmp/squad-dev [--dpi 150] [--limit N]

``key.json`` (bench/layout.py's format, every article of layout "squad") lets bench/layout.py
read the same PDFs: ``python bench/layout.py --data /tmp/squad-dev --layouts squad --skip-rag``
compares scanrag's and Tesseract's text and speed on these dense single-column pages.

Each article of ``shared/data/rag/squad`` is typeset like a printed report (heading, justified
serif prose, page numbers), rasterised, degraded like a scan and written as JPEG pages into a PDF
with no text layer. ``manifest.json`` records the pages every paragraph touches and the text
typeset on each page; ``questions.jsonl`` gives each question its gold page(s). The data is
CC BY-SA 4.0 (Rajpurkar et al. 2016), and so are the PDFs made from it.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SQUAD = Path("data/rag/squad")
A4_INCHES = (8.27, 11.69)
MARGIN_IN = 0.9  # left, right and top; the footer sits in a 1 inch bottom margin
BODY_PT, TITLE_PT, FOOTER_PT = 11, 20, 9
LEADING = 1.35  # line height / font size: enough white between lines for a text detector
# a fixed date, so the same article always gives the same PDF bytes
PDF_DATE = time.gmtime(1_704_067_200)  # 2024-01-01


@dataclass
class _Line:
    """One typeset line: where it goes and the words on it (``gap`` is None for ragged lines)."""

    page: int
    y: int
    words: list[str]
    font: ImageFont.FreeTypeFont
    gap: float | None = None
    para: int | None = None  # None for the heading

    @property
    def text(self) -> str:
        return " ".join(self.words)


def load_squad(shared: Path) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The SQuAD dev articles (title -> paragraph texts, official order) and all questions."""
    data = json.loads((shared / SQUAD / "dev-v1.1.rebuilt.json").read_text(encoding="utf-8"))
    articles = {a["title"]: [p["context"] for p in a["paragraphs"]] for a in data["data"]}
    with (shared / SQUAD / "questions.jsonl").open(encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    return articles, questions


def split_titles(shared: Path, split: str) -> list[str]:
    """The article titles of ``split`` ("dev" or "holdout") from ``split.json``."""
    return list(json.loads((shared / SQUAD / "split.json").read_text(encoding="utf-8"))[split])


def _font(name: str, pt: float, dpi: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), round(pt * dpi / 72))


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[list[str]]:
    """Greedy word wrap to ``width`` pixels; a word wider than a line is cut into pieces."""
    words: list[str] = []
    for word in text.split():
        while font.getlength(word) > width:
            cut = max(1, int(len(word) * width / font.getlength(word)) - 1)
            words.append(word[:cut])
            word = word[cut:]
        words.append(word)
    lines: list[list[str]] = []
    for word in words:
        if lines and font.getlength(" ".join([*lines[-1], word])) <= width:
            lines[-1].append(word)
        else:
            lines.append([word])
    return lines


def _justify_gap(words: list[str], font: ImageFont.FreeTypeFont, width: int) -> float | None:
    """The space between words that fills the line, or None where that would leave holes."""
    if len(words) < 2:
        return None
    gap = (width - sum(font.getlength(w) for w in words)) / (len(words) - 1)
    return gap if gap <= 3 * font.getlength(" ") else None


def _layout(title: str, paragraphs: list[str], dpi: int) -> tuple[list[_Line], int]:
    """Every line of the article placed on a page; returns the lines and the page count."""
    page_h = round(A4_INCHES[1] * dpi)
    left = top = round(MARGIN_IN * dpi)
    width = round(A4_INCHES[0] * dpi) - 2 * left
    bottom = page_h - round(1.0 * dpi)
    body, head = (
        _font("DejaVuSerif.ttf", BODY_PT, dpi),
        _font("DejaVuSerif-Bold.ttf", TITLE_PT, dpi),
    )
    step = round(body.size * LEADING)
    lines: list[_Line] = []
    y = top
    for words in _wrap(title.replace("_", " "), head, width):
        lines.append(_Line(1, y, words, head))
        y += round(head.size * LEADING)
    y += step  # white space under the heading, as in a report
    page = 1
    for i, para in enumerate(paragraphs):
        wrapped = _wrap(para, body, width)
        for n, words in enumerate(wrapped):
            if y + step > bottom:  # page break, possibly inside the paragraph
                page, y = page + 1, top
            last = n == len(wrapped) - 1  # a paragraph's last line stays ragged
            gap = None if last else _justify_gap(words, body, width)
            lines.append(_Line(page, y, words, body, gap, i))
            y += step
        y += round(step * 0.6)
    return lines, page


def _draw_page(lines: list[_Line], number: int, pages: int, dpi: int) -> Image.Image:
    """The clean page: its lines in black on white, and "Page n of N" centred in the footer."""
    size = (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi))
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    left = round(MARGIN_IN * dpi)
    for line in lines:
        if line.gap is None:
            draw.text((left, line.y), line.text, fill=0, font=line.font)
            continue
        x = float(left)
        for word in line.words:
            draw.text((round(x), line.y), word, fill=0, font=line.font)
            x += line.font.getlength(word) + line.gap
    footer = _font("DejaVuSerif.ttf", FOOTER_PT, dpi)
    draw.text(
        (size[0] // 2, size[1] - round(0.55 * dpi)),
        _footer(number, pages),
        fill=0,
        font=footer,
        anchor="mm",
    )
    return img


def _footer(number: int, pages: int) -> str:
    return f"Page {number} of {pages}"


def scan_effect(page: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The page as a flatbed scanner gives it: turned, grey uneven paper, soft, noisy."""
    angle = rng.uniform(-1.5, 1.5)
    # margins are wide enough that a 1.5 degree turn without expanding clips no text
    turned = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    paper, ink = rng.uniform(205, 235), rng.uniform(25, 60)
    arr = ink + (paper - ink) * np.asarray(turned, dtype=np.float32) / 255
    # uneven lighting: a coarse random field blown up to the page, a few grey levels deep
    coarse = Image.fromarray(rng.normal(0, 1, (6, 8)).astype(np.float32))
    arr += 5 * np.asarray(coarse.resize(page.size, Image.Resampling.BICUBIC), dtype=np.float32)
    soft = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    soft = soft.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 0.9)))
    arr = np.asarray(soft, dtype=np.float32) + rng.normal(0, rng.uniform(4, 7), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def render_article(
    title: str, paragraphs: list[str], out_pdf: Path, *, dpi: int = 150, seed: int
) -> dict[str, Any]:
    """Typeset, scan and write one article as an image-only PDF; returns its manifest.

    ``paragraph_pages[i]`` lists the 1-based pages paragraph ``i`` touches; ``page_text[n]`` is
    the text typeset on page ``n`` (heading, then paragraph pieces one line per row with a blank
    line between paragraphs, then the footer).
    """
    # zero-width characters draw nothing, so they would only make the ground truth disagree
    clean = [" ".join(p.replace("\u200b", " ").replace("\ufeff", " ").split()) for p in paragraphs]
    lines, pages = _layout(title, clean, dpi)
    rng = np.random.default_rng(seed)
    images = []
    page_text: dict[int, str] = {}
    for n in range(1, pages + 1):
        on_page = [line for line in lines if line.page == n]
        images.append(scan_effect(_draw_page(on_page, n, pages, dpi), rng))
        blocks: list[list[str]] = []
        for prev, line in zip([None, *on_page], on_page, strict=False):
            if prev is None or prev.para != line.para:
                blocks.append([])
            blocks[-1].append(line.text)
        page_text[n] = "\n\n".join(["\n".join(b) for b in blocks] + [_footer(n, pages)])
    paragraph_pages = [sorted({ln.page for ln in lines if ln.para == i}) for i in range(len(clean))]
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_pdf.with_suffix(".pdf.part")  # a killed build leaves no half PDF under the real name
    buf = io.BytesIO()
    images[0].save(
        buf,
        "PDF",
        save_all=True,
        append_images=images[1:],
        resolution=float(dpi),
        quality=int(rng.integers(60, 76)),  # the PDF's JPEG streams are the scan's compression
        title=title,
        creationDate=PDF_DATE,
        modDate=PDF_DATE,
    )
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out_pdf)
    return {
        "title": title,
        "pdf": str(out_pdf),
        "pages": pages,
        "dpi": dpi,
        "paragraph_pages": paragraph_pages,
        "page_text": page_text,
    }


def safe_name(title: str) -> str:
    """A file name for ``title``: letters, digits, ``._-`` kept, anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._") or "article"


def load_manifest(out_dir: Path) -> list[dict[str, Any]]:
    """The per-article manifests in ``out_dir/manifest.json`` (page_text keys back to ints)."""
    path = out_dir / "manifest.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    for e in entries:
        e["page_text"] = {int(k): v for k, v in e["page_text"].items()}
    return entries


def build_corpus(
    shared: Path, split: str, out_dir: Path, *, dpi: int = 150, limit: int | None = None
) -> Path:
    """Render every article of ``split`` into ``out_dir``; returns the path of manifest.json.

    Articles whose PDF and manifest entry (at this dpi) already exist are not rendered again, and
    the manifest is rewritten after each article, so an interrupted build resumes.
    """
    articles, questions = load_squad(shared)
    titles = split_titles(shared, split)[:limit]
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {e["title"]: e for e in load_manifest(out_dir) if e["dpi"] == dpi}
    manifests: list[dict[str, Any]] = []
    for title in titles:
        pdf = out_dir / f"{safe_name(title)}.pdf"
        entry = done.get(title)
        if entry is None or not pdf.exists():
            # crc32, not hash(): str hashes change between Python processes
            seed = zlib.crc32(title.encode("utf-8"))
            entry = render_article(title, articles[title], pdf, dpi=dpi, seed=seed)
        manifests.append(entry)
        # keep entries of other titles too, so --limit runs never throw finished work away
        kept = [e for t, e in done.items() if t not in {m["title"] for m in manifests}]
        _write_json(out_dir / "manifest.json", manifests + kept)
    by_title = {m["title"]: m for m in manifests}
    rows = [
        {
            "id": q["id"],
            "question": q["question"],
            "answers": q["answers"],
            "title": q["title"],
            "para_index": q["para_index"],
            "gold_pages": by_title[q["title"]]["paragraph_pages"][q["para_index"]],
            "pdf": Path(by_title[q["title"]]["pdf"]).name,
        }
        for q in questions
        if q["title"] in by_title
    ]
    with (out_dir / "questions.jsonl").open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return out_dir / "manifest.json"


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--split", choices=["dev", "holdout"], default="dev")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--limit", type=int, default=None, help="only the first N articles")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared/ folder")
    args = ap.parse_args()
    manifest = build_corpus(args.shared, args.split, args.out, dpi=args.dpi, limit=args.limit)
    titles = split_titles(args.shared, args.split)[: args.limit]
    entries = [e for e in load_manifest(args.out) if e["title"] in titles]
    spans = [p for e in entries for p in e["paragraph_pages"]]
    with (args.out / "questions.jsonl").open(encoding="utf-8") as f:
        qs = [json.loads(line) for line in f]
    key = {
        "pages": {Path(e["pdf"]).name: e["page_text"] for e in entries},
        "layouts": {Path(e["pdf"]).name: "squad" for e in entries},
        "questions": [],
    }
    _write_json(args.out / "key.json", key)
    print(f"manifest: {manifest}")
    for e in entries:
        print(f"  {e['title']}: {e['pages']} pages, {len(e['paragraph_pages'])} paragraphs")
    print(
        f"articles {len(entries)}, pages {sum(e['pages'] for e in entries)}, "
        f"paragraphs {len(spans)} ({sum(len(p) > 1 for p in spans)} split across pages), "
        f"questions {len(qs)} ({sum(len(q['gold_pages']) > 1 for q in qs)} with 2+ gold pages)"
    )


if __name__ == "__main__":
    main()
