"""onnxruntime sessions: the device and thread count are chosen here, once, when a model loads."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import onnxruntime as ort

from core.errors import ModelError

# ORT_DISABLE_TELEMETRY (models/__init__.py) stops it at start; this stops it for good
ort.disable_telemetry_events()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when onnxruntime can use a GPU here, else ``cpu``."""
    if device not in ("auto", "cpu", "cuda"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    available = ort.get_available_providers()
    if device == "auto":
        return "cuda" if "CUDAExecutionProvider" in available else "cpu"
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelError(
            "--device cuda asked for, but this onnxruntime has no CUDA provider"
            " (install onnxruntime-gpu on a machine with an NVIDIA GPU)"
        )
    return device


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity and cgroup pinning)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in Linux ``/proc/cpuinfo`` (empty elsewhere)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends here; the others repeat it
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_has_vnni(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU (or one with these cpuinfo ``flags``) has 8-bit dot products (AVX-512
    VNNI or AVX-VNNI). Without them onnxruntime multiplies u8 x s8 with AVX2's 16-bit pair sums,
    which saturate with 8-bit weights: an int8 model there takes 7-bit ones
    (models.quantize.weight_bits)."""
    flags = cpu_flags() if flags is None else flags
    return "avx512_vnni" in flags or "avx_vnni" in flags


def cpu_vendor_family() -> tuple[str, int]:
    """This CPU's vendor and family (``/proc/cpuinfo`` vendor_id and cpu family: ("AuthenticAMD",
    23) for a Zen 2 EPYC); ("", 0) where they cannot be read."""
    fields = _cpuinfo()
    family = fields.get("cpu family", "")
    return fields.get("vendor_id", ""), int(family) if family.isdigit() else 0


def cpu_int8_pays(
    flags: frozenset[str] | None = None, vendor_family: tuple[str, int] | None = None
) -> bool:
    """Whether onnxruntime's int8 convolutions beat its fp32 ones on this CPU (or one with these
    cpuinfo ``flags`` and ``vendor_family``).

    - VNNI (8-bit dot products): yes, 3.5-4x on the detector.
    - AVX2 alone (exact with 7-bit weights, models.quantize.weight_bits): 5.4x on an Intel Xeon
      and 1.2x on a Zen 4 EPYC with their AVX-512 hidden (bench/cpu_vm.sh), but 0.85x on a
      Zen 2 EPYC (docs/BENCHMARKS.md, issue 35): AMD's family 23 (Zen, Zen 2) multiplies
      256-bit integers at a fraction of its fp32 FMA rate, so it keeps fp32.
    - ARM and older x86: unmeasured, fp32.
    """
    flags = cpu_flags() if flags is None else flags
    if cpu_has_vnni(flags):
        return True
    vendor, family = cpu_vendor_family() if vendor_family is None else vendor_family
    return "avx2" in flags and not (vendor == "AuthenticAMD" and family == 23)


_shared_arena = False
_shared_arena_lock = threading.Lock()


def share_cpu_arena() -> None:
    """Register one CPU memory arena for every session of this process (once).

    Each session otherwise keeps an arena of its own, each grown to its own model's peak; the
    detector, both recognizers and the layout model never need their peaks all at once, so one
    arena serves them all: 50 dense pages read with peak RSS 924 MB instead of 1146, at the same
    speed (docs/BENCHMARKS.md, issue 15). The arena is thread-safe; it grows by powers of two
    as the per-session arenas did.
    """
    global _shared_arena
    with _shared_arena_lock:
        if _shared_arena:
            return
        info = ort.OrtMemoryInfo(
            "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        # max_mem 0: no cap; strategy 0: kNextPowerOfTwo; -1: onnxruntime's defaults
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 0, -1, -1))
        _shared_arena = True


# onnxruntime's CUDA provider options for every session made from here on
CUDA_OPTIONS: dict[str, str] = {"cudnn_conv_algo_search": "HEURISTIC"}


def set_cuda_conv_search(mode: str) -> None:
    """How cuDNN picks convolution algorithms in CUDA sessions made from now on: ``heuristic``,
    ``default`` or ``exhaustive`` (onnxruntime's ``cudnn_conv_algo_search``)."""
    if mode not in ("heuristic", "default", "exhaustive"):
        raise ModelError(f"unknown cuDNN convolution search {mode!r}")
    CUDA_OPTIONS["cudnn_conv_algo_search"] = mode.upper()


def make_session(
    path: Path, *, device: str, threads: int = 0, model: bytes | None = None
) -> ort.InferenceSession:
    """An inference session for ``path`` (or ``model``, that file changed in memory) on
    ``device`` (cpu/cuda) with ``threads`` (0 = cores)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or cpu_count()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # onnxruntime's arena keeps freed activation memory for the next run. Without it every run
    # maps fresh pages and faults them in (20-40% slower on a CPU); with it, memory stays bounded
    # because the detector reads one page at a time and recognizer runs are capped in width
    # (300-page PDF: peak RSS 1.33 GB, see docs/BENCHMARKS.md).
    opts.enable_cpu_mem_arena = True
    if device == "cpu":
        share_cpu_arena()
        opts.add_session_config_entry("session.use_env_allocators", "1")
        # no memory pattern: with it each run of a new input shape (every page size, every
        # recognizer width) asks the arena for one block holding all of that run's activations,
        # planned ahead; without it the run takes tensor by tensor what earlier runs freed. Same
        # readings and speed; 12 dense pages read with peak RSS 920 MB instead of 1161 on an
        # AVX2 CPU (docs/BENCHMARKS.md, issue 15, eighth session)
        opts.enable_mem_pattern = False
    providers: list[str | tuple[str, dict[str, str]]] = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, ("CUDAExecutionProvider", dict(CUDA_OPTIONS)))
    try:
        source = model if model is not None else str(path)
        return ort.InferenceSession(source, sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {path.name} on {device}: {exc}") from exc


class Session(Protocol):
    """What the models use of an onnxruntime session (InferenceSession or SessionPerShape)."""

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...

    def get_inputs(self) -> list[Any]: ...

    def get_modelmeta(self) -> Any: ...

    def get_providers(self) -> list[str]: ...


class SessionPerShape:
    """Sessions of one model, one per input shape (the ``limit`` most recently used are kept).

    Why: onnxruntime's CUDA convolutions (cuDNN 9 through its frontend, onnxruntime >= 1.20)
    keep a plan for the last input shape only and build a new one whenever a run's shape differs
    from the previous run's; for some convolutions (depthwise ones, as PP-OCR's networks are
    made of) a plan build compiles kernels at run time. Runs whose shapes alternate then cost up
    to 15x as much (microsoft/onnxruntime#23006), and a page's detector and recognizer runs
    almost never repeat the previous run's shape: on an H200 a FUNSD page took 13-20 s, where
    two CPU cores take about 1 s (docs/BENCHMARKS.md, issue 15, tenth session). With a session
    per shape, each session sees one shape and builds its plans once; the callers pad their
    inputs to a few sizes so that there are few shapes.
    """

    def __init__(self, factory: Callable[[], ort.InferenceSession], limit: int = 8) -> None:
        self._factory = factory
        self._limit = limit
        self._lock = threading.Lock()
        self._sessions: OrderedDict[tuple[tuple[int, ...], ...], ort.InferenceSession]
        self._sessions = OrderedDict()
        # built now, so that a broken model fails at load; it serves the first shape
        self._spare: ort.InferenceSession | None = factory()
        self._meta = self._spare

    def session_for(self, shapes: tuple[tuple[int, ...], ...]) -> ort.InferenceSession:
        """The session that runs inputs of these shapes (made on first use)."""
        with self._lock:
            session = self._sessions.get(shapes)
            if session is None:
                session, self._spare = self._spare or self._factory(), None
                self._sessions[shapes] = session
                while len(self._sessions) > self._limit:
                    self._sessions.popitem(last=False)  # a run still using it keeps it alive
            self._sessions.move_to_end(shapes)
            return session

    def sessions(self) -> list[ort.InferenceSession]:
        """The sessions kept now, least recently used first."""
        with self._lock:
            return list(self._sessions.values())

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any]) -> list[Any]:
        """``InferenceSession.run`` on the session for these inputs' shapes."""
        shapes = tuple(tuple(input_feed[name].shape) for name in sorted(input_feed))
        return self.session_for(shapes).run(output_names, input_feed)

    def get_inputs(self) -> list[Any]:
        return self._meta.get_inputs()

    def get_modelmeta(self) -> Any:
        return self._meta.get_modelmeta()

    def get_providers(self) -> list[str]:
        return self._meta.get_providers()


def make_shaped_session(
    path: Path, *, device: str, threads: int = 0, model: bytes | None = None, limit: int = 8
) -> SessionPerShape:
    """make_session's model on ``device``, one session per input shape (SessionPerShape)."""
    return SessionPerShape(
        lambda: make_session(path, device=device, threads=threads, model=model), limit
    )
