"""Bad numbers, bad JSON and oversized bodies get a 4xx with an error code, never a 500: the API
in-process (FastAPI's TestClient) on a real SQLite database."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from api.app import MAX_BODY_BYTES, create_app, image_body_bytes
from core.config import Settings
from storage import accounts
from storage.db import alembic_config, make_sql_engine, migrate, session_factory
from tests.stored_documents import stored_document


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[tuple[TestClient, str, str]]:
    """A client with a key, and a document of its tenant (queued, no pages yet)."""
    settings = Settings(
        home=tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing here reaches the broker
        limits={"max_page_pixels": 4_000_000},  # type: ignore[arg-type]
    )
    engine = make_sql_engine(settings.resolved_database_url())
    migrate(engine)
    with session_factory(engine).begin() as session:
        key = accounts.create_key(session, tenant="acme").key
        doc_id = stored_document(
            session, tenant="acme", filename="a.png", media_type="image/png"
        ).id
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, doc_id, settings.resolved_database_url()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, "PNG")
    return buffer.getvalue()


def refused(response: object, status: int, code: str) -> None:
    r = response  # an httpx.Response
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.json()["error"]["code"] == code, r.text  # type: ignore[attr-defined]


def test_numbers_beyond_64_bits_and_non_finite_boxes_are_422(
    api: tuple[TestClient, str, str],
) -> None:
    client, doc_id, _ = api
    refused(client.get("/v1/documents", params={"offset": 2**63}), 422, "invalid_request")
    refused(client.get("/v1/documents", params={"offset": -1}), 422, "invalid_request")
    for number in (2**63, 2**64, 0, -3):
        refused(client.get(f"/v1/documents/{doc_id}/pages/{number}"), 422, "invalid_request")
    for bbox in ("0,0,inf,inf", "0,0,nan,10", "0,0,1e400,5", "1,2,3", "a,b,c,d", "9,9,9,20"):
        r = client.get(f"/v1/documents/{doc_id}/pages/1/crop", params={"bbox": bbox})
        refused(r, 422, "invalid_bbox")
    # a number in range, but no such page: 404, not a crash
    refused(client.get(f"/v1/documents/{doc_id}/pages/{2**31 - 1}"), 404, "page_not_found")


def test_metadata_that_is_not_plain_json_is_refused(api: tuple[TestClient, str, str]) -> None:
    client, _, _ = api
    deep = "[" * 30_000 + "]" * 30_000
    for meta in ('{"score": NaN}', '{"x": Infinity}', '{"x": [-Infinity]}', f'{{"d": {deep}}}'):
        r = client.post(
            "/v1/documents",
            files={"files": ("p.png", png(20, 20), "image/png")},
            data={"metadata": meta},
        )
        refused(r, 422, "invalid_metadata")
    nested = json.dumps({"a": json.loads("[" * 40 + "]" * 40)})
    r = client.post(
        "/v1/documents",
        files={"files": ("p.png", png(20, 20), "image/png")},
        data={"metadata": nested},
    )
    refused(r, 422, "invalid_metadata")


def test_json_bodies_are_capped(api: tuple[TestClient, str, str]) -> None:
    client, _, _ = api
    big = json.dumps({"path": "x" * (MAX_BODY_BYTES + 10)})
    r = client.post("/v1/batches", content=big, headers={"Content-Type": "application/json"})
    refused(r, 413, "body_too_large")
    # search and encode take base64 images: one image at its byte limit, and no more
    limit = image_body_bytes(Settings().embed.max_image_bytes)
    big = json.dumps({"query": "x" * (limit + 10)})
    r = client.post("/v1/search", content=big, headers={"Content-Type": "application/json"})
    refused(r, 413, "body_too_large")
    assert str(limit) in r.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds as the body streams
        yield b'{"query": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r = client.post("/v1/encode", content=chunks(), headers={"Content-Type": "application/json"})
    refused(r, 413, "body_too_large")
    deep = '{"query": "a", "filters": {"metadata": ' + "[" * 30_000 + "]" * 30_000 + "}}"
    r = client.post("/v1/search", content=deep, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


def test_search_strings_a_database_cannot_hold_are_422(api: tuple[TestClient, str, str]) -> None:
    client, _, _ = api
    bodies = [
        '{"query": "\\ud800 lone half"}',
        '{"query": "nul \\u0000 inside"}',
        '{"query": "a", "filters": {"metadata": {"ke\\"y": "v"}}}',  # schemathesis found it
        '{"query": "a", "filters": {"metadata": {"\\u0000\\u0017": "v"}}}',
        '{"query": "a", "filters": {"document_ids": ["\\udc00"]}}',
    ]
    for body in bodies:
        r = client.post("/v1/search", content=body, headers={"Content-Type": "application/json"})
        refused(r, 422, "invalid_request")


def test_an_image_over_the_pixel_limit_is_refused_at_upload(
    api: tuple[TestClient, str, str],
) -> None:
    client, _, _ = api
    r = client.post("/v1/documents", files={"files": ("huge.png", png(2500, 2000), "image/png")})
    refused(r, 422, "page_too_large")
    assert "4,000,000" in r.json()["error"]["message"]


def test_stored_nan_metadata_is_repaired_by_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_sql_engine(url)
    cfg = alembic_config(engine)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0003")  # the schema before the repair
    with engine.begin() as c:
        # what an older version stored for metadata={"score": NaN, "dept": "ports"}
        c.execute(
            text(
                "INSERT INTO documents (id, tenant, sha256, filename, media_type, size_bytes,"
                " pages_done, status, metadata, blob_key, created_at, updated_at) VALUES"
                " ('d1', 'acme', :h, 'a.png', 'image/png', 1, 0, 'queued',"
                " '{\"score\": NaN, \"dept\": \"ports\"}', 'k', '2026-01-01', '2026-01-01')"
            ),
            {"h": "1" * 64},
        )
    migrate(engine)
    with engine.connect() as c:
        stored = c.execute(text("SELECT metadata FROM documents WHERE id = 'd1'")).scalar_one()
    assert json.loads(stored) == {"score": None, "dept": "ports"}
    with session_factory(engine)() as session:
        from storage.search import lexical_search

        # a metadata-filtered search of the tenant works again
        lexical_search(session, query="anything", k=3, metadata={"dept": "ports"}, tenant="acme")
    engine.dispose()
