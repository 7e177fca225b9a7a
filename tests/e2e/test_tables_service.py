"""A document's tables through the service: a page holding a ruled table, typeset here, read
by the real models; ``GET /v1/documents/{id}/tables`` gives its grid, cells and caption, and
``/tables/{index}`` the same table as JSON or CSV (by ``?format=csv`` or ``Accept``); a table
past the last, another tenant's document and a document still being read are told apart."""

from __future__ import annotations

import csv
import io
import re
import textwrap

import httpx
import pytest
from PIL import Image, ImageDraw

from api.client import ScanragClient
from tests.e2e.conftest import Service
from tests.pagegen import font

pytestmark = pytest.mark.slow

CAPTION = "Table 1: Releases reported by the plants"
GRID = [
    ["Pollutant", "Air", "Water", "Soil"],
    ["Ammonia", "120", "35", "8"],
    ["Methane", "940", "12", "0"],
    ["Nitrogen", "310", "77", "19"],
    ["Sulphur", "560", "4", "51"],
]


PROSE = (
    "The plants of the river basin report what they release to air, water and soil each"
    " year. The agency checks every report against the permits it gave and visits the plants"
    " whose figures changed most since the year before. Where a plant measured nothing, the"
    " figure is estimated from what it made and how. The river board reads these figures"
    " when it sets the limits for the next five years, and anglers read them to know where"
    " the fish are safe to eat."
)


def _prose(draw: ImageDraw.ImageDraw, y: int) -> int:
    """``PROSE`` wrapped in lines of about 70 characters from ``y``; the y below it."""
    for line in textwrap.wrap(PROSE, 70):
        draw.text((120, y), line, fill="black", font=font(22))
        y += 34
    return y


def table_page() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """An A4 page at 150 dpi: a title, paragraphs, the caption, a ruled table of ``GRID``, more
    paragraphs (a page mostly of prose, as a report's: the layout model runs on such pages).
    Also the table's box."""
    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    body = font(22)
    draw.text((120, 90), "Annual Emissions Report", fill="black", font=font(44))
    y = _prose(draw, 180)
    y = _prose(draw, y + 20)
    draw.text((120, y + 30), CAPTION, fill="black", font=body)
    x0, y0, col_w, row_h = 120, y + 80, 240, 56
    box = (x0, y0, x0 + col_w * len(GRID[0]), y0 + row_h * len(GRID))
    for r, row in enumerate(GRID):
        for c, text in enumerate(row):
            draw.text((x0 + c * col_w + 16, y0 + r * row_h + 16), text, fill="black", font=body)
    for r in range(len(GRID) + 1):
        draw.line((box[0], y0 + r * row_h, box[2], y0 + r * row_h), fill="black", width=2)
    for c in range(len(GRID[0]) + 1):
        draw.line((x0 + c * col_w, box[1], x0 + c * col_w, box[3]), fill="black", width=2)
    y = _prose(draw, box[3] + 60)
    _prose(draw, y + 20)
    return img, box


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def upload_image(client: httpx.Client, image: Image.Image, name: str) -> str:
    """Upload ``image`` as a PNG named ``name``; the new document's id."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    created = client.post("/v1/documents", files={"files": (name, buffer.getvalue())})
    assert created.status_code == 202, created.text
    document_id: str = created.json()["documents"][0]["id"]
    return document_id


def test_tables_and_csv_of_a_ruled_table(service: Service) -> None:
    key, _ = service.new_key("tables")
    client = service.client(key)
    image, drawn = table_page()
    doc_id = upload_image(client, image, "emissions.png")
    # asked at once, the document is still being read: told, not an empty list
    early = client.get(f"/v1/documents/{doc_id}/tables")
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "document_not_ready"
    assert service.wait_final(client, doc_id)["status"] == "done"

    listed = client.get(f"/v1/documents/{doc_id}/tables")
    assert listed.status_code == 200, listed.text
    tables = listed.json()["tables"]
    assert len(tables) == 1, tables
    table = tables[0]
    assert (table["index"], table["page"]) == (0, 1)
    assert _norm(table["caption"] or "") == _norm(CAPTION)
    # the table's region covers the drawn table (the layout model's box, give or take)
    x0, y0, x1, y1 = table["bbox"]
    assert x0 <= drawn[0] + 30 and y0 <= drawn[1] + 30 and x1 >= drawn[2] - 30
    assert y1 >= drawn[3] - 30
    assert table["cells"], "the table's cells were not recognised (is the table model wired?)"
    assert (table["rows"], table["cols"]) == (len(GRID), len(GRID[0]))
    texts = {(c["row"], c["col"]): _norm(c["text"]) for c in table["cells"]}
    assert texts == {(r, c): _norm(t) for r, row in enumerate(GRID) for c, t in enumerate(row)}
    assert all(c["header"] == (c["row"] == 0) for c in table["cells"])
    assert table["links"]["csv"] == f"/v1/documents/{doc_id}/tables/0?format=csv"

    one = client.get(f"/v1/documents/{doc_id}/tables/0")
    assert one.status_code == 200 and one.json() == table
    as_csv = client.get(table["links"]["csv"])
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = [[_norm(v) for v in row] for row in csv.reader(io.StringIO(as_csv.text))]
    assert rows == [[_norm(v) for v in row] for row in GRID]
    by_accept = client.get(f"/v1/documents/{doc_id}/tables/0", headers={"Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert by_accept.text == as_csv.text

    # the Python client reads the same
    with ScanragClient(service.url, api_key=key) as python:
        (read,) = python.tables(doc_id)
        assert (read.rows, read.cols, read.caption) == (len(GRID), len(GRID[0]), table["caption"])
        assert [[_norm(v) for v in row] for row in read.grid()] == rows
        assert python.table_csv(doc_id, 0) == as_csv.text

    # past the last table, another tenant's document, no such document: each told
    missing = client.get(f"/v1/documents/{doc_id}/tables/1?format=csv")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "table_not_found" and "has 1 (0 to 0)" in error["message"]
    other = service.client(service.new_key("strangers")[0])
    for path in (f"/v1/documents/{doc_id}/tables", "/v1/documents/nope/tables/0"):
        refused = other.get(path)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "document_not_found"
