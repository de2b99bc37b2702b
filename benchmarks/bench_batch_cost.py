"""Cost of the same requests sent online and through the provider batch APIs (teacher.batch=true), on the loopback
server (OpenAI Batch API and Anthropic Message Batches), priced with the list prices of conf/teacher/openai.yaml and
claude.yaml. Also the cost guard's estimate before the run against what the run cost: an upper bound (it prices every
max new token; the fake server writes 4-11 words and counts words as tokens, the estimate 4 characters per token).

    python benchmarks/bench_batch_cost.py [--requests 300] [--max-new-tokens 64]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer

PRICES = {"openai": (0.15, 0.60), "anthropic": (0.80, 4.00)}    # USD per 1M tokens in / out (list prices)


def run(url: str, backend: str, batch: bool, requests: list[Request], cache: Path) -> dict:
    pin, pout = PRICES[backend]
    cfg = TeacherConfig(name="bench", backend=backend, model="fake-model", base_urls=[url], batch=batch,
                        batch_poll_seconds=0.05, price_per_1m_input=pin, price_per_1m_output=pout)
    teacher = build_teacher(cfg, cache)
    planned = teacher.plan(requests)["cost_usd"]
    start = time.perf_counter()
    out = teacher.generate(requests, progress=False)
    stats = teacher.stats
    teacher.close()
    assert all(c.error is None for c in out) and stats["calls"] == len(requests)
    return {**stats, "planned": planned, "seconds": time.perf_counter() - start, "texts": [c.text for c in out]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    requests = [Request(f"Write a news summary about topic {i}. " * 8, args.max_new_tokens, seed=i)
                for i in range(args.requests)]
    print(f"{args.requests} requests, max {args.max_new_tokens} new tokens, loopback server")
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(batch_polls=2) as server:
        for backend in ("openai", "anthropic"):
            online = run(server.url, backend, False, requests, Path(tmp) / f"{backend}-online.sqlite")
            before = server.count
            batch = run(server.url, backend, True, requests, Path(tmp) / f"{backend}-batch.sqlite")
            admin = server.count - before
            assert batch["texts"] == online["texts"] if backend == "openai" else True   # Anthropic has no seed
            assert (batch["tokens_in"], batch["tokens_out"]) == (online["tokens_in"], online["tokens_out"])
            pin, pout = PRICES[backend]
            print(f"{backend} (${pin:g} / ${pout:g} per 1M tokens): {online['calls']} calls each, "
                  f"{online['tokens_in']:,} tokens in, {online['tokens_out']:,} out")
            print(f"  online: ${online['cost_usd']:.6f} (guard estimated ${online['planned']:.6f}, "
                  f"{online['planned'] / online['cost_usd']:.2f}x), {online['calls']} HTTP requests")
            print(f"  batch:  ${batch['cost_usd']:.6f} (guard estimated ${batch['planned']:.6f}, "
                  f"{batch['planned'] / batch['cost_usd']:.2f}x), {admin} HTTP requests (upload, create, polls, "
                  f"results)")
            print(f"  batch / online cost: {batch['cost_usd'] / online['cost_usd']:.3f} (expected 0.5)")


if __name__ == "__main__":
    main()
