"""The vocabularies of core/ at the edges: the API's schemas, the CLI's choices and the web app
take their values from ``core.vocab`` and ``core.status``, so none can drift from the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.routes import web
from api.schemas import (
    BatchPublic,
    DocumentPublic,
    EncodeRequestBody,
    EncodeResponse,
    SearchHitPublic,
)
from cli.main import app as cli_app
from core.status import STATUSES, BatchStatus
from core.vocab import (
    BLOCK_KINDS,
    BlockKind,
    ChunkKind,
    Device,
    EncoderKind,
    HitKind,
    HitSource,
    LegName,
    RegionKind,
)
from models.layout_detector import REGION_KINDS
from pipelines.regions import RegionOrderParams, _region_kind

WEB = Path(web.__file__).resolve().parents[1] / "web"


def _enum(schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """The enum of a field's JSON schema, following a $ref to a named schema."""
    if "$ref" in schema:
        return list(defs[schema["$ref"].rsplit("/", 1)[1]]["enum"])
    return list(schema["enum"])


def test_the_api_schemas_type_statuses_and_kinds_with_the_vocabularies() -> None:
    doc = DocumentPublic.model_json_schema()
    assert _enum(doc["properties"]["status"], doc["$defs"]) == list(STATUSES)

    batch = BatchPublic.model_json_schema()
    assert _enum(batch["properties"]["status"], batch["$defs"]) == [s.value for s in BatchStatus]
    counts = batch["properties"]["counts"]
    assert _enum(counts["propertyNames"], batch["$defs"]) == list(STATUSES)

    hit = SearchHitPublic.model_json_schema()["properties"]
    assert hit["kind"]["enum"] == list(get_args(HitKind))
    assert hit["found_by"]["items"]["enum"] == list(get_args(LegName))
    assert hit["ranks"]["propertyNames"]["enum"] == list(get_args(LegName))
    assert hit["source"]["enum"] == list(get_args(HitSource))
    for model in (EncodeRequestBody, EncodeResponse):
        assert model.model_json_schema()["properties"]["model"]["enum"] == list(
            get_args(EncoderKind)
        )


def test_a_hit_is_a_chunk_kind_or_an_image_region_kind() -> None:
    assert set(get_args(HitKind)) == set(get_args(ChunkKind)) | set(get_args(RegionKind))


def test_a_response_refuses_a_status_outside_the_vocabulary() -> None:
    fields = {
        "id": "b1",
        "status": "listed",
        "source": "upload",
        "files_total": 2,
        "counts": {"done": 2},
        "error": None,
        "created_at": "2026-01-01T00:00:00Z",
        "links": {},
    }
    assert BatchPublic(**fields).model_dump(mode="json")["status"] == "listed"
    for bad in ({"status": "finished"}, {"counts": {"complete": 1}}):
        try:
            BatchPublic(**{**fields, **bad})
        except ValueError:
            continue
        raise AssertionError(f"{bad} was taken")


def test_every_label_of_the_layout_model_becomes_a_block_kind() -> None:
    params = RegionOrderParams()
    assert {_region_kind(label, [], params) for label in REGION_KINDS} == set(BLOCK_KINDS)


def test_the_web_app_gets_every_block_kind_from_the_vocabulary() -> None:
    app = FastAPI()
    app.include_router(web.router)
    answer = TestClient(app).get("/app/kinds.json")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == web.CSP
    blocks = answer.json()["blocks"]
    assert [b["kind"] for b in blocks] == list(get_args(BlockKind))
    assert [b["label"] for b in blocks][3] == "figure caption"
    colours = [b["colour"] for b in blocks]
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    assert len(set(colours)) == len(colours)  # each kind told apart in the legend
    assert set(web.BLOCK_COLOURS) == set(BLOCK_KINDS)
    # the page keeps no list of kinds of its own: no kind keyed to a colour in its script or
    # style sheet (the old one had "caption" and "list", kinds nothing else has)
    script = (WEB / "app.js").read_text()
    style = (WEB / "app.css").read_text()
    assert "/app/kinds.json" in script
    assert not re.search(r"\b\w+:\s*\"#[0-9a-fA-F]{3,6}\"", script)
    assert "--kind-" not in style


def test_the_cli_device_choices_are_the_vocabulary() -> None:
    runner = CliRunner()
    shown = "<" + "|".join(get_args(Device)) + ">"
    for command in ("ocr", "worker"):
        out = runner.invoke(cli_app, [command, "--help"], env={"COLUMNS": "100"}).output
        assert f"--device {shown}" in out, out
    refused = runner.invoke(cli_app, ["ocr", "x.png", "--device", "gpu"])
    assert refused.exit_code == 2
    assert all(repr(d) in refused.output for d in get_args(Device)), refused.output
