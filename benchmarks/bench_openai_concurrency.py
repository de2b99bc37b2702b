"""Throughput of the OpenAI-compatible backend with bounded concurrency vs one request at a time, against the
loopback fake server answering each request after a fixed delay (a stand-in for model latency).

    python benchmarks/bench_openai_concurrency.py [--requests 96] [--delay 0.1] [--concurrency 16]
"""
from __future__ import annotations

import argparse
import time

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer


def run(url: str, concurrency: int, n: int, tag: str) -> tuple[float, int]:
    cfg = TeacherConfig(name="bench", backend="openai", model="fake-model", base_urls=[url], concurrency=concurrency)
    teacher = build_teacher(cfg, None)                    # in-memory cache: every request is a miss
    start = time.perf_counter()
    out = teacher.generate([Request(f"{tag} prompt {i}", 32, seed=i) for i in range(n)], progress=False)
    elapsed = time.perf_counter() - start
    assert all(c.error is None for c in out) and teacher.stats["calls"] == n
    return elapsed, teacher.stats["retries"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    with FakeLLMServer(delay=args.delay) as server:
        seq, r1 = run(server.url, 1, args.requests, "seq")
        par, r2 = run(server.url, args.concurrency, args.requests, "par")
        peak = server.max_active
    print(f"{args.requests} requests, server delay {args.delay * 1000:.0f} ms")
    print(f"concurrency 1:  {seq:6.2f} s  {args.requests / seq:7.1f} req/s  (retries {r1})")
    print(f"concurrency {args.concurrency}: {par:6.2f} s  {args.requests / par:7.1f} req/s  (retries {r2}, "
          f"peak in flight {peak})")
    print(f"speedup {seq / par:.1f}x (goal >= 10x; ideal {args.concurrency}x)")


if __name__ == "__main__":
    main()
