"""The strict JSON loader every JSON body and document metadata go through: what Python's json
reads but a database, a response or the parser's own recursion cannot hold is refused."""

from __future__ import annotations

import math

import pytest

from core import strict_json
from core.strict_json import JsonRefused


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1e999}',  # Python reads it as infinity
        '{"a": -1e999}',
        '{"a": NaN}',
        '{"a": [Infinity]}',
        '{"a": "\\ud800"}',  # a lone surrogate half
        '{"\\udc00": 1}',  # in a key
        '{"a": "\\ud83d"}',  # a high half without its low half
        "[" * 5000 + "]" * 5000,  # past the parser's recursion
        "[" * 40 + "]" * 40,  # past the depth limit, within the recursion
        '{"a": 1',
        b"\xff\xfe{}",  # not UTF-8
    ],
)
def test_what_cannot_be_held_is_refused(text: str | bytes) -> None:
    with pytest.raises(JsonRefused):
        strict_json.loads(text)


def test_nul_is_refused_only_where_asked() -> None:
    assert strict_json.loads('{"a": "x\\u0000y"}') == {"a": "x\x00y"}
    with pytest.raises(JsonRefused, match="NUL"):
        strict_json.loads('{"a": "x\\u0000y"}', allow_nul=False)
    with pytest.raises(JsonRefused, match="NUL"):
        strict_json.loads('{"\\u0000": 1}', allow_nul=False)


def test_good_json_comes_back_as_json_reads_it() -> None:
    text = '{"a": [1, 2.5, -3e10, true, null, "\\ud83d\\ude00 ok"], "b": {"c": {}}}'
    assert strict_json.loads(text) == {
        "a": [1, 2.5, -3e10, True, None, "\U0001f600 ok"],
        "b": {"c": {}},
    }
    assert strict_json.loads(b'{"x": "caf\xc3\xa9"}') == {"x": "café"}


def test_depth_counts_levels() -> None:
    three = {"a": {"b": [1]}}
    assert strict_json.check(three, max_depth=3) == three
    with pytest.raises(JsonRefused, match="deeper than 2"):
        strict_json.check(three, max_depth=2)
    deep: list[object] = []
    for _ in range(100_000):  # no recursion: any depth is refused, not crashed on
        deep = [deep]
    with pytest.raises(JsonRefused):
        strict_json.check(deep)


def test_repair_nulls_what_check_refuses_and_keeps_the_rest() -> None:
    stored = {
        "ok": [1, "fine", {"x": 2}],
        "inf": math.inf,
        "nan": [math.nan],
        "half": "\ud800",
        "\udc00bad key": 1,
        "nul": "a\x00b",
        "deep": {"d": {"e": {"f": 1}}},
    }
    fixed = strict_json.repair(stored, max_depth=3, allow_nul=False)
    assert fixed == {
        "ok": [1, "fine", {"x": 2}],
        "inf": None,
        "nan": [None],
        "half": None,
        "nul": None,
        "deep": {"d": {"e": None}},
    }
    assert strict_json.check(fixed, max_depth=3, allow_nul=False) == fixed
    assert strict_json.repair(fixed, max_depth=3, allow_nul=False) == fixed
