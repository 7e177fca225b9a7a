"""The web app in a real browser (Playwright driving Debian's Chromium) against the live
service: sign in, upload the sample scan, watch it reach done, the viewer's boxes against the
page JSON, search and open a hit, hostile text stays inert, a wrong key is told, phone width.
A failing test leaves a screenshot in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, Service
from tests.e2e.test_tables_service import table_page, upload_image
from tests.pagegen import text_page

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Debian's Chromium, never a downloaded build
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    dialogs: list[str] = []  # alerts (what injected markup would raise); a confirm is accepted

    def on_dialog(d: Any) -> None:
        if d.type == "confirm":
            d.accept()
        else:
            dialogs.append(d.message)
            d.dismiss()

    pg.on("dialog", on_dialog)
    pg.dialogs = dialogs
    yield pg
    report = getattr(request.node, "rep_call", None)  # set by tests/e2e/conftest.py
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def sign_in(page: Any, service: Service, key: str) -> None:
    page.goto(service.url + "/")
    page.fill("#key", key)
    page.click("#signin button[type=submit]")


def test_wrong_key_is_told_and_the_page_has_a_strict_policy(page: Any, service: Service) -> None:
    response = page.goto(service.url + "/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    sign_in(page, service, "sk-not-a-key")
    page.wait_for_selector("#status.error")
    assert "not accepted" in page.inner_text("#status")
    assert page.is_hidden("#app")
    assert "sk-not-a-key" not in page.url


def test_upload_view_search_and_hostile_text(page: Any, service: Service, tmp_path: Path) -> None:
    key, _ = service.new_key("web")
    sign_in(page, service, key)
    page.wait_for_selector("#app:not([hidden])")
    assert key not in page.url

    # upload the sample scan and a page whose printed text and file name are markup
    hostile = tmp_path / "<img src=x onerror=alert(3)>.png"
    text_page([*HOSTILE, "Ordinary words after the markup"]).save(hostile)
    page.set_input_files("#files", [str(ROOT / "docs" / "sample-scan.pdf"), str(hostile)])
    page.fill("#metadata", '{"note": "<b onmouseover=alert(4)>x</b>"}')
    page.click("#upload button[type=submit]")
    # (no wait_for_function: the page's policy forbids the eval it needs, as it should)
    page.locator("#uploads li[data-status=done]").nth(1).wait_for(timeout=240_000)

    # the documents table lists both; the file name is shown as text
    rows = page.locator("#documents tbody tr")
    assert rows.count() == 2
    assert page.locator("#documents td", has_text="<img src=x onerror=alert(3)>.png").count() == 1

    # the viewer draws one box per line where the page JSON says
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as http:
        docs = http.get("/v1/documents").json()["documents"]
        sample = next(d for d in docs if d["filename"] == "sample-scan.pdf")
        odd = next(d for d in docs if d["filename"] != "sample-scan.pdf")
        page_json = http.get(f"/v1/documents/{sample['id']}/pages/1").json()
    page.locator(f"#documents tr[data-id='{sample['id']}'] button", has_text="Open").click()
    page.wait_for_selector("#overlay rect.line")
    lines = [line for block in page_json["blocks"] for line in block["lines"]]
    drawn = page.eval_on_selector_all(
        "#overlay rect.line",
        "rs => rs.map(r => ['x','y','width','height'].map(a => +r.getAttribute(a)))",
    )
    assert len(drawn) == len(lines)
    for (x, y, w, h), line in zip(drawn, lines, strict=True):
        x0, y0, x1, y1 = line["bbox"]
        assert abs(x - x0) < 0.01 and abs(y - y0) < 0.01
        assert abs(w - (x1 - x0)) < 0.01 and abs(h - (y1 - y0)) < 0.01
    assert page.locator("#overlay rect.block").count() == len(page_json["blocks"])
    # ... and on screen they sit where those pixels of the page image are shown
    img = page.locator("#page-image").bounding_box()
    scale = (img["width"] - 2) / page_json["width"]  # 1 px border each side
    for k in (0, len(lines) // 2, len(lines) - 1):
        shown = page.locator("#overlay rect.line").nth(k).bounding_box()
        x0, y0, x1, y1 = lines[k]["bbox"]
        assert abs(shown["x"] - (img["x"] + 1 + x0 * scale)) < 3, (k, shown, img, scale)
        assert abs(shown["y"] - (img["y"] + 1 + y0 * scale)) < 3, (k, shown, img, scale)
        # the outline (3 px at most) is drawn half outside the box
        assert abs(shown["height"] - (y1 - y0) * scale) < 6, (k, shown, img, scale)
    # a line clicked in the text lights up on the image
    page.locator("#page-text .line").nth(2).click()
    assert page.locator("#overlay rect.line.active").count() == 1
    # ... and a line clicked on the image lights up in the text
    page.locator("#overlay rect.line").nth(4).click(force=True)
    assert page.locator("#page-text .line.active").get_attribute("data-line") == "4"
    assert page.locator("#overlay rect.line.active").count() == 1
    page.check("#show-order")
    assert page.locator("#overlay text").count() == len(page_json["blocks"])
    if os.environ.get("SCANRAG_UPDATE_SCREENSHOT"):
        page.locator("#viewer").screenshot(path=str(ROOT / "docs" / "viewer.png"))

    # search: hits with their crop and the query's words marked; a hit opens its region
    page.fill("#query", "pumping station repairs")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#hits li.hit mark")
    marks = [
        m.lower() for m in page.locator("#hits li.hit").first.locator("mark").all_inner_texts()
    ]
    assert {"pumping", "station"} <= set(marks) or "repairs" in marks
    page.locator("#hits img.hit-crop[src^='blob:']").first.wait_for()
    page.locator("#hits li.hit button").first.click()
    page.wait_for_selector("#overlay rect.hit")
    # the highlight is the sentence's lines (the hit's ``lines``), not its whole chunk
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as http:
        hit = http.post("/v1/search", json={"query": "pumping station repairs", "k": 10}).json()
    top = hit["hits"][0]
    assert top["lines"], top
    cited = " ".join(line["text"] for line in top["lines"]).lower()
    assert "pumping" in cited or "repairs" in cited, cited
    assert len(top["lines"]) < len(top["line_boxes"]), top  # fewer lines than the chunk's
    lit = page.eval_on_selector_all(
        "#overlay rect.hit",
        "rs => rs.map(r => ['x','y','width','height'].map(a => +r.getAttribute(a)))",
    )
    assert len(lit) == len(top["lines"])
    for (x, y, w, h), line in zip(lit, top["lines"], strict=True):
        x0, y0, x1, y1 = line["bbox"]
        assert abs(x - x0) < 0.01 and abs(y - y0) < 0.01
        assert abs(w - (x1 - x0)) < 0.01 and abs(h - (y1 - y0)) < 0.01
    lit_area = sum(w * h for _, _, w, h in lit)
    x0, y0, x1, y1 = top["bbox"]
    assert lit_area < 0.5 * (x1 - x0) * (y1 - y0), (lit_area, top["bbox"])

    # the hostile page: its OCR text, file name and metadata render as text, nothing runs
    page.locator(f"#documents tr[data-id='{odd['id']}'] button", has_text="Open").click()
    page.locator("#page-label", has_text="onerror=alert(3)").wait_for()
    page.locator("#page-text .line", has_text="Ordinary words").wait_for()
    text = page.inner_text("#page-text")
    assert "script" in text and "onerror" in text
    assert page.locator("#page-text script, #page-text img, #documents img").count() == 0
    assert page.dialogs == []

    # keyboard: the lines are reachable and usable without a mouse
    assert page.locator("#page-text .line[tabindex='0']").count() > 0

    # delete: the row goes, and the API no longer has the document
    page.locator(f"#documents tr[data-id='{odd['id']}'] button", has_text="Delete").click()
    page.locator(f"#documents tr[data-id='{odd['id']}']").wait_for(state="detached")
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as http:
        assert http.get(f"/v1/documents/{odd['id']}").status_code == 404

    # phone width: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert width <= 1
    # keyboard: the drop zone is reachable and usable without a mouse
    assert page.get_attribute("#drop", "tabindex") == "0"
    # the deleted document was open: it left the viewer (tests/e2e/test_web_rough_edges.py)
    assert page.is_hidden("#viewer")


def test_a_table_is_drawn_as_its_cells_and_a_hit_in_it_lights_up_its_cells(
    page: Any, service: Service
) -> None:
    key, _ = service.new_key("web-tables")
    query = "Sulphur 560"
    with service.client(key) as http:
        doc_id = upload_image(http, table_page()[0], "emissions.png")
        assert service.wait_final(http, doc_id)["status"] == "done"
        page_json = http.get(f"/v1/documents/{doc_id}/pages/1").json()
        hits = http.post("/v1/search", json={"query": query, "k": 10}).json()["hits"]
    table = next(b for b in page_json["blocks"] if b["kind"] == "table")
    assert table.get("table"), "the table's cells were not recognised (table model not wired?)"
    grid = table["table"]
    rank = next((i for i, h in enumerate(hits) if h.get("cells")), None)
    assert rank is not None, f"no hit carries its cells (search side not ready?): {hits}"
    cells = hits[rank]["cells"]

    sign_in(page, service, key)
    page.wait_for_selector("#app:not([hidden])")
    page.fill("#query", query)
    page.click("#search button[type=submit]")
    page.wait_for_selector("#hits li.hit")
    page.locator("#hits li.hit button").nth(rank).click()
    page.wait_for_selector("#overlay rect.hit")

    # the grid over the page: one box per cell, where the page JSON has it
    drawn = page.eval_on_selector_all(
        "#overlay rect.cell",
        "rs => rs.map(r => ['x','y','width','height'].map(a => +r.getAttribute(a)))",
    )
    assert len(drawn) == len(grid["cells"])
    for (x, y, w, h), cell in zip(drawn, grid["cells"], strict=True):
        x0, y0, x1, y1 = cell["bbox"]
        assert abs(x - x0) < 0.01 and abs(y - y0) < 0.01
        assert abs(w - (x1 - x0)) < 0.01 and abs(h - (y1 - y0)) < 0.01
    # the hit lights up the cells it matched, not the whole table
    lit = page.eval_on_selector_all(
        "#overlay rect.hit",
        "rs => rs.map(r => ['x','y','width','height'].map(a => +r.getAttribute(a)))",
    )
    assert len(lit) == len(cells) < len(grid["cells"])
    for (x, y, w, h), cell in zip(lit, cells, strict=True):
        x0, y0, x1, y1 = cell["bbox"]
        assert abs(x - x0) < 0.01 and abs(y - y0) < 0.01
        assert abs(w - (x1 - x0)) < 0.01 and abs(h - (y1 - y0)) < 0.01
    # the table beside the page, as a table, its matched cells marked
    shown = page.locator("#page-text table.cells")
    assert shown.locator("tr").count() == grid["rows"]
    assert shown.locator("td, th").count() == len(grid["cells"])
    marked = shown.locator(".hit").all_inner_texts()
    assert len(marked) == len(cells) and any("560" in t for t in marked)
    # a cell clicked beside the page lights up on it
    shown.locator("td", has_text="Methane").click()
    assert page.locator("#overlay rect.cell.active").count() == 1
