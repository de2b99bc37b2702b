"""Completed calls per minute and calls wasted on 429s against a rate-limited loopback server (a fixed window of
--limit requests per second; beyond it 429 with Retry-After = time left in the window), with the shared cooldown
(a 429 pauses every worker of that server) and without it (each worker waits only after its own 429), and with
the cooldown plus teacher.requests_per_minute set to 95% of the server's limit. The variants alternate, each on a
fresh server, and the best of --rounds is reported.

    python benchmarks/bench_cooldown.py [--requests 300] [--limit 40] [--concurrency 16] [--rounds 2]
"""
from __future__ import annotations

import argparse
import logging
import time

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher
from synthesizrr.testing.fake_llm_server import FakeLLMServer


VARIANTS = {"own": "each worker for itself", "shared": "shared cooldown", "rpm": "shared + requests_per_minute"}


def run(variant: str, args, tag: str) -> tuple[float, int, int]:
    shared = variant != "own"
    rpm = 0.95 * args.limit * 60 if variant == "rpm" else None
    with FakeLLMServer(delay=args.delay, rate_limit=(args.limit, 1.0)) as server:
        cfg = TeacherConfig(name="bench", backend="openai", model="fake-model", base_urls=[server.url],
                            concurrency=args.concurrency, max_retries=50, backoff_base=0.1, backoff_max=2.0,
                            requests_per_minute=rpm)
        teacher = build_teacher(cfg, None)
        teacher.backend.shared_cooldown = shared
        start = time.perf_counter()
        out = teacher.generate([Request(f"{tag} prompt {i}", 16, seed=i) for i in range(args.requests)],
                               progress=False)
        elapsed = time.perf_counter() - start
        done = sum(c.error is None for c in out)
        wasted = sum(r.fault == "429" for r in server.requests)
    return done / elapsed * 60, wasted, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--limit", type=int, default=40, help="requests the server admits per second")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--delay", type=float, default=0.02, help="server seconds per admitted request")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("synthesizrr").setLevel(logging.ERROR)      # one retry warning per 429 otherwise
    results: dict[str, list] = {v: [] for v in VARIANTS}
    for k in range(args.rounds):
        for variant in VARIANTS:
            results[variant].append(run(variant, args, f"r{k}{variant}"))
    print(f"{args.requests} requests, server admits {args.limit}/s (ideal {args.limit * 60:,} calls/min), "
          f"concurrency {args.concurrency}, {args.delay * 1000:.0f} ms per call; best of {args.rounds}")
    best = {}
    for variant, label in VARIANTS.items():
        per_min = max(r[0] for r in results[variant])
        wasted = min(r[1] for r in results[variant])
        best[variant] = (per_min, wasted)
        runs = ", ".join(f"{r[0]:,.0f}/min {r[1]} x 429" for r in results[variant])
        print(f"{label:<29} {per_min:7,.0f} completed calls/min, {wasted:4d} calls wasted on 429s  ({runs})")
    for variant in ("shared", "rpm"):
        print(f"{VARIANTS[variant]} / own: {best[variant][0] / best['own'][0]:.2f}x calls per minute, "
              f"{best[variant][1] / max(1, best['own'][1]):.2f}x wasted calls")

if __name__ == "__main__":
    main()
