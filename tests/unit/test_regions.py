"""Reading order from layout regions, on hand-made lines and regions."""

from dataclasses import dataclass

from pipelines.regions import (
    RegionOrderParams,
    build_region_layout,
    order_boxes,
    page_layout,
    worth_regions,
)
from pipelines.types import BBox, Block, TextLine

PAGE_H = 1600


@dataclass(frozen=True)
class R:
    kind: str
    bbox: BBox
    score: float = 0.9


def line(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return TextLine(text=text, bbox=(x0, y0, x1, y1), confidence=0.99, quad=quad)


# column lines are paragraph-long, as prose is (a page of short lines reads by the row rules)
FILL = " went on along the column to its edge"


def column(tag: str, x0: float, x1: float, y0: float, n: int) -> list[TextLine]:
    return [line(f"{tag}{i}{FILL}", x0, y0 + 30 * i, x1, y0 + 30 * i + 22) for i in range(n)]


def tags(blocks: list[Block]) -> list[str]:
    """Each line's text in reading order, column lines by their tag."""
    return [ln.text.removesuffix(FILL) for b in blocks for ln in b.lines]


def texts(lines: list[TextLine], regions: list[R]) -> list[str]:
    blocks = build_region_layout(lines, regions, PAGE_H)  # type: ignore[arg-type]
    assert blocks is not None
    return tags(blocks)


def test_two_columns_under_a_spanning_title() -> None:
    title = [line("Title", 300, 60, 900, 110)]
    left, right = column("L", 80, 580, 200, 8), column("R", 640, 1140, 200, 8)
    regions = [
        R("text", (630, 190, 1150, 440)),
        R("title", (290, 50, 910, 120)),
        R("text", (70, 190, 590, 440)),
    ]
    got = texts([*right, *left, *title], regions)
    assert got == ["Title"] + [f"L{i}" for i in range(8)] + [f"R{i}" for i in range(8)]


def test_three_columns_with_paragraph_gaps_at_the_same_height() -> None:
    # each column has two paragraphs whose gap falls at the same height in every column: the
    # order must still be column by column, not band by band
    cols = []
    regions = []
    for c, x in enumerate((60, 440, 820)):
        top = column(f"C{c}a", x, x + 340, 200, 5)
        bottom = column(f"C{c}b", x, x + 340, 400, 5)
        cols += top + bottom
        regions += [R("text", (x - 5, 195, x + 345, 345)), R("text", (x - 5, 395, x + 345, 545))]
    got = texts(cols[::-1], regions[::-1])
    want = [f"C{c}{p}{i}" for c in range(3) for p in "ab" for i in range(5)]
    assert got == want


def test_figure_with_caption_inside_a_column_stays_in_its_column() -> None:
    left_top = column("A", 80, 580, 200, 4)
    caption = [line("Figure 1: growth", 80, 700, 500, 722)]
    left_bottom = column("B", 80, 580, 760, 4)
    right = column("R", 640, 1140, 200, 12)
    regions = [
        R("text", (70, 190, 590, 320)),
        R("figure", (90, 340, 570, 680)),
        R("figure_caption", (70, 695, 510, 727)),
        R("text", (70, 755, 590, 880)),
        R("text", (630, 190, 1150, 560)),
    ]
    blocks = build_region_layout([*right, *caption, *left_bottom, *left_top], regions, PAGE_H)  # type: ignore[arg-type]
    assert blocks is not None
    kinds = [b.kind for b in blocks]
    assert kinds == ["text", "figure", "figure_caption", "text", "text"]
    figure = blocks[1]
    assert figure.lines == () and figure.bbox == (90, 340, 570, 680)
    got = tags(blocks)
    assert got == [
        *(f"A{i}" for i in range(4)),
        "Figure 1: growth",
        *(f"B{i}" for i in range(4)),
        *(f"R{i}" for i in range(12)),
    ]


def test_page_wide_table_under_two_columns_reads_after_both_with_its_caption() -> None:
    left, right = column("L", 80, 580, 200, 8), column("R", 640, 1140, 200, 8)
    caption = [line("Table 1: results", 80, 500, 400, 522)]
    rows = []
    for r in range(3):
        y = 540 + 30 * r
        rows += [line(f"r{r}c{c}", 80 + 360 * c, y, 300 + 360 * c, y + 22) for c in range(3)]
    footer = [line("7", 590, 1540, 610, 1562)]
    header = [line("Journal of Things", 80, 20, 500, 42)]
    regions = [
        R("table", (70, 535, 1150, 630)),
        R("table_caption", (70, 495, 410, 527)),
        R("text", (70, 190, 590, 440)),
        R("text", (630, 190, 1150, 440)),
        R("footer", (580, 1535, 620, 1567)),
        R("header", (70, 15, 510, 47)),
    ]
    blocks = build_region_layout(
        [*rows[::-1], *footer, *caption, *right, *left, *header], regions, PAGE_H
    )  # type: ignore[arg-type]
    assert blocks is not None
    assert [b.kind for b in blocks] == [
        "header",
        "text",
        "text",
        "table_caption",
        "table",
        "footer",
    ]
    got = tags(blocks)
    cells = [f"r{r}c{c}" for r in range(3) for c in range(3)]
    assert got == [
        "Journal of Things",
        *(f"L{i}" for i in range(8)),
        *(f"R{i}" for i in range(8)),
        "Table 1: results",
        *cells,
        "7",
    ]


def test_a_form_without_prose_regions_is_left_to_the_row_rules() -> None:
    lines = []
    for i in range(8):
        lines += [line(f"K{i}:", 50, 100 + 40 * i, 150, 122 + 40 * i)]
        lines += [line(f"V{i}", 400, 100 + 40 * i, 520, 122 + 40 * i)]
    # the model sees the form as a table and a figure (a logo), no prose
    regions = [R("table", (40, 90, 530, 430)), R("figure", (600, 20, 700, 80))]
    assert build_region_layout(lines, regions, PAGE_H) is None  # type: ignore[arg-type]
    assert build_region_layout(lines, [], PAGE_H) is None


def test_a_line_outside_every_region_still_gets_its_place() -> None:
    left, right = column("L", 80, 580, 200, 8), column("R", 640, 1140, 200, 8)
    missed = [line("missed line", 640, 460, 1140, 482)]  # under the right column, no region
    regions = [R("text", (70, 190, 590, 440)), R("text", (630, 190, 1150, 440))]
    got = texts([*missed, *right, *left], regions)
    assert got == [f"L{i}" for i in range(8)] + [f"R{i}" for i in range(8)] + ["missed line"]


def test_a_header_in_the_middle_of_the_page_is_text() -> None:
    body = column("B", 80, 1100, 200, 8)
    regions = [R("text", (70, 190, 1110, 440)), R("header", (70, 700, 500, 730))]
    mid = [line("not a header", 80, 702, 480, 724)]
    blocks = build_region_layout([*mid, *body], regions, PAGE_H)  # type: ignore[arg-type]
    assert blocks is not None and [b.kind for b in blocks] == ["text", "text"]
    assert blocks[-1].text == "not a header"


def test_order_boxes_single_column_is_top_to_bottom() -> None:
    boxes: list[BBox] = [(50, 300, 900, 400), (50, 100, 900, 200), (60, 500, 880, 600)]
    assert order_boxes(boxes) == [1, 0, 2]
    assert order_boxes([]) == []


def test_a_form_of_short_lines_in_text_regions_is_left_to_the_row_rules() -> None:
    # the model covers a form's key/value columns with "text" regions; the lines are short
    keys = [line(f"Key {i}:", 80, 200 + 30 * i, 300, 222 + 30 * i) for i in range(8)]
    values = [line(f"value {i}", 640, 200 + 30 * i, 900, 222 + 30 * i) for i in range(8)]
    regions = [R("text", (70, 190, 310, 440)), R("text", (630, 190, 910, 440))]
    assert build_region_layout([*keys, *values], regions, PAGE_H) is None  # type: ignore[arg-type]
    # the same geometry with paragraph-long lines is two columns
    left, right = column("L", 80, 580, 200, 8), column("R", 640, 1140, 200, 8)
    regions = [R("text", (70, 190, 590, 440)), R("text", (630, 190, 1150, 440))]
    assert texts([*right, *left], regions) == [f"L{i}" for i in range(8)] + [
        f"R{i}" for i in range(8)
    ]


def test_one_region_over_two_paragraphs_gives_two_blocks() -> None:
    # the model draws one text region over both; the first paragraph ends in a short line
    first = column("P", 80, 1100, 200, 4)
    short = [line(f"P4{FILL}", 80, 320, 500, 342)]
    second = column("Q", 80, 1100, 350, 4)
    regions = [R("text", (70, 190, 1110, 480))]
    blocks = build_region_layout([*second, *short, *first], regions, PAGE_H)  # type: ignore[arg-type]
    assert blocks is not None
    assert [tags([b]) for b in blocks] == [
        [f"P{i}" for i in range(5)],
        [f"Q{i}" for i in range(4)],
    ]


def test_a_paragraph_whose_last_line_runs_nearly_full_ends_at_the_paragraph_space() -> None:
    # lines 22 high, 2 apart; the first paragraph's last line stops 80 short of the margin,
    # which a wrapped line may do, and 14 of space (under the 0.8 line heights that keep two
    # lines in one block) follow it: that space alone tells the paragraphs apart
    def rows(tag: str, y0: float, n: int, x1: float = 1100) -> list[TextLine]:
        return [line(f"{tag}{i}{FILL}", 80, y0 + 24 * i, x1, y0 + 24 * i + 22) for i in range(n)]

    first = rows("P", 200, 4)
    nearly = [line(f"P4{FILL}", 80, 296, 1020, 318)]
    second = rows("Q", 332, 4)
    regions = [R("text", (70, 190, 1110, 440))]
    blocks = build_region_layout([*second, *nearly, *first], regions, PAGE_H)  # type: ignore[arg-type]
    assert blocks is not None
    assert [tags([b]) for b in blocks] == [
        [f"P{i}" for i in range(5)],
        [f"Q{i}" for i in range(4)],
    ]


def test_a_table_of_mostly_short_cells_is_left_to_the_row_rules() -> None:
    # a form's table the model covers with "text" columns: long entries in one column, short
    # cells in the others. Read by region it would come out column by column; most of its lines
    # are short, so the page is no page of paragraphs and the rows read across.
    rows = [
        [
            line(f"item {i} described at paragraph length", 80, 200 + 30 * i, 560, 222 + 30 * i),
            line(f"{i}.00", 640, 200 + 30 * i, 700, 222 + 30 * i),
            line(f"N{i}", 760, 200 + 30 * i, 800, 222 + 30 * i),
        ]
        for i in range(8)
    ]
    lines = [ln for row in rows for ln in row]
    regions = [R("text", (70, 190, 570, 440)), R("text", (630, 190, 810, 440))]
    assert not worth_regions(lines, RegionOrderParams())
    assert build_region_layout(lines, regions, PAGE_H) is None  # type: ignore[arg-type]
    # the row rules read each row across
    blocks = page_layout(lines, regions, PAGE_H)  # type: ignore[arg-type]
    read = [ln.text for b in blocks for ln in b.lines]
    assert read[:4] == [
        "item 0 described at paragraph length",
        "0.00",
        "N0",
        "item 1 described at paragraph length",
    ]
    assert worth_regions(column("L", 80, 580, 200, 8), RegionOrderParams())


def test_a_column_line_a_region_took_across_the_gutter_is_read_in_its_own_column() -> None:
    # the right column's region reaches across the gutter over the left column's L5, which is
    # a little wider than its own region: the right region holds all of it and wins it. The
    # line goes back to the left column, and the right region no longer spans both columns.
    left, right = column("L", 80, 580, 200, 10), column("R", 640, 1140, 200, 6)
    regions = [
        R("text", (70, 190, 590, 345)),
        R("text", (70, 345, 560, 500)),
        R("text", (60, 190, 1150, 375)),
    ]
    got = texts([*left, *right], regions)
    assert got == [f"L{i}" for i in range(10)] + [f"R{i}" for i in range(6)]
