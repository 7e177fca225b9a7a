#!/usr/bin/env bash
# Set up scanrag on a fresh Debian/Ubuntu machine: system packages, then a virtualenv in .venv.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="poppler-utils tesseract-ocr tesseract-ocr-eng fonts-dejavu-core"
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
echo "scanrag is set up: .venv/bin/scanrag --help"
