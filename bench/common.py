"""Helpers shared by the benchmark scripts (bench/*.py and bench/tuning/*.py): where the shared
data is, tables, percentiles, peak memory, GPU readings, a Redis of the run's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCANRAG_SHARED", ROOT.parent / "shared"))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated between the two
    nearest ranks (numpy's default, ``statistics.quantiles(method="inclusive")``); None when
    there are no values. Every latency table of bench/ reads its p50/p95/p99 from here."""
    return float(np.percentile(values, q)) if len(values) else None


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Gpu:
    """GPU 0 as NVML reads it (``nvidia-ml-py``): how busy it is and the memory in use."""

    def __init__(self, handle: Any, nvml: Any) -> None:
        self._handle, self._nvml = handle, nvml

    @classmethod
    def find(cls) -> Gpu | None:
        """GPU 0, or None where there is no NVIDIA GPU or no NVML library to read it."""
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            return cls(pynvml.nvmlDeviceGetHandleByIndex(0), pynvml)
        except Exception:  # no package, no driver, no device: nothing to read
            return None

    def sample(self) -> tuple[float, float]:
        """The percent of the last sample period (1/6 to 1 s, the driver's) in which a kernel
        ran, and the MB of GPU memory in use by every process."""
        util = self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
        used = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**20
        return float(util), float(used)


def scorer() -> Any:
    """The reference scorer, ``shared/tools/ocr_score.py``."""
    sys.path.insert(0, str(SHARED / "tools"))
    import ocr_score  # type: ignore[import-not-found]

    return ocr_score


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-markdown table of ``rows`` (missing cells blank, floats to 3 places)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def create_key(env: dict[str, str], tenant: str) -> str:
    """A new API key for ``tenant``, made by `scanrag keys create` in the home ``env`` names."""
    made = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "create", "--tenant", tenant],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


@contextmanager
def broker(url: str | None, workdir: Path) -> Iterator[str]:
    """``url`` as given, or (None) database 0 of a redis-server of the run's own on a free port,
    stopped after it: a benchmark never flushes a Redis it did not start."""
    from tests.harness import RedisServer

    if url:
        yield url
        return
    server = RedisServer(workdir).start()
    try:
        yield f"{server.url}/0"
    finally:
        server.stop()


def cpu_class() -> str:
    """The CPU's widest matrix or vector extension as lscpu lists it (amx, avx512_vnni, avx2)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown"
    flags = next((ln.split(":", 1)[1].split() for ln in out.splitlines() if "Flags" in ln), [])
    model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")
    for flag in ("amx_tile", "avx512_vnni", "avx2"):
        if flag in flags:
            return f"{flag.removesuffix('_tile')} ({model})"
    return f"baseline ({model})"
