#!/usr/bin/env bash
# Issue 15's benchmarks on a machine with an NVIDIA GPU, as `auto` runs there (the OCR networks
# on onnxruntime's CUDA provider, the text encoder on torch's CUDA):
#   bash bench/gpu.sh [OUTDIR] [PAGES]
# 1. bench/memory.py: `scanrag ocr` and `scanrag ingest` on PAGES dense pages (default 100), end
#    to end, with the GPU's busy percent and memory; then the same with 4 reading workers;
# 2. bench/ocr.py: FUNSD holdout read on the GPU (accuracy and pages/s).
# Each run's table goes to OUTDIR (default /tmp/scanrag-gpu) and to the terminal.
set -uo pipefail
out=${1:-/tmp/scanrag-gpu}
pages=${2:-100}
py=${PYTHON:-python3}
mkdir -p "$out"
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$out/gpu.txt"
nproc | tee -a "$out/gpu.txt"
$py -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__, torch.cuda.is_available())" 2>&1 | tee -a "$out/gpu.txt"
# the OCR networks must really run on the GPU (onnxruntime falls back to the CPU quietly)
$py -c "
from models.runtime import make_session
from models.weights import PPOCR_V6_DET
providers = make_session(PPOCR_V6_DET.path(), device='cuda').get_providers()
print('detector session providers:', providers)
assert providers[0] == 'CUDAExecutionProvider', 'the CUDA provider did not load'
" 2>&1 | tee -a "$out/gpu.txt" || exit 1
$py bench/memory.py --source dense --pages "$pages" --commands ocr ingest 2>&1 | tee "$out/dense.txt"
$py bench/memory.py --source dense --pages "$pages" --commands ocr ingest --set OCR__WORKERS=4 2>&1 | tee "$out/dense-w4.txt"
$py bench/ocr.py --split holdout --datasets funsd --engines scanrag --device cuda 2>&1 | tee "$out/funsd.txt"
