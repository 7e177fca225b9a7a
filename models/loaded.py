"""The models this process has loaded: each loaded once per settings, on first use, and kept.

Every ``get_*`` of models/ (detector, recognizer, layout and table models, text, image and
query encoders) goes through ``load_once`` with a key that starts with what the model is and
holds every setting it was loaded with, so two settings never share a model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

M = TypeVar("M")

_loaded: dict[tuple[Hashable, ...], Any] = {}
_key_locks: dict[tuple[Hashable, ...], threading.Lock] = {}
_guard = threading.Lock()


def load_once(key: tuple[Hashable, ...], load: Callable[[], M]) -> M:
    """The process-wide model for ``key`` (what it is, then the settings it was loaded with),
    loaded by ``load`` on first use. Threads asking for the same key wait for one load; a
    load that raises stores nothing, so the next call tries again."""
    with _guard:
        lock = _key_locks.setdefault(key, threading.Lock())
    # a lock per key: a model loading (seconds) does not hold up another model's load
    with lock:
        if key not in _loaded:
            _loaded[key] = load()
        model: M = _loaded[key]
        return model


def was_loaded(kind: str) -> bool:
    """Whether this process has loaded a model whose key starts with ``kind``."""
    return any(key[0] == kind for key in list(_loaded))
