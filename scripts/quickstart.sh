#!/usr/bin/env bash
# Offline quickstart: install (once), then run gold / FewGen 32-shot / SynthesizRR RetrICL 3-shot on BBC News.
# Results land in results/quickstart/. Extra arguments are Hydra overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh offline,dev,cluster
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/synthesizrr experiment=quickstart "$@"
