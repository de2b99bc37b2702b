"""Self-BLEU: the exact sub-quadratic method vs the NLTK all-pairs loop, on the same tokens.

Run: python benchmarks/bench_self_bleu.py [--num-texts 2000] [--nltk-hypotheses 20]
The NLTK loop (each text's sentence_bleu against all the others) is timed on a subsample of hypotheses and
extrapolated linearly to all texts (each hypothesis costs the same N-1 references); the script says so.
`news_texts` and `load_average` here are shared with bench_ner.py and bench_mauve.py.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from metrics.self_bleu import self_bleu_per_text
from metrics.word_tokens import tokenize

SHARED = Path(os.environ.get("SYNTHESIZRR_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def news_texts(n: int, split: str = "train", offset: int = 0) -> tuple[list[str], str]:
    """``(texts, source)``: `n` news texts from row `offset` of AG News (shared data folder), else BBC ledes."""
    path = SHARED / "data" / "ag_news" / f"{split}.jsonl"
    if path.exists():
        texts = []
        with open(path) as f:
            for i, line in enumerate(f):
                if i >= offset:
                    texts.append(json.loads(line)["text"])
                if len(texts) == n:
                    break
        return texts, f"AG News {split} rows {offset}..{offset + len(texts) - 1} ({path})"
    from synthesizrr.core.assets import bbc_articles

    arts = bbc_articles()[offset:offset + n]
    return [a["lede"] for a in arts], f"BBC News article ledes {offset}..{offset + len(arts) - 1}"


def load_average() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


WEIGHTS = [(1, 0, 0, 0), (0.5, 0.5, 0, 0), (1 / 3, 1 / 3, 1 / 3, 0), (0.25,) * 4, (0.2,) * 5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num-texts", type=int, default=2000)
    ap.add_argument("--nltk-hypotheses", type=int, default=20)
    ap.add_argument("--tokenizer", default="regex")
    args = ap.parse_args()
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    texts, source = news_texts(args.num_texts)
    docs, _ = tokenize(texts, args.tokenizer)
    n = len(docs)
    print(f"texts: {n} from {source}; {args.tokenizer} tokens: {sum(map(len, docs))} "
          f"(mean {np.mean([len(d) for d in docs]):.1f} per text); {load_average()}")

    fast_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        ours = self_bleu_per_text(docs, 5)
        fast_times.append(time.perf_counter() - t0)
    fast = min(fast_times)
    print(f"sub-quadratic Self-BLEU-1..5, all {n} texts: {fast:.3f} s (best of 3)")

    smooth = SmoothingFunction().method1
    picks = np.random.default_rng(0).choice(n, size=min(args.nltk_hypotheses, n), replace=False)
    t0 = time.perf_counter()
    theirs = [sentence_bleu(docs[:i] + docs[i + 1:], docs[i], weights=WEIGHTS, smoothing_function=smooth)
              for i in picks]
    per_hypothesis = (time.perf_counter() - t0) / len(picks)
    nltk_total = per_hypothesis * n
    diff = float(np.abs(np.asarray(theirs) - ours[picks]).max())
    print(f"NLTK loop (one sentence_bleu call per text computing n=1..5 together): timed on {len(picks)} of {n} "
          f"hypotheses, {per_hypothesis:.3f} s each, EXTRAPOLATED linearly to {n}: {nltk_total:.1f} s")
    print(f"max |difference| on the timed hypotheses: {diff:.2e}")
    print(f"speed-up: {nltk_total / fast:.0f}x (goal >= 500x)")


if __name__ == "__main__":
    main()
