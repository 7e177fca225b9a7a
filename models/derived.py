"""Models derived from a shipped file (a recognizer's output layer narrowed to an alphabet, the
layout model given a free batch dimension), kept in the model cache between processes.

Deriving them needs the ``onnx`` package: 0.5 s to import (its ml_dtypes) and a few tenths to
edit and serialise the graph, paid by every cold ``scanrag ocr`` before (docs/BENCHMARKS.md,
issue 35). The derived bytes are stored under a name made from everything they come from (the
source file's path, size and modification time, which ``verified_path`` has just checked, and
the recipe's inputs), with their sha256 beside them; a file whose checksum fails is derived
again. A cache that cannot be written costs only the time: the model is derived each time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.config import default_model_cache
from models.weights import file_sha256


def cache_dir() -> Path:
    """The model cache (``SCANRAG_MODEL_CACHE``, default ``~/.cache/scanrag``)."""
    configured = os.environ.get("SCANRAG_MODEL_CACHE")
    return Path(configured).expanduser() if configured else default_model_cache()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".derived-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_derivation(
    name: str, source: Path, recipe: str, build: Callable[[], tuple[bytes, Any]]
) -> tuple[bytes, Any]:
    """(model bytes, JSON-able extra) that ``build`` derives from ``source`` by ``recipe``,
    from the cache when there and intact, else built and stored there."""
    stat = source.stat()
    key = hashlib.sha256(
        f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{recipe}".encode()
    ).hexdigest()[:16]
    folder = cache_dir()
    data_path = folder / f"{name}.{key}.onnx"
    meta_path = folder / f"{name}.{key}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = data_path.read_bytes()
        if hashlib.sha256(data).hexdigest() == meta["sha256"]:
            return data, meta["extra"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not built yet, or damaged: build it again
    data, extra = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(data_path, data)
        meta = {"sha256": hashlib.sha256(data).hexdigest(), "extra": extra}
        _write_atomic(meta_path, json.dumps(meta).encode())
    except OSError:
        pass  # a read-only cache: derived again next time
    return data, extra


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold a cache folder's lock: processes starting together (a worker pool) build a derived
    model file once, not once each."""
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def built_once(out: Path, build: Callable[[Path], None]) -> bool:
    """Make ``out`` (in the cache folder it names) with ``build(path)`` unless it is there and
    matches the sha256 kept beside it; True when this call built it. The build writes a
    temporary file that replaces ``out`` whole, under the folder's lock, so processes starting
    together build it once; a file already intact is served without the lock (a read-only
    cache, such as a built image's, still serves its models)."""
    sidecar = out.with_name(out.name + ".sha256")

    def intact() -> bool:
        if not (out.is_file() and sidecar.is_file()):
            return False
        return sidecar.read_text().strip() == file_sha256(out)

    if intact():
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.parent):
        if intact():  # another process built it while this one waited
            return False
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
            built = Path(tmp) / out.name
            build(built)
            digest = file_sha256(built)
            os.replace(built, out)
            sidecar.write_text(digest + "\n")
    return True
