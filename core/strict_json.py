"""JSON that every part of scanrag can hold: parsed with a depth limit, finite numbers only, and
strings that encode to UTF-8 (no lone surrogate halves), optionally without NUL.

Python's ``json`` reads ``1e999`` as infinity, ``NaN``/``Infinity`` as floats, ``"\\ud800"`` as
a lone surrogate and deep nesting by recursion: each then fails far from the request (a
response that cannot be encoded, a database that refuses the row, a RecursionError). One loader
refuses them at the edge, for every JSON body and for document metadata.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # JSON request bodies are a few levels deep; metadata sets its own, smaller
_SURROGATE = re.compile("[\ud800-\udfff]")  # json joins valid pairs: any left is a lone half


class JsonRefused(ValueError):
    """Why a JSON text or value was refused, in words for the client."""


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, allow_nul: bool = True) -> Any:
    """``data`` parsed, or JsonRefused: not JSON (or not UTF-8), nested deeper than
    ``max_depth``, a number that is not finite (NaN, Infinity, 1e999), a string or key holding
    a lone surrogate, or a NUL when ``allow_nul`` is False."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise JsonRefused(f"the JSON is nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not JSON: {exc.msg} at character {exc.pos}") from None
    except UnicodeDecodeError:
        raise JsonRefused("not JSON: the bytes are not UTF-8") from None
    except ValueError as exc:  # _finite, _no_constant, an integer of thousands of digits
        raise JsonRefused(str(exc)) from None
    return check(value, max_depth=max_depth, allow_nul=allow_nul)


def check(value: Any, *, max_depth: int = MAX_DEPTH, allow_nul: bool = True) -> Any:
    """``value`` (parsed JSON) if ``loads`` would accept it, else JsonRefused. Walks without
    recursion, so any depth is refused, not crashed on."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonRefused(f"the JSON is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key, "a key", allow_nul)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            _check_text(item, "a string", allow_nul)
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonRefused(f"a number is {item}, which JSON cannot hold: send a finite number")
    return value


def _check_text(text: Any, what: str, allow_nul: bool) -> None:
    if not isinstance(text, str):
        raise JsonRefused(f"{what} is a {type(text).__name__}, not a string")
    if _SURROGATE.search(text):
        raise JsonRefused(f"{what} holds a lone surrogate (\\ud800-\\udfff), which is not Unicode")
    if not allow_nul and "\x00" in text:
        raise JsonRefused(f"{what} holds a NUL character (\\u0000)")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON: send a number or null")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large for JSON: send a finite number")
    return number


def repair(value: Any, *, max_depth: int = MAX_DEPTH, allow_nul: bool = True) -> Any:
    """``value`` (parsed JSON, perhaps stored before these rules) made acceptable to ``check``:
    a number that is not finite, a string with a lone surrogate (or a NUL when not allowed) and
    anything nested deeper than ``max_depth`` become None; a key that is not such a string is
    dropped. Values that were fine come back equal."""
    return _repair(value, max_depth, allow_nul)


def _repair(value: Any, levels: int, allow_nul: bool) -> Any:
    if isinstance(value, dict | list):
        if levels <= 0:
            return None
        if isinstance(value, list):
            return [_repair(v, levels - 1, allow_nul) for v in value]
        return {
            k: _repair(v, levels - 1, allow_nul) for k, v in value.items() if _text_ok(k, allow_nul)
        }
    if isinstance(value, str):
        return value if _text_ok(value, allow_nul) else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _text_ok(text: Any, allow_nul: bool) -> bool:
    try:
        _check_text(text, "", allow_nul)
    except JsonRefused:
        return False
    return True
