"""The web app's rough edges, in a real browser (Playwright driving Debian's Chromium) against
the live service: the icon, the key field after sign-in, empty states, error banners that
clear, the documents table in step with the upload list, the Markdown of the page on show,
readable reading-order numbers, a deleted document leaving the viewer, a phone-width layout.
A failing test leaves a screenshot in test-artifacts/ (the ``page`` fixture)."""

from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.e2e import test_web_app
from tests.e2e.conftest import Service
from tests.e2e.test_web_app import sign_in
from tests.pagegen import font

pytestmark = pytest.mark.slow
browser, page = test_web_app.browser, test_web_app.page  # the same fixtures: Chromium, a tab

PHONE = {"width": 375, "height": 812}
NAME = "Harbour works notice for the quarter.pdf"

# the words of these never break across lines (a long file name may)
WHOLE_WORDS = (
    "header h1, header label, header button, h2, #documents th, #documents td.status,"
    " #documents td.actions button, .viewer-bar label, .viewer-bar button, #page-label"
)

# per element of the selector: its words that the browser laid out over more than one line
BROKEN_WORDS_JS = """els => els.flatMap(el => {
  const broken = [];
  const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    for (const m of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter(r => r.width > 0);
      const tops = new Set(rects.map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(m[0]);
    }
  }
  return broken;
})"""

