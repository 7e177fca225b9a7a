"""The web app shows every block kind of the vocabulary (``core.vocab.BLOCK_KINDS``), in a
real browser (Playwright driving Debian's Chromium) against the live service: the viewer's
legend names each kind with its colour, and each box on the page is drawn in its kind's colour.
A failing test leaves a screenshot in test-artifacts/ (the ``page`` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from core.vocab import BLOCK_KINDS
from tests.e2e import test_web_app
from tests.e2e.conftest import Service
from tests.e2e.test_web_rough_edges import signed_in
from tests.pagegen import text_page

pytestmark = pytest.mark.slow
browser, page = test_web_app.browser, test_web_app.page  # the same fixtures: Chromium, a tab


def rgb(colour: str) -> str:
    """``#rrggbb`` as the browser's computed style writes it."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_the_viewer_legend_shows_every_block_kind_in_its_colour(
    page: Any, service: Service, tmp_path: Path
) -> None:
    vocab = httpx.get(service.url + "/app/kinds.json").json()["blocks"]
    colour = {b["kind"]: b["colour"] for b in vocab}
    signed_in(page, service, "web-kinds")
    scan = tmp_path / "kinds.png"
    text_page(["Harbour Works Notice", "The pumping station is closed for repairs."]).save(scan)
    page.set_input_files("#files", str(scan))
    page.click("#upload button[type=submit]")
    page.locator("#uploads li[data-status=done]").wait_for(timeout=240_000)
    page.locator("#documents tbody tr[data-id] button", has_text="Open").first.click()
    page.wait_for_selector("#overlay rect.block")

    legend = page.locator("#legend li")
    assert legend.first.is_visible()
    assert [legend.nth(i).get_attribute("data-kind") for i in range(legend.count())] == list(
        BLOCK_KINDS
    )
    assert legend.all_inner_texts() == [k.replace("_", " ") for k in BLOCK_KINDS]
    swatches = page.eval_on_selector_all(
        "#legend li .swatch", "ss => ss.map(s => getComputedStyle(s).borderTopColor)"
    )
    assert swatches == [rgb(colour[k]) for k in BLOCK_KINDS]
    # the legend fits a phone's width (it wraps)
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth") <= 1

    # each box on the page is drawn in the colour the legend gives its kind
    drawn = page.eval_on_selector_all(
        "#overlay rect.block", "rs => rs.map(r => [r.dataset.kind, r.getAttribute('stroke')])"
    )
    assert drawn
    for kind, stroke in drawn:
        assert kind in BLOCK_KINDS and stroke == colour[kind], (kind, stroke)
