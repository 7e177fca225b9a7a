from pipelines.layout import build_layout, page_skew, xy_cut
from pipelines.types import TextLine


def line(text: str, x0: float, y0: float, x1: float, y1: float) -> TextLine:
    quad = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return TextLine(text=text, bbox=(x0, y0, x1, y1), confidence=0.99, quad=quad)


def reading(lines: list[TextLine]) -> list[str]:
    return [ln.text for b in build_layout(lines) for ln in b.lines]


def test_two_columns_of_prose_read_column_by_column() -> None:
    left = [line(f"L{i} " + "x" * 40, 50, 100 + 30 * i, 650, 122 + 30 * i) for i in range(6)]
    right = [line(f"R{i} " + "x" * 40, 720, 115 + 30 * i, 1320, 137 + 30 * i) for i in range(6)]
    title = line("Title", 50, 20, 600, 70)
    got = reading([*right, title, *left])
    assert got == ["Title"] + [f"L{i} " + "x" * 40 for i in range(6)] + [
        f"R{i} " + "x" * 40 for i in range(6)
    ]
    blocks = build_layout([*right, title, *left])
    assert blocks[0].kind == "title"
    assert [len(b.lines) for b in blocks] == [1, 6, 6]


def test_form_rows_read_row_by_row() -> None:
    # stacked short labels with values to their right: a form, not two columns
    rows = []
    for i, (k, v) in enumerate([("Name:", "Ada"), ("Date:", "1987"), ("To:", "Board")]):
        rows += [
            line(k, 50, 100 + 30 * i, 150, 122 + 30 * i),
            line(v, 400, 102 + 30 * i, 520, 124 + 30 * i),
        ]
    assert reading(rows[::-1]) == ["Name:", "Ada", "Date:", "1987", "To:", "Board"]


def test_stacked_single_lines_form_one_block() -> None:
    address = [
        line(t, 50, 100 + 30 * i, 300, 122 + 30 * i)
        for i, t in enumerate(["1 Main St", "Springfield", "USA"])
    ]
    blocks = build_layout(address)
    assert len(blocks) == 1 and blocks[0].text == "1 Main St\nSpringfield\nUSA"


def test_skew_is_measured_from_quads() -> None:
    tilted = TextLine("t", (0, 0, 100, 10), 0.9, quad=((0, 0), (100, 5), (100, 15), (0, 10)))
    assert abs(page_skew([tilted]) - 0.04996) < 1e-3
    assert page_skew([]) == 0.0


def test_xy_cut_handles_empty_and_single() -> None:
    assert xy_cut([]) == []
    assert xy_cut([(0, 0, 1, 1)]) == [0]


def test_line_on_its_side_is_read_at_its_middle_without_splitting_rows() -> None:
    # a form row whose value runs over two lines, a row below it, and a file number up the
    # right margin spanning both: the rows stay rows, the number comes at the row of its middle
    lines = [
        line("Note:", 50, 100, 120, 122),
        line("first line of a long note " + "x" * 20, 200, 100, 650, 122),
        line("its end", 200, 130, 500, 152),
        line("Date:", 50, 170, 120, 192),
        line("1987", 200, 170, 300, 192),
        line("82253245", 700, 90, 722, 200),
    ]
    assert reading(lines[::-1]) == [
        "Note:",
        "first line of a long note " + "x" * 20,
        "its end",
        "82253245",
        "Date:",
        "1987",
    ]
    number = next(b for b in build_layout(lines) if b.text == "82253245")
    assert number.kind == "text"  # its print is as high as the box is wide, not a title


def test_label_does_not_run_on_into_the_line_below() -> None:
    # "LABEL: text" rows whose text wraps back to the margin, under the label
    lines = [
        line("$7.00 CARTON COUPON/BUYDOWN:", 38, 352, 230, 365),
        line("Effective in those retail calls that we could not exchange.", 248, 351, 591, 367),
        line("Those situations were limited.", 38, 367, 182, 380),
    ]
    assert reading(lines) == [
        "$7.00 CARTON COUPON/BUYDOWN:",
        "Effective in those retail calls that we could not exchange.",
        "Those situations were limited.",
    ]


def test_a_cell_centred_on_a_two_line_header_reads_after_its_first_row() -> None:
    # "Account" (one line, centred on the header) is lower than the first header row by 0.47
    # of that row's height: its box overlaps the row, but its print sits between the two rows
    header = [
        line("Account", 88, 464.5, 176, 482.5),
        line("Ind/Lor", 203, 458, 246, 474),
        line("Number of", 268, 458, 325, 474),
        line("Volume", 203, 477, 246, 493),
        line("Stores", 268, 477, 325, 493),
    ]
    assert reading(header) == ["Ind/Lor", "Number of", "Account", "Volume", "Stores"]
    # while a value printed a little lower than its label is still read beside it
    assert reading([line("Total:", 50, 100, 130, 118), line("12", 200, 104, 240, 122)]) == [
        "Total:",
        "12",
    ]


def test_a_margin_number_is_read_before_a_row_whose_print_is_below_its_middle() -> None:
    # the number's middle (y 101) is inside the next row's box (100-120) but above the band a
    # row is joined in (102-118, ROW_TOLERANCE of the height round its centre): it belongs to
    # the gap between the rows, so it is read before that row
    lines = [
        line("Invoice for March", 50, 60, 300, 80),
        line("Total: 12.00", 50, 100, 300, 120),
        line("82254765", 650, 40, 670, 162),
        line("Signed", 50, 140, 200, 160),
    ]
    assert reading(lines) == ["Invoice for March", "82254765", "Total: 12.00", "Signed"]
    # whereas a middle inside a row's print puts the number at the end of that row
    lines[2] = line("82254765", 650, 50, 670, 172)
    assert reading(lines) == ["Invoice for March", "Total: 12.00", "82254765", "Signed"]
