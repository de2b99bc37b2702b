"""What a decode step of the offline teacher costs, by weight type, sequences per step and context length.

At FewGen lengths a step reads every sequence's KV cache (~23 KB per token for SmolLM2-135M), which batching
cannot share, as well as the weights, which it does. This prints ms per step (and sampling's share) after a short
and a long prompt side by side, so the two costs separate: the ratio long/short is what the KV reads add.

    .venv/bin/python benchmarks/bench_decode_context.py [--weights native,f16] [--sequences 1,8]
        [--contexts 100,1750] [--steps 32] [--threads 2]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as the framework sets it

import argparse
import time
from pathlib import Path

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import backend_class
from synthesizrr.teachers.llamacpp_streams import Sequence, Streams, kv_bytes_per_token, probe

TEXT = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def step_costs(backend, n: int, context: int, steps: int, lone: bool) -> tuple[float, float]:
    """(decode ms per step, sampling ms per step) for n sequences after the same ``context``-token prompt."""
    llm = backend._load()
    ids = llm.tokenize((TEXT * (1 + 4 * context // len(TEXT))).encode(), add_bos=True)[:context]
    streams = Streams(llm, n, lone=lone)
    try:
        idx = streams.prompt(0, ids)
        for slot in range(1, n):
            streams.copy(0, slot)
        seqs = {s: Sequence(llm, ids, 10 ** 6, [], 1000 + s, backend._sampling()) for s in range(n)}
        for seq in seqs.values():
            seq.sample(streams.ctx, idx)
        decode = sample = 0.0
        for _ in range(steps):
            t0 = time.perf_counter()
            index = streams.step(seqs)
            t1 = time.perf_counter()
            for s, seq in seqs.items():
                seq.sample(streams.ctx, index[s])
            decode, sample = decode + t1 - t0, sample + time.perf_counter() - t1
        for seq in seqs.values():
            seq.close()
        return 1000 * decode / steps, 1000 * sample / steps
    finally:
        streams.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="native,f16")
    ap.add_argument("--sequences", default="1,8")
    ap.add_argument("--contexts", default="100,1750")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sizes = [int(k) for k in args.sequences.split(",")]
    contexts = [int(c) for c in args.contexts.split(",")]
    for weights in args.weights.split(","):
        cfg = TeacherConfig(name="bench", backend="llamacpp", model="offline:smollm2", weights=weights,
                            n_threads=args.threads, context_length=max(contexts) + args.steps + 16)
        backend = backend_class("llamacpp")(cfg)
        llm = backend._load()
        found, kb = probe(llm), kv_bytes_per_token(llm) / 1024
        print(f"{weights} (KV {kb:.1f} KB per token; lone sequence {'alone' if found.as_alone else 'beside a companion'}):")
        for n in sizes:
            cells = []
            for context in contexts:
                decode, sample = step_costs(backend, n, context, args.steps, found.as_alone)
                cells.append((context, decode, sample))
            base = cells[0][1]
            print(f"  {n:2d} sequences per step: " + " | ".join(
                f"after {c:5d} tokens {d:6.1f} ms/step ({d / base:.2f}x), sampling {s:.1f} ms, {1000 * n / (d + s):5.1f} tok/s"
                for c, d, s in cells), flush=True)
        backend.close()


if __name__ == "__main__":
    main()
