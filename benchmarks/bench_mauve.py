"""MAUVE for several methods against one reference set: cached reference features vs featurizing both sides
each time.

Run: python benchmarks/bench_mauve.py [--methods 3] [--num-texts 200] [--featurizer offline:minilm]
"Generations" of each method are disjoint slices of AG News train, references are AG News test texts.
- uncached: every evaluation featurizes references and generations (no cache_dir);
- cached: one FeatureCache; the references are encoded for the first method only;
- re-evaluation: the same evaluations again with the warm cache (nothing is encoded).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_self_bleu import load_average, news_texts  # noqa: E402 - shared text loader

from metrics.features import encode  # noqa: E402
from metrics.mauve_score import mauve_score  # noqa: E402


def evaluate_all(methods, refs, featurizer, cache_dir):
    t0 = time.perf_counter()
    results = [mauve_score(gens, refs, featurizer=featurizer, cache_dir=cache_dir) for gens in methods]
    return time.perf_counter() - t0, results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", type=int, default=3)
    ap.add_argument("--num-texts", type=int, default=200)
    ap.add_argument("--featurizer", default="offline:minilm")
    args = ap.parse_args()
    refs, ref_source = news_texts(args.num_texts, split="test")
    methods = [news_texts(args.num_texts, offset=k * args.num_texts)[0] for k in range(args.methods)]
    print(f"{args.methods} methods x {args.num_texts} texts vs {len(refs)} references ({ref_source}); "
          f"featurizer {args.featurizer}; {load_average()}")
    encode(refs[:2], args.featurizer, progress=False)  # load the model before timing
    t_plain, plain = evaluate_all(methods, refs, args.featurizer, None)
    with tempfile.TemporaryDirectory() as cache_dir:
        t_cached, cached = evaluate_all(methods, refs, args.featurizer, cache_dir)
        t_again, again = evaluate_all(methods, refs, args.featurizer, cache_dir)
    print(f"uncached:      {t_plain:.1f} s, texts encoded {sum(r['num_featurized'] for r in plain)}")
    print(f"cached refs:   {t_cached:.1f} s, texts encoded {sum(r['num_featurized'] for r in cached)} "
          f"-> {t_plain / t_cached:.2f}x")
    print(f"re-evaluation: {t_again:.2f} s, texts encoded {sum(r['num_featurized'] for r in again)} "
          f"-> {t_plain / t_again:.0f}x")
    same = all(abs(a["mauve"] - b["mauve"]) < 1e-6 for a, b in zip(plain, again))
    print(f"MAUVE per method: {[round(r['mauve'], 4) for r in plain]}; equal with and without the cache: {same}")


if __name__ == "__main__":
    main()
