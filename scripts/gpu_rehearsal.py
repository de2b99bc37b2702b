#!/usr/bin/env python
"""GPU rehearsal: the paper path's GPU parts on the stand-in hub, through the project's own code, in a few minutes.

  retriever   Contriever stand-in embeds texts in fp16           (synthesizrr/retrieval/encoder.py)
  teacher     LLaMa-2 stand-in generates through the hf backend  (synthesizrr.teachers, bf16, long prompts)
  student     DeBERTa-v3 stand-in trains with bf16 autocast       (distill.fit, spm.model tokenizer)
  featurizer  gpt2-xl stand-in makes MAUVE features               (metrics.features)

Each stage prints its time, its peak GPU memory (torch.cuda.max_memory_allocated, reset per stage) and what it
left allocated (should be 0: the teacher is closed, the featurizers released); a stage that fails prints one
line and the others still run (exit 1). Without CUDA (or with --device cpu) the same code runs on
the CPU, fp32. Needs torch and transformers plus the small wheels in REQUIRED; scripts/gpu_rehearsal.sh carries
them and the stand-in hub to a GPU machine without internet.

  python scripts/gpu_rehearsal.py --hub DIR [--device auto|cuda|cpu] [--quick]
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# module -> wheel: what the imported project modules need beyond Python itself (checked before anything loads)
REQUIRED = {"torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers", "safetensors": "safetensors",
            "huggingface_hub": "huggingface_hub", "numpy": "numpy", "tqdm": "tqdm", "filelock": "filelock",
            "yaml": "PyYAML", "omegaconf": "omegaconf", "antlr4": "antlr4-python3-runtime", "hydra": "hydra-core",
            "sentencepiece": "sentencepiece", "google.protobuf": "protobuf"}
WORDS = ("the central bank held rates as markets rallied while exporters reported stronger orders and the league "
         "leaders won again after their striker scored twice and engineers unveiled a faster chip for phones").split()


def missing_wheels() -> list[str]:
    def present(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False
    return [wheel for module, wheel in REQUIRED.items() if not present(module)]


def use_hub(hub: Path) -> None:
    """The stand-in hub is the HF cache, offline; set before transformers is imported."""
    home = hub / "hf_home"
    if not (home / "hub").is_dir():
        raise SystemExit(f"gpu_rehearsal: --hub {hub} holds no stand-in hub (expected {home}/hub): build it with "
                         f"python -m synthesizrr.testing.standin_hub --out {hub}")
    os.environ.update(HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"), HF_HUB_OFFLINE="1",
                      TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def texts(n: int, words: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(words // 2, words))).capitalize() + "."
            for _ in range(n)]


def submodule(package: str, name: str):
    """`package.name` without running package/__init__.py: the retrieval and teachers packages import faiss, bm25s,
    datasets and httpx there, which the GPU parts rehearsed here do not use."""
    import types

    if package not in sys.modules:
        stub = types.ModuleType(package)
        stub.__path__ = [str(REPO / package.replace(".", "/"))]
        sys.modules[package] = stub
    return importlib.import_module(f"{package}.{name}")


def stage_retriever(device: str, quick: bool) -> str:
    from synthesizrr.core.config import RetrieverConfig

    encoder = submodule("synthesizrr.retrieval", "encoder")
    cfg = RetrieverConfig(name="contriever", model="facebook/contriever", max_length=512, device=device,
                          dtype="float16" if device == "cuda" else "float32")
    enc = encoder.Encoder(cfg)
    docs = texts(64 if quick else 1024, 600)
    vectors = [enc.encode(docs[i:i + 64]) for i in range(0, len(docs), 64)]
    dtype = next(enc.model.parameters()).dtype
    return f"{len(docs)} docs × ≤512 tokens, {dtype}, dim {vectors[0].shape[1]}"


def stage_teacher(device: str, quick: bool) -> str:
    from synthesizrr.core.config import TeacherConfig

    hf, base = submodule("synthesizrr.teachers", "hf"), submodule("synthesizrr.teachers", "base")
    cfg = TeacherConfig(name="llama2_13b_chat_hf", backend="hf", model="TheBloke/Llama-2-13B-Chat-fp16", chat=False,
                        context_length=4096, batch_size=8, device=device, dtype="bf16" if device == "cuda" else "fp32")
    backend = hf.HFBackend(cfg)   # the backend alone: the call cache around it is not a GPU part
    prompts = texts(8 if quick else 32, 300 if quick else 2500, seed=1)   # long prompts: left truncation at 4k
    requests = [base.Request(p + "\nSummary:", max_new_tokens=16 if quick else 64, seed=i)
                for i, p in enumerate(prompts)]
    out = {}
    backend.run(requests, lambda i, c: out.setdefault(i, c) is c)
    bad = [c.error for c in out.values() if c.error]
    if len(out) != len(requests) or bad:
        raise RuntimeError(f"{len(requests) - len(out) + len(bad)} generations failed: {bad[:1]}")
    dtype = next(backend._model.parameters()).dtype
    tokens_in, tokens_out = sum(c.tokens_in for c in out.values()), sum(c.tokens_out for c in out.values())
    backend.close()
    return f"{len(out)} prompts, {tokens_in} tokens in, {tokens_out} out, {backend.truncated} left-truncated, {dtype}"


def stage_student(device: str, quick: bool) -> str:
    from distill.fit import fit, predict_proba
    from synthesizrr.core.config import StudentConfig

    labels = ["World", "Sports", "Business", "Sci/Tech"]
    train = [{"text": t, "label": labels[i % 4]} for i, t in enumerate(texts(16 if quick else 256, 400, seed=2))]
    cfg = StudentConfig(name="deberta_v3_large", model="microsoft/deberta-v3-large", batch_size=4 if quick else 8,
                        grad_accum=2, epochs=1, max_length=128 if quick else 512, seeds=[0], device=device,
                        bf16="true" if device == "cuda" else "false")
    model, tok, history, _ = fit(train, labels, cfg, seed=0, progress=False)
    probs = predict_proba(model, tok, [r["text"] for r in train], cfg.max_length, bf16=device == "cuda")
    loss = history[-1]["train_loss"]
    if not loss == loss or not abs(probs.sum(1) - 1).max() < 1e-3:
        raise RuntimeError(f"training gave loss {loss} / probabilities that do not sum to 1")
    return f"{len(train)} examples × {cfg.max_length} tokens, batch {cfg.batch_size}×{cfg.grad_accum}, " \
           f"bf16 {cfg.bf16}, loss {loss:.3f}"


def stage_featurizer(device: str, quick: bool) -> str:
    import numpy as np
    from metrics.features import encode

    feats = encode(texts(32 if quick else 512, 600, seed=3), "gpt2-xl", max_length=512, device=device,
                   progress=False)
    if not np.isfinite(feats).all():
        raise RuntimeError("features are not finite")
    from synthesizrr.stages.evaluate import release_featurizers

    release_featurizers()   # as the evaluate stage does: the cached featurizer must not stay on the GPU
    return f"{feats.shape[0]} texts × ≤512 tokens, dim {feats.shape[1]}"


STAGES = {"retriever": stage_retriever, "teacher": stage_teacher, "student": stage_student,
          "featurizer": stage_featurizer}


def run_stage(name: str, fn, device: str, quick: bool) -> bool:
    import torch

    cuda = device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        detail, ok = fn(device, quick), True
    except Exception as exc:  # noqa: BLE001 - report the stage in one line, keep going with the others
        detail, ok = f"FAILED {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", False
        traceback.print_exc(file=sys.stderr)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if cuda:
        gc.collect()
        if hasattr(torch._C, "_cuda_clearCublasWorkspaces"):
            torch._C._cuda_clearCublasWorkspaces()
        peak, held = torch.cuda.max_memory_allocated() / 2**20, torch.cuda.memory_allocated() / 2**20
        mem = f"{peak:9.1f} | {held:8.3f}"   # held: what the stage left allocated (stand-in models are < 2 MiB)
    else:
        mem = f"{'n/a':>9} | {'n/a':>8}"
    print(f"{name:<10} | {seconds:7.1f} | {mem} | {detail}", flush=True)
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hub", type=Path, help="a stand-in hub folder (python -m synthesizrr.testing.standin_hub "
                                             "--out DIR)")
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    ap.add_argument("--quick", action="store_true", help="small sizes (the CPU test)")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--missing", action="store_true", help="print the wheels this Python lacks and exit")
    args = ap.parse_args(argv)
    missing = missing_wheels()
    if args.missing:
        print(" ".join(missing))
        return 0
    if missing:
        print(f"gpu_rehearsal: missing package(s): {', '.join(missing)}; install their wheels "
              f"(scripts/gpu_rehearsal.sh prepare DIR downloads them here)", file=sys.stderr)
        return 2
    if args.hub is None:
        ap.error("--hub DIR is required")
    use_hub(args.hub.resolve())
    sys.path.insert(0, str(REPO))
    import torch
    import transformers

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_rehearsal: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    gpu = f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}" if device == "cuda" else "CPU (fp32)"
    print(f"gpu_rehearsal {time.strftime('%Y-%m-%d %H:%M')}: {gpu}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}, hub {args.hub}")
    print(f"{'stage':<10} | {'seconds':>7} | {'peak MiB':>9} | {'held MiB':>8} | detail")
    ok = [run_stage(name, STAGES[name], device, args.quick) for name in args.stages.split(",")]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
