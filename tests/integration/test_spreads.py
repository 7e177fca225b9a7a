"""Page spreads and columns of short lines, read from real rendered pages by the real engine
(PP-OCRv6 and the layout model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.engine import OcrEngine
from pipelines.types import PageResult
from tests.pagegen import questionnaire_page, spread

LEFT = [
    ("1. How do you travel?", ["By car", "By bus", "On foot"]),
    ("2. How often?", ["Daily", "Weekly"]),
    ("3. Any pets at home?", ["Yes", "No", "Rather not say", "Other"]),
    ("7. Own a bicycle?", ["Yes", "No"]),
    ("8. Garden size", ["None", "Small", "Large"]),
    ("9. Any children?", ["None", "One", "Two or more"]),
]
RIGHT = [
    ("4. Your age group", ["Under 30", "Between 30 and 60", "Over 60"]),
    ("5. Do you smoke?", ["Never", "Sometimes", "Often", "Used to"]),
    ("6. Sleep well?", ["Yes", "No"]),
    ("10. Read papers?", ["Every day", "Rarely"]),
    ("11. Which ones?", ["Local", "National", "Online only"]),
]


def _questions(page: PageResult) -> list[str]:
    """The question numbers in the order the page was read."""
    return [m.group(1) for ln in page.lines if (m := re.match(r"\s*(\d+)\.\s", ln.text))]


def _read(engine: OcrEngine, path: Path) -> PageResult:
    (page,) = list(engine.read_path(path))
    return page


@pytest.mark.slow
def test_two_columns_of_short_lines_read_column_by_column(
    engine: OcrEngine, tmp_path: Path
) -> None:
    path = tmp_path / "survey.png"
    questionnaire_page("Household survey 2024", [LEFT, RIGHT]).save(path)
    page = _read(engine, path)
    assert page.halves is None  # one page
    assert _questions(page) == ["1", "2", "3", "7", "8", "9", "4", "5", "6", "10", "11"]
    # each question is read with its options
    first = next(b for b in page.blocks if b.text.startswith("1. How"))
    assert [ln.text.lstrip("□ ").strip() for ln in first.lines[1:]] == LEFT[0][1]


@pytest.mark.slow
def test_a_spread_reads_as_two_pages_left_then_right(engine: OcrEngine, tmp_path: Path) -> None:
    left = questionnaire_page("Household survey 2024", [LEFT, RIGHT])
    right = questionnaire_page("Household survey, part two", [RIGHT, LEFT])
    path = tmp_path / "spread.png"
    spread(left, right).save(path)
    page = _read(engine, path)
    assert page.halves is not None
    (l0, _, l2, _), (r0, _, r2, _) = page.halves
    assert l0 == 0 and r2 == left.width + right.width and l2 == r0
    assert left.width * 0.8 < l2 < left.width + 0.2 * right.width  # the gutter, near the seam
    # every line of the left page before any of the right page, each page column by column
    texts = [ln.text for ln in page.lines]
    split = texts.index(next(t for t in texts if "part two" in t))
    assert all(ln.bbox[2] <= l2 for ln in page.lines[:split])
    assert all(ln.bbox[0] >= l2 for ln in page.lines[split:])
    order = _questions(page)
    assert order[:11] == ["1", "2", "3", "7", "8", "9", "4", "5", "6", "10", "11"]
    assert order[11:] == ["4", "5", "6", "10", "11", "1", "2", "3", "7", "8", "9"]
    # the split is kept with the page
    assert PageResult.from_dict(page.to_dict()).halves == page.halves
