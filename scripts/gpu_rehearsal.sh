#!/usr/bin/env bash
# GPU rehearsal of the paper path's GPU parts (scripts/gpu_rehearsal.py: bf16 DeBERTa-v3 student through distill.fit,
# LLaMa-2 generation through the hf teacher, fp16 Contriever embedding, gpt2-xl MAUVE features) on the stand-in
# hub, for a GPU machine that has CUDA PyTorch and transformers but none of this project's other dependencies and
# no internet. At most 5 minutes.
#
#   bash scripts/gpu_rehearsal.sh prepare [DIR]          # here, where PyPI is reachable: DIR/hub (the stand-in hub)
#                                                        # and DIR/wheels (the small wheels that must travel)
#   bash scripts/gpu_rehearsal.sh run [DIR] [-- ARGS]    # on the GPU machine, from the repo root with DIR copied:
#                                                        # prints and writes benchmarks/gpu_rehearsal_<date>.txt
# DIR defaults to gpu_bundle (do not commit it). The wheels that travel: hydra-core, omegaconf,
# antlr4-python3-runtime (config schema), sentencepiece and protobuf (DeBERTa-v3's spm.model tokenizer); everything
# else the rehearsal imports comes with torch and transformers. GPU_PYTHON_VERSION (default 3.11) and GPU_PLATFORMS
# (default: manylinux 2014, 2_27 and 2_28 on x86_64) select the binary wheels for the GPU machine's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-run}
DIR=${2:-gpu_bundle}
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
PY=${PYTHON:-python3}

version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }

case "$MODE" in
prepare)
    [ -x .venv/bin/python ] || { echo "gpu_rehearsal.sh: prepare needs the project's .venv (bash scripts/test.sh makes it)" >&2; exit 2; }
    mkdir -p "$DIR/wheels"
    [ -f "$DIR/hub/BUILD_KEY" ] || .venv/bin/python -m synthesizrr.testing.standin_hub --out "$DIR/hub" > /dev/null
    platforms=""; for p in ${GPU_PLATFORMS:-manylinux2014_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64}; do
        platforms="$platforms --platform $p"; done
    pure=(); for p in hydra-core omegaconf antlr4-python3-runtime; do pure+=("$p==$(version $p)"); done
    .venv/bin/python -m pip wheel --quiet --no-deps --wheel-dir "$DIR/wheels" "${pure[@]}"
    .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --dest "$DIR/wheels" \
        --python-version "${GPU_PYTHON_VERSION:-3.11}" $platforms \
        "sentencepiece==$(version sentencepiece)" "protobuf==$(version protobuf)"
    echo "gpu_rehearsal.sh: $DIR is ready ($(du -sh "$DIR" | cut -f1)); copy it with the repo and run: bash scripts/gpu_rehearsal.sh run $DIR"
    ;;
run)
    [ -d "$DIR/hub" ] || { echo "gpu_rehearsal.sh: no stand-in hub in $DIR/hub: run 'bash scripts/gpu_rehearsal.sh prepare $DIR' where PyPI is reachable" >&2; exit 2; }
    missing=$("$PY" scripts/gpu_rehearsal.py --missing)
    if [ -n "$missing" ]; then   # install only what this Python lacks, into the bundle, not the system
        "$PY" -m pip install --quiet --no-index --no-deps --find-links "$DIR/wheels" --target "$DIR/site" $missing \
            || { echo "gpu_rehearsal.sh: cannot install $missing from $DIR/wheels (torch and transformers must be installed already)" >&2; exit 2; }
        export PYTHONPATH="$DIR/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    out=${GPU_REHEARSAL_OUT:-benchmarks/gpu_rehearsal_$(date +%Y-%m-%d).txt}
    set +e
    timeout 300 "$PY" scripts/gpu_rehearsal.py --hub "$DIR/hub" "$@" | tee "$out"
    rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "gpu_rehearsal.sh: stopped after 5 minutes" | tee -a "$out" >&2
    echo "gpu_rehearsal.sh: output in $out (exit $rc)" >&2
    exit "$rc"
    ;;
*)
    echo "gpu_rehearsal.sh: unknown mode '$MODE': use prepare or run" >&2; exit 2 ;;
esac
