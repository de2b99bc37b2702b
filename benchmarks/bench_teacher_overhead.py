"""Overhead of the teacher framework (cache keys, SQLite commits, chat template, prompt fitting) over calling
llama-cpp-python directly, on the offline SmolLM2 teacher.

Both sides generate the same prompts with the same seeds and sampling settings; the direct side calls
``Llama.create_chat_completion`` (the GGUF's own template) after ``reset()``, as the framework does, so both do the
same work and should produce the same texts. Runs alternate (direct, framework, framework, direct, ...) to spread
machine noise evenly, and the best run of each side is compared (noise only ever adds time). The framework gets a
fresh cache file every run, so every call is a miss. Where llama.cpp multiplies one row differently from several
(f16 on AVX2 CPUs, bf16) the framework decodes a lone request beside a companion token (docs/teachers.md): texts
then differ and decoding costs more, so use --weights q8_0 (or native) on such a CPU.

    python benchmarks/bench_teacher_overhead.py [--prompts 50] [--rounds 3] [--tokens 32] [--threads 2]
        [--weights f16]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as the framework sets it, for both sides

import argparse
import tempfile
import time
from pathlib import Path

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.teachers.gguf_weights import converted
from synthesizrr.teachers.llamacpp import gguf_path

TOPICS = ["football", "a central bank", "a new phone", "an election", "a film premiere", "a tennis final",
          "oil prices", "a software update", "a music award", "a budget vote"]


def prompts(n: int, tokens: int) -> list[Request]:
    return [Request(f"Write one news sentence about {TOPICS[i % len(TOPICS)]} (item {i}).", tokens, seed=1000 + i)
            for i in range(n)]


def run_direct(cfg: TeacherConfig, requests: list[Request]) -> tuple[float, list[str], int]:
    from llama_cpp import Llama

    start = time.perf_counter()
    # the file the backend loads (the packaged Q4_1 crashes llama.cpp's AMX kernels on AMX CPUs, docs/teachers.md)
    llm = Llama(str(converted(gguf_path(cfg.model), cfg.weights)), n_ctx=cfg.context_length, n_threads=cfg.n_threads,
                n_threads_batch=cfg.n_threads, n_batch=min(512, cfg.context_length), verbose=False)
    texts, n_out = [], 0
    for r in requests:
        llm.reset()
        out = llm.create_chat_completion([{"role": "user", "content": r.prompt}], max_tokens=r.max_new_tokens,
                                         temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, min_p=0.0,
                                         typical_p=1.0, repeat_penalty=1.0, seed=r.seed)
        texts.append(out["choices"][0]["message"]["content"])
        n_out += out["usage"]["completion_tokens"]
    elapsed = time.perf_counter() - start
    llm.close()
    return elapsed, texts, n_out


def run_framework(cfg: TeacherConfig, requests: list[Request]) -> tuple[float, list[str], int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        teacher = build_teacher(cfg, Path(tmp) / "cache.sqlite")
        out = teacher.generate(requests, progress=False)
        elapsed = time.perf_counter() - start
        assert teacher.stats["calls"] == len(requests) and teacher.stats["cache_hits"] == 0
        teacher.close()
    return elapsed, [c.text for c in out], sum(c.tokens_out for c in out)


def framework_cost_per_call(cfg: TeacherConfig, requests: list[Request]) -> float:
    """Seconds per call the framework spends around llama.cpp: cache lookup, key, chat template and prompt
    tokenization, the SQLite commit. Measured on the real objects, without generating; machine noise hurts this
    figure far less than the end-to-end comparison."""
    from synthesizrr.teachers import Completion
    from synthesizrr.teachers.cache import call_key

    with tempfile.TemporaryDirectory() as tmp:
        teacher = build_teacher(cfg, Path(tmp) / "cache.sqlite")
        backend, ident = teacher.backend, teacher._key_identity()
        backend.prompt_ids(requests[0])                 # loads the vocabulary
        start = time.perf_counter()
        for r in requests:
            key = call_key(ident, r, backend.stop_for(r))
            teacher.cache.get_many([key])
            backend.prompt_ids(r)
            teacher.cache.put(key, Completion("x" * 200, 40, 32, False, "length"), backend.name, cfg.model)
        per_call = (time.perf_counter() - start) / len(requests)
        teacher.close()
    return per_call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default="f16", help="teacher.weights (default: the offline default's)")
    args = ap.parse_args()
    # the offline default's weights; one request at a time on both sides (batch_size=1): batched decoding is
    # bench_teacher_weights.py's subject
    cfg = TeacherConfig(name="smollm2_offline", backend="llamacpp", model="offline:smollm2", weights=args.weights,
                        n_threads=args.threads, context_length=2048, batch_size=1)
    requests = prompts(args.prompts, args.tokens)
    run_direct(cfg, requests[:2])                      # warm the page cache and the CPU
    per_call = framework_cost_per_call(cfg, requests)
    times = {"direct": [], "framework": []}
    texts, tokens = {}, {}
    for k in range(args.rounds):
        order = ("direct", "framework") if k % 2 == 0 else ("framework", "direct")
        for side in order:
            elapsed, texts[side], tokens[side] = (run_direct if side == "direct" else run_framework)(cfg, requests)
            times[side].append(elapsed)
            print(f"round {k + 1} {side:9s} {elapsed:7.2f} s  {tokens[side] / elapsed:6.1f} tokens/s", flush=True)
    same = sum(a == b for a, b in zip(texts["direct"], texts["framework"]))
    d, f = min(times["direct"]), min(times["framework"])      # the least disturbed run of each side
    print(f"prompts {args.prompts} x {args.tokens} max new tokens, {args.threads} threads, {args.rounds} rounds each")
    print(f"identical texts: {same}/{args.prompts}; tokens generated direct {tokens['direct']}, "
          f"framework {tokens['framework']}")
    print(f"best direct {d:.2f} s ({tokens['direct'] / d:.1f} tokens/s), framework {f:.2f} s "
          f"({tokens['framework'] / f:.1f} tokens/s)")
    print(f"overhead (best vs best) {100 * (f - d) / d:+.1f}% (goal <= 5%); adjacent pairs: "
          + ", ".join(f"{100 * (b - a) / a:+.1f}%" for a, b in zip(times["direct"], times["framework"])))
    print(f"framework's own work per call {per_call * 1000:.2f} ms = {100 * per_call * args.prompts / d:.2f}% "
          f"of the best direct time per call")


if __name__ == "__main__":
    main()
