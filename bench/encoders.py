"""Encoder benchmark: what an image model adds to ingest, and what a search by image costs.

    python bench/encoders.py [--pages 6] [--models clip-b32 siglip-b16] [--threads 0]

No image model ships with scanrag and nothing is downloaded, so the models are the real
architectures at their published sizes (transformers' default CLIP ViT-B/32 and SigLIP
base-patch16-224 configs) with random weights, saved with ``save_pretrained`` into a temp folder
and loaded by path through ``models.image_encoder`` like a user's folder: the cost of a
forward pass does not depend on the weights' values. The pages are the layout dev set
(``shared/data/layout/dev``) at 200 dpi. In the same run:

- OCR: pages/s of the OCR engine on those pages (the default CPU settings), and the figure
  regions the layout model finds on them;
- per model: images/s at batch 1 and at the ingest batch (``--batch``), milliseconds per text
  query through the text tower, the vectors one page adds (the page and its figures) and what
  they add to a page's ingest time, as a share of its OCR time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, table

ARCHITECTURES = ("clip-b32", "siglip-b16")


def build(folder: Path, name: str) -> Path:
    """Write ``name`` at its published size, random weights, with a processor and a tokenizer."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
    )

    from tests.tiny_encoders import tokenizer

    tok = tokenizer(max_length=64)
    torch.manual_seed(0)
    text = {"vocab_size": tok.vocab_size, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
    model: Any
    if name == "clip-b32":
        model = CLIPModel(CLIPConfig(text_config=text))
        CLIPImageProcessor().save_pretrained(folder)
    else:
        model = SiglipModel(SiglipConfig(text_config={**text, "max_position_embeddings": 64}))
        SiglipImageProcessor().save_pretrained(folder)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def pages(count: int) -> list[Any]:
    """The layout dev pages at 200 dpi, RGB, cycled to ``count``."""
    import pypdfium2

    rendered = []
    for pdf in sorted((SHARED / "data" / "layout" / "dev").glob("*.pdf")):
        document = pypdfium2.PdfDocument(pdf)
        for page in document:
            rendered.append(page.render(scale=200 / 72).to_pil().convert("RGB"))
        document.close()
    return [rendered[k % len(rendered)] for k in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--models", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--batch", type=int, default=16, help="images per run at ingest")
    parser.add_argument("--threads", type=int, default=0, help="0 = every core")
    args = parser.parse_args()

    import numpy as np

    from models.encoder_identity import EmbedParams
    from models.image_encoder import ImageEncoder
    from pipelines.engine import EngineParams, OcrEngine

    images = pages(args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, image in enumerate(images):
            paths.append(Path(tmp) / f"p{k}.png")
            image.save(paths[-1])
        engine = OcrEngine(EngineParams(device="cpu"))
        engine.models()
        engine.read_path(paths[0])  # warm
        start = time.perf_counter()
        results = [page for path in paths for page in engine.read_path(path)]
        ocr_s = (time.perf_counter() - start) / len(paths)
        crops = []
        for image, result in zip(images, results, strict=True):
            crops.append(image)
            for block in result.blocks:
                if block.kind == "figure":
                    crops.append(image.crop(tuple(int(v) for v in block.bbox)))
        per_page = len(crops) / len(images)
        rows: list[dict[str, Any]] = [
            {"what": "OCR (default CPU engine)", "s/page": round(ocr_s, 3)},
        ]
        for name in args.models:
            folder = build(Path(tmp) / name, name)
            encoder = ImageEncoder.load(
                folder, EmbedParams(device="cpu", threads=args.threads, batch=args.batch)
            )
            params = sum(p.numel() for p in encoder.model.parameters()) / 1e6
            encoder.embed_images(crops[:2])  # warm
            start = time.perf_counter()
            for crop in crops:
                encoder.embed_images([crop])
            one = len(crops) / (time.perf_counter() - start)
            start = time.perf_counter()
            vectors = encoder.embed_images(crops)
            batched = len(crops) / (time.perf_counter() - start)
            assert vectors.shape == (len(crops), encoder.dim) and np.isfinite(vectors).all()
            encoder.embed_texts(["warm"])
            start = time.perf_counter()
            for _ in range(20):
                encoder.embed_texts(["where is the lighthouse lamp replaced"])
            query_ms = (time.perf_counter() - start) / 20 * 1000
            added = per_page / batched
            rows.append(
                {
                    "what": f"{name} ({params:.0f}M params, {encoder.precision})",
                    "images/s b1": round(one, 1),
                    f"images/s b{args.batch}": round(batched, 1),
                    "ms/text query": round(query_ms, 1),
                    "vectors/page": round(per_page, 2),
                    "s/page": round(added, 3),
                    "+% of OCR": round(100 * added / ocr_s, 1),
                }
            )
        columns = ["what", "images/s b1", f"images/s b{args.batch}", "ms/text query"]
        columns += ["vectors/page", "s/page", "+% of OCR"]
        print(table(rows, columns))


if __name__ == "__main__":
    main()