BOXES_JS = """els => els.map(e => {
  const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""


def form_page(number: int) -> Image.Image:
    """A page of a notice: a title, then six rows of an item and its note, each row a block
    of its own, 70 px apart (at a phone's scale their reading-order numbers would collide)."""
    img = Image.new("RGB", (1400, 900), "white")
    draw = ImageDraw.Draw(img)
    draw.text((80, 60), f"Harbour Works Notice {number}", fill="black", font=font(44))
    for i in range(6):
        y = 160 + 70 * i
        draw.text((80, y), f"Item {i + 1}", fill="black", font=font(26))
        words = f"Pumping station note {number}.{i + 1} repairs"
        draw.text((700, y + 6), words, fill="black", font=font(26))
    return img


def two_page_pdf(path: Path) -> Path:
    first, second = form_page(1), form_page(2)
    buffer = io.BytesIO()
    first.save(buffer, "PDF", resolution=200, save_all=True, append_images=[second])
    path.write_bytes(buffer.getvalue())
    return path


def signed_in(page: Any, service: Service, tenant: str) -> str:
    key, _ = service.new_key(tenant)
    sign_in(page, service, key)
    page.wait_for_selector("#app:not([hidden])")
    return key


def test_the_icon_is_served_under_the_policy(page: Any, service: Service) -> None:
    icon = httpx.get(service.url + "/favicon.ico")
    assert icon.status_code == 200, icon.text
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in icon.headers["content-security-policy"]
    assert ET.fromstring(icon.content).tag == "{http://www.w3.org/2000/svg}svg"

    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(service.url + "/")
    assert page.get_attribute("link[rel=icon]", "href") == "/favicon.ico"
    # the browser decodes it as an image under the page's own policy
    size = page.evaluate(
        """() => new Promise(done => { const i = new Image(); i.onload = () => done(i.naturalWidth);
           i.onerror = () => done(-1); i.src = '/favicon.ico'; })"""
    )
    assert size > 0
    assert refused == []


def test_sign_in_hides_the_key_field_and_sign_out_brings_it_back(
    page: Any, service: Service
) -> None:
    key = signed_in(page, service, "web-keyfield")
    assert page.is_hidden("#key") and page.is_hidden("#key-entry")
    assert page.input_value("#key") == ""
    assert page.is_visible("#signout")
    assert key not in page.content()
    page.click("#signout")
    assert page.is_visible("#key") and page.is_hidden("#signout") and page.is_hidden("#app")
    assert page.get_attribute("#key", "placeholder").startswith("sk_")
    # a wrong key: the field stays, with the error
    page.fill("#key", "sk_wrong")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#status.error")
    assert page.is_visible("#key")


def test_empty_states_say_what_to_do_and_an_error_clears_on_success(
    page: Any, service: Service
) -> None:
    signed_in(page, service, "web-empty")
    empty = page.locator("#documents tbody tr.empty-state")
    empty.wait_for()
    assert "No documents yet" in empty.inner_text() and "Upload" in empty.inner_text()
    colspan = empty.locator("td").get_attribute("colspan")
    assert colspan == str(page.locator("#documents thead th").count())

    page.fill("#query", "pumping station")
    page.click("#search button[type=submit]")
    line = page.locator("#hits li.empty-state")
    line.wait_for()
    assert "upload documents first" in line.inner_text()

    # an upload the API refuses (metadata that is not JSON) shows an error...
    page.set_input_files(
        "#files",
        files=[{"name": "a.png", "mimeType": "image/png", "buffer": png(form_page(1))}],
    )
    page.fill("#metadata", "{not json")
    page.click("#upload button[type=submit]")
    page.wait_for_selector("#status.error")
    assert "refused" in page.inner_text("#status").lower()
    # ... which the next thing that works (a search) clears
    page.click("#search button[type=submit]")
    page.wait_for_selector("#status:not(.error)", state="attached")  # empty: no height
    assert page.inner_text("#status") == ""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_table_and_upload_list_agree_then_the_viewer_and_a_phone(
    page: Any, service: Service, tmp_path: Path
) -> None:
    key = signed_in(page, service, "web-progress")
    # a name as long as people give them: on a phone the page label takes two lines
    page.set_input_files("#files", str(two_page_pdf(tmp_path / NAME)))
    page.click("#upload button[type=submit]")
    page.locator("#uploads li").first.wait_for()

    # while it is read, the documents table says what the upload list says: read both at
    # once, every 50 ms; a disagreement may last one refresh at most, never a whole stage
    samples: list[tuple[float, str, str]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        item, status, pages = page.evaluate(
            """() => { const li = document.querySelector('#uploads li');
                       const tr = document.querySelector('#documents tbody tr[data-id]');
                       const cells = tr ? [tr.cells[1].textContent, tr.cells[2].textContent] : [];
                       return [li && li.textContent, cells[0] ?? null, cells[1] ?? null]; }"""
        )
        if item and status is not None:
            samples.append((time.monotonic(), item, f"{status} {pages}"))
            if re.search(r": (done|failed)", item) and status in ("done", "failed"):
                break
        time.sleep(0.05)
    assert samples and ": done" in samples[-1][1], samples[-3:]
    assert any(": processing" in item for _, item, _ in samples), "never saw it processing"
    longest, since = 0.0, None
    for at, item, row in samples:
        status, pages = row.split(" ", 1)
        agree = item.startswith(f"{NAME}: {status} {pages + ' pages' if pages else ''}")
        since = None if agree else (since if since is not None else at)
        if since is not None:
            longest = max(longest, at - since)
    assert longest < 1.0, (longest, [s for s in samples if s[1]][:40])

    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as http:
        doc = http.get("/v1/documents").json()["documents"][0]
        markdown = http.get(f"/v1/documents/{doc['id']}/markdown").text
        page_json = http.get(f"/v1/documents/{doc['id']}/pages/2").json()
    assert doc["page_count"] == 2

    # the viewer on page 2: the Markdown toggle shows page 2's part, no page comments
    page.locator(f"#documents tr[data-id='{doc['id']}'] button", has_text="Open").click()
    page.wait_for_selector("#overlay rect.line")
    page.click("#next")
    page.locator("#page-label", has_text="page 2 of 2").wait_for()
    page.check("#show-markdown")
    page.locator("#page-text", has_text="Notice").wait_for()
    shown = page.text_content("#page-text")
    assert "<!--" not in shown
    expected = markdown.split("<!-- page 2 -->", 1)[1].strip()
    assert shown == expected
    assert "Notice 2" in shown and "Notice 1" not in shown
    page.uncheck("#show-markdown")

    # reading-order numbers: one per block, readable, none over another, wide and narrow
    page.check("#show-order")
    for viewport in ({"width": 1280, "height": 900}, PHONE):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(300)  # the resize observer redraws them
        boxes = page.eval_on_selector_all("#overlay text", BOXES_JS)
        assert len(boxes) == len(page_json["blocks"]) >= 10
        assert min(b[3] - b[1] for b in boxes) >= 12, (viewport, boxes)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
                assert min(overlap) <= 0.5, (viewport, a, b)

    # a phone: nothing wider than the screen, no word broken, the page buttons on one line
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 1
    # ... the documents table too: its buttons at hand without scrolling it sideways
    assert page.eval_on_selector(".table-scroll", "e => e.scrollWidth - e.clientWidth") <= 1
    broken = page.eval_on_selector_all(WHOLE_WORDS, BROKEN_WORDS_JS)
    assert broken == [], broken
    prev, label, after = (page.locator(s).bounding_box() for s in ("#prev", "#page-label", "#next"))
    assert abs(prev["y"] - after["y"]) < 2 and prev["x"] < label["x"] < after["x"]
    for button in (prev, after):
        assert button["height"] < 48  # one line of text

    # deleting the open document closes the viewer: no "no document has this id" after it
    page.set_viewport_size({"width": 1280, "height": 900})
    page.fill("#query", "pumping station repairs")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#hits li.hit")
    page.locator(f"#documents tr[data-id='{doc['id']}'] button", has_text="Delete").click()
    page.wait_for_selector("#viewer", state="hidden")
    page.locator("#status", has_text=f"Deleted {NAME}").wait_for()
    assert page.locator("#status.error").count() == 0
    assert page.locator("#hits li.hit").count() == 0
    page.locator("#documents tbody tr.empty-state").wait_for()
