"""The tables benchmark (bench/tables.py): its hand-written questions resolve to reference cells,
and a hit is judged by its page, its text and the cells it matched."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.tables import QUESTIONS, TABLES_DEV, answer_cells, covers, holds, judge, load_gt


def questions() -> list[dict]:
    return [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x]


@pytest.mark.skipif(not (TABLES_DEV / "gt.jsonl").exists(), reason="shared tables data absent")
def test_every_question_names_a_reference_cell_with_its_text() -> None:
    qs = questions()
    boxes = answer_cells(qs, load_gt(TABLES_DEV, None))  # raises on a text that differs
    assert len(boxes) == len(qs) >= 50
    assert len({q["id"] for q in qs}) == len(qs)
    assert len({q["question"] for q in qs}) == len(qs)
    # varied: every dev document, most of its tables, no table asked about more than 3 times
    assert len({q["doc"] for q in qs}) == 27
    tables = Counter((q["doc"], q["page"], q["table"]) for q in qs)
    assert len(tables) >= 60
    assert max(tables.values()) <= 3


def test_an_answer_is_held_as_whole_words_with_spaces_in_numbers_free() -> None:
    assert holds("Carbon dioxide, to air kg/year: 100 million", "100 million")
    assert holds("Methane (CH4) 100000 - -", "100 000")
    assert holds("Methane (CH4) 100 000 - -", "100000")
    assert not holds("Hydro-fluorocarbons 1000", "100")  # part of a number is not the number
    assert not holds("a 2100 b", "100")
    assert holds("Total: 47% (Fruit d'or)", "47%")
    assert not holds("anything", "-")  # no letters or digits: never held


def test_a_matched_cell_must_cover_half_the_reference_cell() -> None:
    answer = [100.0, 100.0, 200.0, 120.0]
    assert covers([90.0, 95.0, 260.0, 130.0], answer)
    assert covers([150.0, 90.0, 300.0, 130.0], answer)  # half of it exactly
    assert not covers([160.0, 90.0, 300.0, 130.0], answer)
    assert not covers([0.0, 0.0, 50.0, 50.0], answer)


def test_a_hit_counts_on_the_right_page_with_the_answer_and_then_its_cell() -> None:
    q = {"doc": "eu-001", "page": 1, "text": "100 million"}
    box = [767.0, 922.0, 889.0, 944.0]  # 200 dpi pixels

    def hit(name: str, page: int, text: str, cells: list | None = None) -> dict:
        return {"document": {"filename": name}, "page": page, "text": text, "cells": cells}

    hits = [
        hit("eu-002.pdf", 1, "100 million"),  # another document
        hit("eu-001.pdf", 2, "100 million"),  # another page
        hit("eu-001.pdf", 1, "Carbon dioxide"),  # the page, not the answer
        # the answer, cells at 100 dpi (the box is scaled by 0.5): one elsewhere, none covering
        hit("eu-001.pdf", 1, "CO2 100 million", [{"row": 2, "col": 0, "bbox": [10, 10, 50, 20]}]),
        hit(
            "eu-001.pdf", 1, "CO2 100 million", [{"row": 2, "col": 1, "bbox": [380, 458, 450, 475]}]
        ),
    ]
    assert judge(q, box, hits, 0.5) == {
        "page_rank": 3,
        "answer_rank": 4,
        "cell_rank": 5,
        "with_cells": True,
    }
    assert judge(q, box, hits[:4], 0.5)["cell_rank"] is None
    plain = [hit("eu-001.pdf", 1, "100 million")]
    assert judge(q, box, plain, 1.0) == {
        "page_rank": 1,
        "answer_rank": 1,
        "cell_rank": None,
        "with_cells": False,
    }
