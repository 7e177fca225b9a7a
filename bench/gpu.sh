#!/usr/bin/env bash
# Issue 15's benchmarks on a machine with an NVIDIA GPU, as `auto` runs there (the OCR networks
# on onnxruntime's CUDA provider, the text encoder on torch's CUDA):
#   [SETTINGS="OCR__CUDA_CONV_SEARCH=default ..."] [PROBE_ONLY=1] bash bench/gpu.sh [OUTDIR] [PAGES]
# 0. a check that the CUDA provider really loads (onnxruntime falls back to the CPU quietly),
#    then bench/tuning/gpu_probe.py: a FUNSD page, twice, with fixed shapes (scanrag's CUDA default
#    now), with a shape per run (before), with cuDNN's DEFAULT search, and on the CPU, with the
#    seconds in each network (on 2026-12-04 a page took 13-20 s on an H200 with a shape per
#    run); PROBE_ONLY=1 stops there;
# 1. bench/memory.py: `scanrag ocr` and `scanrag ingest` on PAGES dense pages (default 50), end
#    to end, with the GPU's busy percent and memory; then the same with 4 reading workers;
# 2. bench/ocr.py: FUNSD holdout read on the GPU (accuracy and pages/s), with fixed shapes and
#    with a shape per run.
# SETTINGS are SCANRAG_ settings (without the prefix) for the commands of step 1. Each table
# goes to OUTDIR (default /tmp/scanrag-gpu) and to the terminal; each step has a time limit so
# that the ones after it still run.
set -uo pipefail
out=${1:-/tmp/scanrag-gpu}
pages=${2:-50}
py=${PYTHON:-python3}
sets=()
for setting in ${SETTINGS:-}; do sets+=(--set "$setting"); done
mkdir -p "$out"
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
nproc | tee -a "$out/gpu.txt"
$py -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__, torch.cuda.is_available())" 2>&1 | tee -a "$out/gpu.txt"
$py -c "
from models.ort_sessions import make_session
from models.weights import PPOCR_V6_DET
providers = make_session(PPOCR_V6_DET.path(), device='cuda').get_providers()
print('detector session providers:', providers)
assert providers[0] == 'CUDAExecutionProvider', 'the CUDA provider did not load'
" 2>&1 | tee -a "$out/gpu.txt" || exit 1
timeout 300 $py bench/tuning/gpu_probe.py --pages 1 --repeat 2 --profile --timeout 60 --variants heuristic dynamic default cpu 2>&1 | tee "$out/probe.txt"
[ "${PROBE_ONLY:-0}" = 1 ] && exit 0
timeout 240 $py bench/memory.py --source dense --pages "$pages" --commands ocr ingest "${sets[@]}" 2>&1 | tee "$out/dense.txt"
timeout 180 $py bench/memory.py --source dense --pages "$pages" --commands ocr ingest "${sets[@]}" --set OCR__WORKERS=4 2>&1 | tee "$out/dense-w4.txt"
timeout 150 $py bench/ocr.py --split holdout --datasets funsd --engines scanrag-fixed scanrag-dynamic --device cuda 2>&1 | tee "$out/funsd.txt"
