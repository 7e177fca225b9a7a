"""Spreads (two pages on one sheet) and prose "tables", on hand-made lines and regions."""

from pipelines.layout import build_layout
from pipelines.regions import build_region_layout, sheet_layout
from pipelines.spreads import find_spread
from pipelines.types import TextLine
from tests.unit.test_regions import R, line

FILL = " ran along the column to its edge"


def column(tag: str, x0: float, x1: float, y0: float, n: int) -> list[TextLine]:
    return [line(f"{tag}{i}{FILL}", x0, y0 + 30 * i, x1, y0 + 30 * i + 22) for i in range(n)]


def page(tag: str, x0: float) -> list[TextLine]:
    """A page of two columns of 40 lines, 1000 px wide from ``x0``."""
    return [
        *column(f"{tag}a", x0 + 100, x0 + 480, 100, 40),
        *column(f"{tag}b", x0 + 520, x0 + 900, 100, 40),
    ]


def test_two_pages_on_a_landscape_sheet_are_a_spread() -> None:
    lines = [*page("R", 1000), *page("L", 0)]
    spread = find_spread(lines, 2000, 1400)
    assert spread is not None
    assert 900 < spread.gutter < 1100
    blocks, found = sheet_layout(lines, None, 2000, 1400)
    assert found == spread
    order = [ln.text.removesuffix(FILL) for b in blocks for ln in b.lines]
    # left page first, each page column by column
    assert order[:2] == ["La0", "La1"] and order[40] == "Lb0" and order[80] == "Ra0"
    assert order[120] == "Rb0"


def test_a_portrait_page_or_a_thin_side_is_no_spread() -> None:
    # the same page's columns on a portrait sheet: a column gutter, not two pages
    assert find_spread(page("L", 0), 1000, 1400) is None
    # a landscape sheet whose right side holds a few lines only (a note beside a page)
    lines = [*page("L", 0), *column("N", 1100, 1400, 100, 4)]
    assert find_spread(lines, 2000, 1400) is None
    # a wide table the model found across the middle may not be cut
    lines = [*page("L", 0), *page("R", 1000)]
    assert find_spread(lines, 2000, 1400, [(100.0, 100.0, 1900.0, 1300.0)]) is None


def test_a_table_the_model_drew_over_prose_columns_does_not_cut_them() -> None:
    left, right = column("A", 100, 480, 100, 20), column("B", 520, 900, 100, 20)
    lines = [*left, *right]
    regions = [
        R("text", (100, 100, 480, 580)),
        R("text", (520, 100, 900, 580)),
        # drawn over both columns; it takes the lines the text regions leave out
        R("table", (90, 90, 910, 720)),
    ]
    blocks = build_region_layout(lines, regions, 1400)
    assert blocks is not None
    assert not any(b.kind == "table" for b in blocks)
    order = [ln.text.removesuffix(FILL) for b in blocks for ln in b.lines]
    assert order == [ln.text.removesuffix(FILL) for ln in lines]


def test_a_receipts_totals_are_read_by_rows() -> None:
    labels = ["Total Sales", "Rounding Adjustment", "Service Charge", "TOTAL"]
    amounts = ["RM 65.20", "RM 0.00", "RM 0.00", "RM 65.20"]
    lines = []
    for i, (a, b) in enumerate(zip(labels, amounts, strict=True)):
        lines += [
            line(a, 50, 100 + 30 * i, 300, 122 + 30 * i),
            line(b, 500, 100 + 30 * i, 620, 122 + 30 * i),
        ]
    order = [ln.text for b in build_layout(lines) for ln in b.lines]
    assert order == [t for pair in zip(labels, amounts, strict=True) for t in pair]
