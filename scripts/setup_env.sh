#!/usr/bin/env bash
# Create .venv (once) and install the project with the given extras (default: offline,dev,cluster).
# Idempotent: a stamp keyed by pyproject.toml skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-offline,dev,cluster}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  echo "installing synthesizrr[$extras] into .venv (first time: ~6 min, mostly building llama.cpp)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: an unpinned torch pulls multi-GB CUDA wheels on CPU-only machines
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
