#!/usr/bin/env bash
# Create .venv (once) and install the project with the given extras (default: offline,dev,cluster).
# `paper` in the list is not a pip extra: it downloads the paper's spaCy pipeline (en_core_web_lg, needs internet).
# Idempotent: a stamp keyed by pyproject.toml and the extras skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-offline,dev,cluster}"
python="${PYTHON:-python3}"
pip_extras="$(tr ',' '\n' <<<"$extras" | { grep -vx 'paper' || true; } | paste -sd, -)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  echo "installing synthesizrr[$pip_extras] into .venv (first time: ~6 min, mostly building llama.cpp)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and exact: pyproject.toml allows a range, and an unpinned torch pulls multi-GB CUDA wheels on
  # CPU-only machines. Naming it again below keeps the project's install from replacing it.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q "torch==2.13.0" -e ".${pip_extras:+[$pip_extras]}"
  if [[ ",$extras," == *",paper,"* ]]; then
    .venv/bin/python -m spacy download en_core_web_lg
  fi
  touch "$stamp"
fi
