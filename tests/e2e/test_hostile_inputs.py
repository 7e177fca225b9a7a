"""Hostile JSON against the live API (uvicorn, no worker: nothing here is queued): bodies
labelled multipart on JSON routes, decompression bombs in encode and search images, poisoned
metadata and deep JSON are each refused with a 4xx and the JSON error body, on one kept-alive
connection, and the API's memory stays where it was."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator

import httpx
import psutil
import pytest
from PIL import Image

from tests.harness import Service

DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture(scope="module")
def api(make_service: Callable[..., Service]) -> Iterator[tuple[httpx.Client, psutil.Process]]:
    service = make_service(workers=0)
    assert service.api is not None
    key, _ = service.new_key("hostile")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=120) as client:
        yield client, psutil.Process(service.api.pid)


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


def test_bombs_and_big_bodies_labelled_multipart_leave_memory_alone(
    api: tuple[httpx.Client, psutil.Process],
) -> None:
    client, process = api
    before = rss_mb(process)
    buffer = io.BytesIO()
    Image.new("1", (8944, 8944)).save(buffer, "PNG")  # ~10 KB, ~290 MB decoded
    bomb = {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "png"}
    items = [{"text": "a"}] + [{"image": bomb}] * 63
    refused(
        client.post("/v1/encode", json={"model": "text", "items": items}), 422, "invalid_request"
    )
    r = client.post("/v1/encode", json={"model": "image", "items": items[1:]})
    refused(r, 422, "model_not_configured")  # no image model here: nothing decoded
    refused(client.post("/v1/search", json={"image": bomb}), 422, "model_not_configured")
    big = b'{"model": "text", "items": [{"text": "' + b"x" * 40_000_000 + b'"}]}'
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    for path in ("/v1/encode", "/v1/search"):
        refused(client.post(path, content=big, headers=multipart), 413, "body_too_large")
    assert rss_mb(process) - before < 100


@pytest.mark.parametrize(
    "meta",
    ['{"a": "\\ud800"}', '{"a": 1e999}', '{"a": -1e999}', '{"a\\u0000": "x\\u0000"}'],
)
def test_poisoned_metadata_is_422_and_the_list_still_answers(
    api: tuple[httpx.Client, psutil.Process], meta: str
) -> None:
    client, _ = api
    png = io.BytesIO()
    Image.new("L", (20, 20), 255).save(png, "PNG")
    files = {"files": ("p.png", png.getvalue(), "image/png")}
    refused(
        client.post("/v1/documents", files=files, data={"metadata": meta}), 422, "invalid_metadata"
    )
    listing = client.get("/v1/documents")
    assert listing.status_code == 200 and listing.json()["total"] == 0, listing.text


def test_deep_json_and_lone_surrogates_are_422(api: tuple[httpx.Client, psutil.Process]) -> None:
    client, _ = api
    as_json = {"Content-Type": "application/json"}
    for path in ("/v1/encode", "/v1/batches"):
        refused(client.post(path, content=DEEP, headers=as_json), 422, "invalid_request")
    text = '{"model": "text", "items": [{"text": "\\ud800"}]}'
    refused(client.post("/v1/encode", content=text, headers=as_json), 422, "invalid_request")
    path = '{"path": "a\\udc00b"}'
    refused(client.post("/v1/batches", content=path, headers=as_json), 422, "invalid_request")
