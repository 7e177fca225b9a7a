"""The detector's precision per CPU class: int8 on x86 CPUs, with 8-bit weights where the CPU has
8-bit dot products (VNNI) and 7-bit ones on AVX2 alone; fp32 elsewhere. Read on this machine's own
CPU and, where the kernel can trap CPUID, on the same CPU with AVX-512/AVX-VNNI hidden from every
process (bench/cpu_vm.sh), as the libraries that pick their kernels at run time see it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from models.detector import resolve_precision
from models.ort_sessions import cpu_int8_pays, cpu_vendor_family
from models.quantize import weight_bits

ROOT = Path(__file__).resolve().parents[2]

# what a process sees of its CPU: /proc/cpuinfo flags, numpy's own cpuid dispatch, the
# detector's choice for "auto"
PROBE = """
import json
from numpy._core._multiarray_umath import __cpu_features__ as numpy_cpu
from models.detector import resolve_precision
from models.ort_sessions import cpu_flags
from models.quantize import weight_bits
print(json.dumps({
    "flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx"))),
    "numpy_avx512f": bool(numpy_cpu["AVX512F"]),
    "numpy_avx2": bool(numpy_cpu["AVX2"]),
    "auto": resolve_precision("auto", "cpu"),
    "bits": weight_bits(),
}))
"""


def _flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    return set(next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split())


def _probe(masked: bool) -> dict[str, Any]:
    cmd = f"{shlex.quote(sys.executable)} -c {shlex.quote(PROBE)}"
    args = [str(ROOT / "bench" / "cpu_vm.sh"), cmd] if masked else ["sh", "-c", cmd]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


can_mask = pytest.mark.skipif(
    not (
        sys.platform == "linux"
        and "cpuid_fault" in _flags()
        and os.geteuid() == 0
        and shutil.which("cc")
        and shutil.which("unshare")
    ),
    reason="needs Linux CPUID faulting (cpuid_fault), root for unshare, and a C compiler",
)


def test_explicit_precision_is_kept_and_a_gpu_gets_fp32() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("int8", "cpu") == "int8"
    assert resolve_precision("int8", "cuda") == "int8"
    assert resolve_precision("auto", "cuda") == "fp32"


def test_weight_bits_by_cpu_flags() -> None:
    assert weight_bits(frozenset({"avx2", "avx512f", "avx512_vnni"})) == 8
    assert weight_bits(frozenset({"avx2", "avx_vnni"})) == 8  # Alder Lake and later
    assert weight_bits(frozenset({"avx", "avx2", "fma"})) == 7  # saturating pair sums
    assert weight_bits(frozenset({"asimd", "asimddp"})) == 8  # not x86


def test_int8_pays_by_cpu_class() -> None:
    avx2 = frozenset({"avx", "avx2", "fma"})
    vnni = avx2 | {"avx512f", "avx512_vnni"}
    assert cpu_int8_pays(vnni, ("AuthenticAMD", 25))  # Zen 4
    assert cpu_int8_pays(avx2, ("GenuineIntel", 6))  # 5.4x measured, AVX-512 hidden
    assert cpu_int8_pays(avx2, ("AuthenticAMD", 25))  # Zen 3, or a Zen 4 masked: 1.2x
    assert not cpu_int8_pays(avx2, ("AuthenticAMD", 23))  # Zen 2: 0.85x
    assert not cpu_int8_pays(frozenset({"asimd", "asimddp"}), ("", 0))  # ARM: unmeasured
    assert not cpu_int8_pays(frozenset({"sse4_2", "avx"}), ("GenuineIntel", 6))


def test_auto_follows_this_cpu() -> None:
    flags = frozenset(_flags() if sys.platform == "linux" else set())
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    seen = _probe(masked=False)
    assert seen["auto"] == ("int8" if cpu_int8_pays() else "fp32")
    assert seen["bits"] == (8 if vnni or "avx2" not in flags else 7)


@can_mask
def test_avx2_only_class_gets_int8_with_seven_bit_weights() -> None:
    if "avx2" not in _flags():
        pytest.skip("this CPU has no AVX2: there is no AVX2-only class to make of it")
    seen = _probe(masked=True)
    assert "avx2" in seen["flags"], seen["flags"]
    hidden = [f for f in seen["flags"] if f.startswith(("avx512", "amx", "avx_vnni"))]
    assert not hidden, hidden
    # numpy reads cpuid itself, at run time: the mask reaches what picks kernels, not only
    # /proc/cpuinfo
    assert seen["numpy_avx2"] and not seen["numpy_avx512f"]
    assert seen["bits"] == 7
    assert seen["auto"] == ("fp32" if cpu_vendor_family() == ("AuthenticAMD", 23) else "int8")
    if "avx512f" in _flags():  # the same probe unmasked sees the wide vectors again
        assert _probe(masked=False)["numpy_avx512f"]
