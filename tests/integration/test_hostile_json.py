"""Hostile JSON and images in JSON bodies get a 4xx before any work, never a 500 and never a
stored row that breaks the tenant's answers: decompression bombs in encode and search images,
JSON bodies labelled multipart, metadata PostgreSQL and SQLite cannot both hold, deep JSON and
lone surrogates. The API in-process (FastAPI's TestClient) on a real SQLite database, with a
tiny real CLIP as the image model; the metadata repair on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.app import MAX_BODY_BYTES, create_app, image_body_bytes
from core.config import Settings
from storage import accounts
from storage.db import alembic_config, backend, make_sql_engine, migrate, session_factory
from tests.tiny_encoders import build

DEEP = "[" * 5000 + "]" * 5000
BOMB_SIDE = 8944  # 79,995,136 pixels: just under a page's limit, ~290 MB decoded


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("clip") / "clip", "clip")


@pytest.fixture()
def api(tmp_path: Path, clip: Path) -> Iterator[tuple[TestClient, Engine]]:
    """A client with a key of tenant acme, the image model configured, no broker; and the
    database it writes."""
    settings = Settings(
        home=tmp_path,
        redis_url="redis://127.0.0.1:1/0",  # nothing here reaches the broker
        embed={"image_model": clip, "device": "cpu", "precision": "fp32"},  # type: ignore[arg-type]
    )
    engine = make_sql_engine(settings.resolved_database_url())
    migrate(engine)
    with session_factory(engine).begin() as session:
        key = accounts.create_key(session, tenant="acme").key
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, engine
    engine.dispose()


def refused(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def b64(image: Image.Image) -> dict[str, str]:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {"data": base64.b64encode(buffer.getvalue()).decode(), "format": "png"}


def post_json(client: TestClient, path: str, body: str | bytes) -> Any:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


def test_bombs_in_json_images_are_refused_from_their_headers(
    api: tuple[TestClient, Engine],
) -> None:
    client, _ = api
    bomb = b64(Image.new("1", (BOMB_SIDE, BOMB_SIDE)))
    assert len(bomb["data"]) < 20_000  # ~10 KB of PNG
    items = [{"image": bomb}] * 64  # the issue's 840 KB body: ~18 GB decoded
    r = client.post("/v1/encode", json={"model": "image", "items": items})
    refused(r, 413, "file_too_large")
    assert f"{BOMB_SIDE}x{BOMB_SIDE}" in r.json()["error"]["message"]
    refused(client.post("/v1/search", json={"image": bomb}), 413, "file_too_large")
    # whatever the model: the text model never decodes an image
    r = client.post("/v1/encode", json={"model": "text", "items": [{"text": "a"}, *items[1:]]})
    refused(r, 422, "invalid_request")
    # images each under the limit, over it together (64 x 1024 x 1024 = 67 M pixels)
    many = [{"image": b64(Image.new("1", (1024, 1024)))}] * 64
    refused(
        client.post("/v1/encode", json={"model": "image", "items": many}), 413, "file_too_large"
    )
    # an ordinary image is still encoded
    r = client.post(
        "/v1/encode", json={"model": "image", "items": [{"image": b64(Image.new("RGB", (64, 48)))}]}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["vectors"]) == 1


def test_a_json_body_labelled_multipart_is_held_to_its_route_limit(
    api: tuple[TestClient, Engine],
) -> None:
    client, _ = api
    limit = image_body_bytes(Settings().embed.max_image_bytes)
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    big = b'{"model": "text", "items": [{"text": "' + b"x" * limit + b'"}]}'
    for path in ("/v1/encode", "/v1/search"):
        refused(client.post(path, content=big, headers=multipart), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: held as it streams
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    refused(client.post("/v1/encode", content=chunks(), headers=multipart), 413, "body_too_large")
    # /v1/batches takes JSON and multipart: labelled multipart/mixed it is not an upload
    body = b"x" * (MAX_BODY_BYTES + 10)
    r = client.post("/v1/batches", content=body, headers={"Content-Type": "multipart/mixed; b=x"})
    refused(r, 413, "body_too_large")
    # a real upload of more than the JSON limit is the upload reader's to limit (no broker
    # here: it is stored, then refused for the queue, never 413)
    photo = Image.frombytes("L", (1500, 1500), (bytes(range(256)) * 8790)[:2_250_000])
    buffer = io.BytesIO()
    photo.save(buffer, "PNG", compress_level=0)
    assert len(buffer.getvalue()) > MAX_BODY_BYTES
    r = client.post("/v1/documents", files={"files": ("p.png", buffer.getvalue(), "image/png")})
    assert r.status_code != 413, r.text


POISON = [
    '{"a": "\\ud800"}',  # a lone surrogate
    '{"a": "\\udfff tail"}',
    '{"\\ud800": 1}',  # in a key
    '{"a": 1e999}',  # Python reads infinity
    '{"a": [-1e999]}',
    '{"a": "nul \\u0000 inside"}',  # PostgreSQL cannot store it
    '{"nul\\u0000key": 1}',
    '{"d": ' + DEEP + "}",
]


@pytest.mark.parametrize("meta", POISON)
def test_poisoned_metadata_is_422_and_nothing_is_stored(
    api: tuple[TestClient, Engine], meta: str
) -> None:
    client, _ = api
    png = io.BytesIO()
    Image.new("L", (20, 20), 255).save(png, "PNG")
    r = client.post(
        "/v1/documents",
        files={"files": ("p.png", png.getvalue(), "image/png")},
        data={"metadata": meta},
    )
    refused(r, 422, "invalid_metadata")
    listing = client.get("/v1/documents")
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 0


def test_deep_json_and_lone_surrogates_are_4xx_on_every_json_route(
    api: tuple[TestClient, Engine],
) -> None:
    client, _ = api
    for path in ("/v1/encode", "/v1/batches"):
        refused(post_json(client, path, DEEP), 422, "invalid_request")
        refused(post_json(client, path, '{"path": ' + DEEP + "}"), 422, "invalid_request")
    surrogate = '{"model": "text", "items": [{"text": "a \\ud800 b"}]}'
    refused(post_json(client, "/v1/encode", surrogate), 422, "invalid_request")
    refused(
        post_json(client, "/v1/encode", '{"model": "text", "n": 1e999}'), 422, "invalid_request"
    )
    refused(post_json(client, "/v1/batches", '{"path": "in\\udc00box"}'), 422, "invalid_request")
    # search parses its body with FastAPI: too deep for its parser is 400, and documented
    r = post_json(client, "/v1/search", '{"query": "a", "k": ' + DEEP + "}")
    assert r.status_code == 400 and "error" in r.json(), r.text
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/search", "/v1/encode", "/v1/batches"):
        assert {"400", "413", "422"} <= set(paths[path]["post"]["responses"]), path


def insert_document(engine: Engine, doc_id: str, metadata: str) -> None:
    cast = "CAST(:m AS JSONB)" if backend(engine) == "postgresql" else ":m"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO documents (id, tenant, sha256, filename, media_type, size_bytes,"
                " pages_done, status, metadata, blob_key, created_at, updated_at) VALUES"
                f" (:id, 'acme', :h, 'a.png', 'image/png', 1, 0, 'queued', {cast}, 'k',"
                " '2026-01-01', '2026-01-01')"
            ),
            {"id": doc_id, "h": doc_id.ljust(64, "0"), "m": metadata},
        )


def stored(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, CAST(metadata AS TEXT) FROM documents")).all()
    return {doc_id: meta for doc_id, meta in rows}


def test_a_listing_survives_metadata_stored_before_the_rules(
    api: tuple[TestClient, Engine],
) -> None:
    client, engine = api
    insert_document(engine, "d1", '{"a": Infinity, "b": "\\ud800", "c": "ok", "\\udc00": 1}')
    listing = client.get("/v1/documents")
    assert listing.status_code == 200, listing.text
    assert listing.json()["documents"][0]["metadata"] == {"a": None, "b": None, "c": "ok"}
    r = client.get("/v1/documents/d1")
    assert r.status_code == 200 and r.json()["metadata"]["c"] == "ok", r.text


@pytest.fixture(params=["sqlite", "postgresql"])
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of the parametrised backend at revision 0006, before the repair."""
    if request.param == "sqlite":
        engine = make_sql_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = make_sql_engine(request.getfixturevalue("pg_database"))
    cfg = alembic_config(engine)
    with engine.begin() as c:
        if request.param == "postgresql":
            c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0006")
    yield engine
    engine.dispose()


