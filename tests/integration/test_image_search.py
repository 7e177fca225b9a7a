"""Bring-your-own encoders through ingest, search and the encode API: a tiny BERT-like text model
and a tiny CLIP (random weights, built by transformers and saved to folders), configured by path;
real OCR, a real SQLite database, the API in-process (FastAPI's TestClient) and the CLI."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from core.config import Settings
from pipelines.engine import OcrEngine
from storage import accounts
from storage import repository as repo
from storage.tables import Encoder
from tests.harness import PYTHON, ROOT, scanrag_env
from tests.pagegen import article_page, text_page
from tests.tiny_encoders import build
from workers.ingest import ingest_file
from workers.runtime import Runtime

pytestmark = pytest.mark.slow

CAPTION = "Figure 1. Otters counted each spring."
OTTERS = [
    "The otter colony in the northern meadow grew through the spring, and the wardens counted"
    " forty animals along the canal banks by early May.",
]
HERONS = ["The heron roost on the island suffered in the storms of March."]


def settings_for(home: Path, text: Path, image: Path, **embed: Any) -> Settings:
    return Settings(
        home=home,
        redis_url="redis://127.0.0.1:1/0",  # nothing here reaches the broker
        embed={  # type: ignore[arg-type]
            "text_model": text,
            "image_model": image,
            "device": "cpu",
            "precision": "fp32",
            "threads": 1,
            **embed,
        },
    )


def cli(home: Path, text: Path, image: Path, args: list[str], stdin: str = "") -> Any:
    """``scanrag ARGS`` in a subprocess with these models configured (fp32, on the CPU)."""
    env = scanrag_env(
        home,
        SCANRAG_EMBED__TEXT_MODEL=str(text),
        SCANRAG_EMBED__IMAGE_MODEL=str(image),
        SCANRAG_EMBED__DEVICE="cpu",
        SCANRAG_EMBED__PRECISION="fp32",
    )
    return subprocess.run(
        [PYTHON, "-m", "cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def png_b64(image: Image.Image) -> dict[str, str]:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "png"}


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory, engine: OcrEngine
) -> Iterator[dict[str, Any]]:
    """Two documents ingested with the tiny models: an article page with a chart, and a page
    of text; an API client with a key of their tenant."""
    root = tmp_path_factory.mktemp("byo")
    models = {
        "bert": build(root / "bert", "bert"),
        "bert2": build(root / "bert2", "bert", seed=7),
        "clip": build(root / "clip", "clip"),
    }
    settings = settings_for(root / "home", models["bert"], models["clip"], max_encode_items=3)
    runtime = Runtime.build(settings, ocr=engine)
    article, chart = article_page("Wardens", "Wildlife", OTTERS, HERONS, CAPTION, "Page 4")
    article.save(root / "article.png")
    text_page(HERONS * 3).save(root / "herons.png")
    ids = {}
    for name in ("article", "herons"):
        outcome = ingest_file(root / f"{name}.png", runtime=runtime, tenant="acme")
        assert outcome.status == "done", outcome
        ids[name] = outcome.document_id
    with runtime.sessions.begin() as session:
        key = accounts.create_key(session, tenant="acme").key
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield {
            "root": root,
            "runtime": runtime,
            "client": client,
            "ids": ids,
            "chart": chart,
            "models": models,
            "key": key,
        }
    runtime.close()


def page_image(client: TestClient, document_id: str) -> Image.Image:
    r = client.get(f"/v1/documents/{document_id}/pages/1/image")
    assert r.status_code == 200, r.text
    return Image.open(io.BytesIO(r.content)).convert("RGB")


def test_pages_and_figures_get_image_vectors_named_by_their_model(
    indexed: dict[str, Any],
) -> None:
    runtime: Runtime = indexed["runtime"]
    with runtime.sessions() as session:
        regions = repo.image_vectors(session, document_id=indexed["ids"]["article"])
        (encoder,) = [e for e in session.query(Encoder).all() if e.kind == "image"]
        chunks = repo.document_chunks(session, document_id=indexed["ids"]["article"])
        (text_encoder,) = {session.get(Encoder, c.encoder_id) for c in chunks}
    assert [(r.page_number, r.ordinal, r.region) for r in regions] == [
        (1, 0, "page"),
        (1, 1, "figure"),
    ]
    page, figure = regions
    assert encoder.name == "clip" and encoder.dim == 16 and len(encoder.sha256) == 64
    assert {r.encoder_id for r in regions} == {encoder.id}
    assert text_encoder is not None and (text_encoder.name, text_encoder.dim) == ("bert", 32)
    for region in regions:
        assert region.embedding.shape == (16,)
        assert np.isclose(np.linalg.norm(region.embedding), 1.0, atol=1e-5)
    # the figure's region holds the chart the page was drawn with, and carries its caption
    x0, y0, x1, y1 = figure.bbox
    cx0, cy0, cx1, cy1 = indexed["chart"]
    assert x0 <= cx0 + 10 and y0 <= cy0 + 10 and x1 >= cx1 - 10 and y1 >= cy1 - 10
    assert "Otters counted" in figure.text
    assert page.bbox[:2] == [0.0, 0.0] and "otter colony" in page.text


def test_an_image_query_finds_its_page_and_its_figure_first(indexed: dict[str, Any]) -> None:
    client: TestClient = indexed["client"]
    ids = indexed["ids"]
    for name in ("article", "herons"):
        image = page_image(client, ids[name])
        r = client.post("/v1/search", json={"image": png_b64(image), "k": 3})
        assert r.status_code == 200, r.text
        top = r.json()["hits"][0]
        assert (top["document"]["id"], top["page"], top["kind"]) == (ids[name], 1, "page")
        assert top["found_by"] == ["image"] and top["source"] == "image"
        assert top["crop_url"].startswith(f"/v1/documents/{ids[name]}/pages/1/crop?bbox=0%2C0")
    with indexed["runtime"].sessions() as session:
        figure = repo.image_vectors(session, document_id=ids["article"])[1]
    crop = page_image(client, ids["article"]).crop(tuple(int(v) for v in figure.bbox))
    r = client.post("/v1/search", json={"image": png_b64(crop), "k": 3})
    top = r.json()["hits"][0]
    assert (top["kind"], top["bbox"]) == ("figure", figure.bbox) and top["text"] == figure.text


def test_a_text_query_runs_every_leg(indexed: dict[str, Any]) -> None:
    r = indexed["client"].post("/v1/search", json={"query": "otter colony", "k": 10})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    legs = {leg for hit in hits for leg in hit["found_by"]}
    assert {"lexical", "dense", "text_to_image"} <= legs
    assert hits[0]["source"] == "chunk" and "otter" in hits[0]["text"]
    assert any(h["source"] == "image" and h["found_by"] == ["text_to_image"] for h in hits)
    # both: the image leg joins the text legs
    image = page_image(indexed["client"], indexed["ids"]["herons"])
    both = indexed["client"].post(
        "/v1/search", json={"query": "heron roost", "image": png_b64(image), "k": 10}
    )
    assert any("image" in h["found_by"] for h in both.json()["hits"])


def test_encode_gives_the_vectors_stored_at_ingest(indexed: dict[str, Any]) -> None:
    client: TestClient = indexed["client"]
    runtime: Runtime = indexed["runtime"]
    with runtime.sessions() as session:
        chunks = repo.document_chunks(session, document_id=indexed["ids"]["article"])
        page = repo.image_vectors(session, document_id=indexed["ids"]["herons"])[0]
    r = client.post(
        "/v1/encode", json={"model": "text", "items": [{"text": c.text} for c in chunks[:3]]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["name"], body["dim"]) == ("text", "bert", 32)
    stored = np.stack([c.embedding for c in chunks[:3]])
    assert np.allclose(np.asarray(body["vectors"]), stored, atol=1e-5)
    image = png_b64(page_image(client, indexed["ids"]["herons"]))
    r = client.post(
        "/v1/encode", json={"model": "image", "items": [{"image": image}, {"text": "heron"}]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["name"], body["dim"]) == ("image", "clip", 16)
    assert np.allclose(body["vectors"][0], page.embedding, atol=1e-5)
    # the CLI answers the same request with the same vectors
    request = {"model": "image", "items": [{"image": image}]}
    models = indexed["models"]
    out = cli(
        runtime.settings.home, models["bert"], models["clip"], ["encode"], json.dumps(request)
    )
    assert out.returncode == 0, out.stderr
    assert np.allclose(json.loads(out.stdout)["vectors"][0], page.embedding, atol=1e-5)


def test_bad_encode_and_search_requests_are_refused_with_a_code(
    indexed: dict[str, Any],
) -> None:
    client: TestClient = indexed["client"]
    image = png_b64(Image.new("RGB", (40, 30), "white"))

    def refused(body: Any, status: int, code: str, path: str = "/v1/encode") -> str:
        r = client.post(path, json=body)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code, r.text
        return str(r.json()["error"]["message"])

    refused({"model": "audio", "items": [{"text": "a"}]}, 422, "unknown_model")
    refused({"model": "text", "items": []}, 422, "invalid_request")
    refused({"model": "text", "items": [{"text": "a"}] * 4}, 413, "too_many_items")
    refused(
        {"model": "image", "items": [{"image": {"data": "%%%", "format": "png"}}]},
        422,
        "invalid_base64",
    )
    refused(
        {"model": "image", "items": [{"image": {**image, "format": "jpeg"}}]}, 422, "invalid_image"
    )
    refused(
        {"model": "image", "items": [{"image": {**image, "format": "gif"}}]}, 422, "invalid_request"
    )
    refused({"model": "text", "items": [{"image": image}]}, 422, "invalid_request")
    refused({"k": 3}, 422, "invalid_request", "/v1/search")
    big = {"data": base64.b64encode(b"x" * 11 * 1024 * 1024).decode(), "format": "png"}
    r = client.post("/v1/encode", json={"model": "image", "items": [{"image": big}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    message = refused(
        {"query": "x", "image": {"data": "@@", "format": "png"}},
        422,
        "invalid_base64",
        "/v1/search",
    )
    assert "base64" in message


def test_the_python_client_searches_by_image_and_encodes(indexed: dict[str, Any]) -> None:
    from api.client import Refused, ScanragClient

    client: TestClient = indexed["client"]
    image = page_image(client, indexed["ids"]["herons"])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    api = ScanragClient("http://testserver", indexed["key"])
    api.http.close()
    api.http = client  # the in-process API, through the client's own calls (TestClient is httpx's)
    (top,) = api.search(image=buffer.getvalue(), k=1)
    assert (top.document.id, top.kind, top.source, top.found_by) == (
        indexed["ids"]["herons"],
        "page",
        "image",
        ("image",),
    )
    (vector,) = api.encode("image", images=[buffer.getvalue()])
    with indexed["runtime"].sessions() as session:
        page = repo.image_vectors(session, document_id=indexed["ids"]["herons"])[0]
    assert np.allclose(vector, page.embedding, atol=1e-5)
    with pytest.raises(Refused) as info:
        api.encode("sound", texts=["a"])
    assert info.value.code == "unknown_model"


def test_the_cli_searches_by_image(indexed: dict[str, Any]) -> None:
    root: Path = indexed["root"]
    page_image(indexed["client"], indexed["ids"]["article"]).save(root / "query.png")
    models = indexed["models"]
    args = ["search", "--image", str(root / "query.png"), "--tenant", "acme", "--json", "-k", "2"]
    out = cli(indexed["runtime"].settings.home, models["bert"], models["clip"], args)
    assert out.returncode == 0, out.stderr
    top = json.loads(out.stdout)[0]
    assert (top["document"]["id"], top["kind"], top["found_by"]) == (
        indexed["ids"]["article"],
        "page",
        ["image"],
    )
    (root / "query.gif").write_bytes(b"GIF89a")
    args = ["search", "--image", str(root / "query.gif")]
    refused = cli(indexed["runtime"].settings.home, models["bert"], models["clip"], args)
    assert refused.returncode == 1 and "[invalid_image]" in refused.stderr


# last: it moves the module's index to another text model
def test_zz_a_changed_model_is_refused_until_reindex(
    indexed: dict[str, Any], engine: OcrEngine
) -> None:
    root: Path = indexed["root"]
    models = indexed["models"]
    changed = settings_for(root / "home", models["bert2"], models["clip"])
    with TestClient(create_app(changed), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {indexed['key']}"
        r = client.post("/v1/search", json={"query": "otters", "k": 3})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "index_model_mismatch"
        assert "'bert'" in error["message"] and "scanrag reindex" in error["message"]
        # an image query reads image vectors only: the image model did not change
        image = page_image(client, indexed["ids"]["herons"])
        assert client.post("/v1/search", json={"image": png_b64(image)}).status_code == 200
    runtime = Runtime.build(changed, ocr=engine)
    text_page(["A new letter about the canal locks."]).save(root / "letter.png")
    outcome = ingest_file(root / "letter.png", runtime=runtime, tenant="acme")
    assert (outcome.status, outcome.error_code) == ("failed", "index_model_mismatch")
    runtime.close()
    done = cli(root / "home", models["bert2"], models["clip"], ["reindex", "--no-relayout"])
    assert done.returncode == 0, done.stderr
    assert "the index now holds the configured models' vectors only" in done.stdout
    with TestClient(create_app(changed), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {indexed['key']}"
        r = client.post("/v1/search", json={"query": "otter colony", "k": 3})
        assert r.status_code == 200, r.text
        assert "otter" in r.json()["hits"][0]["text"]
