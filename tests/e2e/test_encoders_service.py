"""Bring-your-own encoders through the service: Celery workers index pages with a local text
model and a local CLIP (tiny, random weights, built by the test), the API searches by image and
encodes with the same models."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import Service
from tests.integration.test_layout_pages import page_image
from tests.pagegen import text_page
from tests.tiny_encoders import build

pytestmark = pytest.mark.slow


def test_workers_embed_pages_and_figures_the_api_searches_by_image(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    text_model = build(tmp_path / "bert", "bert")
    image_model = build(tmp_path / "clip", "clip")
    service = make_service(
        SCANRAG_EMBED__TEXT_MODEL=str(text_model),
        SCANRAG_EMBED__IMAGE_MODEL=str(image_model),
        SCANRAG_EMBED__PRECISION="fp32",
    )
    key, _ = service.new_key("visual")
    client = service.client(key)
    pages = {"article": page_image()[0], "letter": text_page(["Canal locks open at dawn."])}
    ids = {}
    for name, image in pages.items():
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        created = client.post("/v1/documents", files={"files": (f"{name}.png", buffer.getvalue())})
        assert created.status_code == 202, created.text
        ids[name] = created.json()["documents"][0]["id"]
    for doc_id in ids.values():
        assert service.wait_final(client, doc_id)["status"] == "done", service.tail()

    for name, doc_id in ids.items():
        stored = client.get(f"/v1/documents/{doc_id}/pages/1/image").content
        query = {"data": base64.b64encode(stored).decode(), "format": "jpeg"}
        hits = client.post("/v1/search", json={"image": query, "k": 4}).json()["hits"]
        assert (hits[0]["document"]["id"], hits[0]["kind"]) == (doc_id, "page"), hits
        assert hits[0]["found_by"] == ["image"]
        if name == "article":  # the worker embedded the figure too
            assert any(h["kind"] == "figure" and h["document"]["id"] == doc_id for h in hits)
        encoded = client.post("/v1/encode", json={"model": "image", "items": [{"image": query}]})
        assert encoded.status_code == 200, encoded.text
        assert encoded.json()["dim"] == 16
        vector = np.asarray(encoded.json()["vectors"][0])
        assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)

    # a text query: full text, the random text model and the text tower all answer (the random
    # models' ranks are noise, so only membership is asserted)
    hits = client.post("/v1/search", json={"query": "canal locks", "k": 20}).json()["hits"]
    letter = [h for h in hits if h["document"]["id"] == ids["letter"] and h["source"] == "chunk"]
    assert letter and "lexical" in letter[0]["found_by"]
    assert {"lexical", "dense", "text_to_image"} <= {leg for h in hits for leg in h["found_by"]}