def test_the_migration_repairs_stored_metadata_once(old_db: Engine) -> None:
    engine = old_db
    nested: Any = 1
    for _ in range(20):
        nested = [nested]
    fine = '{"dept": "ports", "n": [1, 2.5, null]}'
    insert_document(engine, "fine", fine)
    insert_document(engine, "deep", json.dumps({"ok": "x", "deep": nested}))
    if backend(engine) == "sqlite":  # what SQLite kept of what uploads once accepted
        insert_document(engine, "inf", '{"a": Infinity, "b": [-Infinity, NaN], "c": "ok"}')
        insert_document(engine, "half", '{"a": "\\ud800", "\\udc00k": 1, "c": "ok"}')
        insert_document(engine, "nul", '{"a": "x\\u0000y", "k\\u0000": 2, "c": "ok"}')
        insert_document(engine, "junk", "not json {")
    else:  # PostgreSQL's numeric holds numbers Python's json cannot read back
        insert_document(engine, "big", '{"a": 1e5000, "c": "ok"}')
    before = stored(engine)
    migrate(engine)
    after = {k: json.loads(v) for k, v in stored(engine).items()}
    assert stored(engine)["fine"] == before["fine"]  # untouched
    assert after["deep"]["ok"] == "x"
    depth, value = 0, after["deep"]
    while isinstance(value, dict | list):
        depth, value = depth + 1, value["deep"] if isinstance(value, dict) else value[0]
    assert depth == 16 and value is None
    if backend(engine) == "sqlite":
        assert after["inf"] == {"a": None, "b": [None, None], "c": "ok"}
        assert after["half"] == {"a": None, "c": "ok"}
        assert after["nul"] == {"a": None, "c": "ok"}
        assert after["junk"] == {}
    else:
        assert after["big"] == {"a": None, "c": "ok"}
    # again: nothing left to change
    repaired = stored(engine)
    cfg = alembic_config(engine)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.stamp(cfg, "0006")
        command.upgrade(cfg, "0007")  # the repair alone: later revisions would run twice
    assert stored(engine) == repaired
