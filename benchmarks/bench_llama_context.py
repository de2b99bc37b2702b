"""llama.cpp context settings for the offline teacher, side by side: flash attention, K/V cache type, prompt chunk.

Each setting is a llama.cpp context on the same weights (f16 by default, the offline teacher's): prompt evaluation
tokens/s on one FewGen-length prompt from an empty KV cache, and ms per decode step of that lone sequence after
it, median of interleaved repetitions, each against the teacher's own settings (512-token chunks, f16 K/V, no
flash attention). Every setting here but the first changes the numbers, hence the texts, hence the cache keys.

    .venv/bin/python benchmarks/bench_llama_context.py [--weights f16] [--tokens 1750] [--reps 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from synthesizrr.machine import machine
from synthesizrr.teachers.gguf_weights import converted, import_llama_cpp
from synthesizrr.teachers.llamacpp import gguf_path

TEXT = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
F32 = 0                                              # GGML_TYPE_F32
SETTINGS = {                                         # name: Llama(...) keyword arguments
    "teacher's (512-token chunks, f16 K/V)": {},
    "flash attention": {"flash_attn": True},
    "flash attention, f32 K/V": {"flash_attn": True, "type_k": F32, "type_v": F32},
    "f32 K/V": {"type_k": F32, "type_v": F32},
    "256-token chunks": {"n_batch": 256, "n_ubatch": 256},
    "1,024-token chunks": {"n_batch": 1024, "n_ubatch": 1024},
    "2,048-token chunks": {"n_batch": 2048, "n_ubatch": 2048},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="f16")
    ap.add_argument("--tokens", type=int, default=1750, help="prompt length (a FewGen 32-shot prompt: ~1,750-1,900)")
    ap.add_argument("--steps", type=int, default=20, help="decode steps after the prompt")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    Llama = import_llama_cpp().Llama
    path = converted(gguf_path("offline:smollm2"), args.weights)
    models = {name: Llama(str(path), n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False, **{"n_batch": 512, **kw}) for name, kw in SETTINGS.items()}
    first = next(iter(models.values()))
    ids = first.tokenize((TEXT * (1 + 4 * args.tokens // len(TEXT))).encode(), add_bos=True)[:args.tokens]
    prompt = {name: [] for name in models}
    step = {name: [] for name in models}
    for _ in range(args.reps):                       # interleaved: the machine's drift falls on every setting
        for name, llm in models.items():
            llm.reset()                              # the next eval starts from an empty KV cache
            t0 = time.perf_counter()
            llm.eval(ids)
            t1 = time.perf_counter()
            for tok in ids[1:args.steps + 1]:
                llm.eval([tok])
            prompt[name].append(len(ids) / (t1 - t0))
            step[name].append(1000 * (time.perf_counter() - t1) / args.steps)
    print(f"CPU: {machine()['cpu']} ({machine()['simd']}); {args.weights} weights, {len(ids)}-token prompt, "
          f"{args.threads} threads, median of {args.reps}")
    print("| setting | prompt eval tok/s | vs teacher's | decode ms/step (lone) | vs teacher's |")
    print("|---|---:|---:|---:|---:|")
    medians = {name: (statistics.median(prompt[name]), statistics.median(step[name])) for name in models}
    base_p, base_s = medians[next(iter(models))]
    for name, (p, s) in medians.items():
        print(f"| {name} | {p:.0f} | {p / base_p:.2f}x | {s:.1f} | {base_s / s:.2f}x |")


if __name__ == "__main__":
    main()
