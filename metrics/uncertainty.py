"""How uncertain each reported number is: intervals over student seeds and resampling intervals over texts.

- Student metrics (accuracy, macro-F1) vary with the student seed. :func:`seed_summary` gives a t-interval over
  seeds; :func:`paired_seed_test` compares two rows trained with the same seeds on the same test set.
- Intrinsic metrics vary with the sample of texts. The ``bootstrap_*`` functions resample the texts of a row
  and return intervals plus the replicates; :func:`difference_interval` and :func:`bootstrap_differences`
  compare two rows from independently drawn replicates. Two schemes (:func:`resample_counts`):
  - ``"bootstrap"``: draws with replacement, percentile interval. Used for means of per-text values (Self-BLEU
    from fixed per-text scores) and for MAUVE.
  - ``"half"``: random halves without replacement (the delete-d jackknife with d = N/2), replicates re-centred
    on the estimate. The default for distinct-n and entity entropy: these count distinct items, and the
    duplicates of a with-replacement resample lower them (on AG News the bootstrap interval of distinct-1 or of
    entity entropy did not even contain the estimate). See docs/metrics.md for the calibration measured here.
- :func:`size_warnings` and :func:`wide_interval_warnings` flag numbers that mean little at a row's size.

Results are plain dicts of floats, ints, strings, lists and None. Bootstrap results also hold numpy arrays under
``"replicates"``; :func:`without_replicates` drops them for JSON. Every resampling draws from
:func:`bootstrap_rng` (seed, metric name), so the same inputs and seed give the same intervals.
"""
from __future__ import annotations

import math
import statistics
import zlib
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
from scipy import sparse, stats

T_METHOD = "t-interval over seeds: mean +- t(n-1 dof) * std / sqrt(n)"
PAIRED_METHOD = "paired t-test over seeds (scipy.stats.ttest_rel), t-interval of the mean difference"
PERCENTILE_METHOD = "percentile bootstrap over texts (resampled with replacement)"
HALF_METHOD = ("half-sampling over texts (delete-d jackknife, d = N/2): random halves without replacement, "
               "replicates re-centred on the estimate and scaled by sqrt(m/(N-m)); percentile interval of them")
DIFFERENCE_METHOD = "percentile interval of the differences of independently drawn bootstrap replicates (a - b)"
SELF_BLEU_NOTE = ("conditional on the reference pool: each text's BLEU against all other texts is computed once "
                  "and only these per-text scores are resampled")
MAUVE_NOTE = ("both sides resampled; PCA, k-means and the histograms are recomputed per replicate; few "
              "replicates, so the percentile ends are rough")
SCHEMES = ("bootstrap", "half")
CHUNK_CELLS = 1 << 21  # resample-count cells (replicates x texts) held at once
ZERO_TOLERANCE = 1e-12  # relative: differences this close to constant (or to 0) are treated as exactly so


def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return float(confidence)


def _finite(values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be a non-empty list of finite numbers, got {list(arr.ravel()[:5])}")
    return arr


def _t_half_width(std: float, n: int, confidence: float) -> float:
    return float(stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n))


# --- student seeds -------------------------------------------------------------------------------------------

def values_by_seed(per_seed: Sequence[Mapping], key: str = "accuracy") -> dict[str, float]:
    """``{str(seed): record[key]}`` from per-seed records such as ``distill.train``'s ``summary["per_seed"]``."""
    out: dict[str, float] = {}
    for record in per_seed:
        seed = str(record["seed"])
        if seed in out:
            raise ValueError(f"seed {seed} appears twice in the per-seed records")
        out[seed] = float(record[key])
    return out


def seed_summary(values: Sequence[float] | Mapping[object, float], confidence: float = 0.95) -> dict:
    """Mean, sample std (n-1) and a t-interval of one metric over student seeds (a list or {seed: value}).

    Keys: ``mean``, ``std``, ``n``, ``confidence``, ``ci_low``, ``ci_high``, ``half_width``, ``ci_available``,
    ``method``. The interval is ``mean +- t_{(1+c)/2, n-1} * std / sqrt(n)`` (:data:`T_METHOD`); it covers the
    seed-to-seed variation only, not the sampling of the test set. With one seed ``std``, the interval and
    ``half_width`` are None and ``ci_available`` is False.
    """
    confidence = _confidence(confidence)
    arr = _finite(list(values.values()) if isinstance(values, Mapping) else list(values), "seed values")
    n, mean = len(arr), statistics.fmean(arr.tolist())  # fmean/stdev as distill.train.summarize
    out = {"mean": mean, "std": None, "n": n, "confidence": confidence, "ci_low": None, "ci_high": None,
           "half_width": None, "ci_available": n >= 2, "method": T_METHOD}
    if n >= 2:
        std = statistics.stdev(arr.tolist())
        half = _t_half_width(std, n, confidence)
        out.update(std=std, ci_low=mean - half, ci_high=mean + half, half_width=half)
    return out


def _seed_order(seed: str):
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def _by_str_seed(values: Mapping, what: str) -> dict[str, float]:
    out = {str(k): v for k, v in values.items()}
    if len(out) != len(values):
        raise ValueError(f"{what} has seeds that are equal as strings: {sorted(map(str, values))}")
    return out


def paired_seed_test(method_values_by_seed: Mapping[object, float], baseline_values_by_seed: Mapping[object, float],
                     confidence: float = 0.95) -> dict:
    """Paired comparison of two rows trained with the same student seeds and scored on the same test set.

    Seeds are matched by id (compared as strings, so JSON round trips still match); seeds present on one side
    only are left out and listed. Keys: ``mean_difference`` (method - baseline), ``std_difference``, ``n_pairs``,
    ``seeds``, ``unmatched_seeds`` ({"method": [...], "baseline": [...]}), ``confidence``, ``ci_low``,
    ``ci_high``, ``p_value`` (two-sided), ``includes_zero``, ``ci_available``, ``method``.

    Degenerate cases give no warnings and no NaN: one pair has no interval and no p-value (``includes_zero``
    True: no evidence of a difference); identical differences on every seed give a zero-width interval with
    p = 1 when they are all 0 and p = 0 otherwise. Seed sets without a common seed raise ValueError.
    """
    confidence = _confidence(confidence)
    a = _by_str_seed(method_values_by_seed, "method_values_by_seed")
    b = _by_str_seed(baseline_values_by_seed, "baseline_values_by_seed")
    common = sorted(set(a) & set(b), key=_seed_order)
    if not common:
        raise ValueError(f"paired_seed_test: no common seed between the method's seeds {sorted(a, key=_seed_order)} "
                         f"and the baseline's {sorted(b, key=_seed_order)}")
    x, y = _finite([a[s] for s in common], "method values"), _finite([b[s] for s in common], "baseline values")
    diff = (x - y).tolist()
    n, mean = len(diff), statistics.fmean(diff)
    out = {"mean_difference": mean, "std_difference": None, "n_pairs": n, "seeds": common,
           "unmatched_seeds": {"method": sorted(set(a) - set(b), key=_seed_order),
                               "baseline": sorted(set(b) - set(a), key=_seed_order)},
           "confidence": confidence, "ci_low": None, "ci_high": None, "p_value": None, "includes_zero": True,
           "ci_available": n >= 2, "method": PAIRED_METHOD}
    if n < 2:
        return out
    std = statistics.stdev(diff)
    tol = ZERO_TOLERANCE * max(1.0, float(np.abs(x).max()), float(np.abs(y).max()))
    if std <= tol:  # the t statistic is 0/0 or +-inf: decide from the (constant) difference itself
        zero = abs(mean) <= tol
        low = high = 0.0 if zero else mean
        out.update(std_difference=std, ci_low=low, ci_high=high, p_value=1.0 if zero else 0.0, includes_zero=zero)
        return out
    res = stats.ttest_rel(x, y)
    low, high = res.confidence_interval(confidence)
    out.update(std_difference=std, ci_low=float(low), ci_high=float(high), p_value=float(res.pvalue),
               includes_zero=bool(low <= 0 <= high))
    return out


# --- bootstrap over texts ------------------------------------------------------------------------------------

def bootstrap_rng(seed: int | Sequence[int | str], metric: str) -> np.random.Generator:
    """The numpy Generator of one metric's bootstrap: ``default_rng([*seed, crc32(metric)])``.

    `seed` is an int or a sequence of ints and strings (a string enters as its crc32). Give each row its own
    seed, e.g. ``(0, "fewgen_32shot")``, so that two rows' replicates are drawn independently.
    """
    parts = [seed] if isinstance(seed, (int, np.integer, str)) else list(seed)
    entropy = [zlib.crc32(p.encode("utf-8")) if isinstance(p, str) else int(p) for p in parts]
    if any(e < 0 for e in entropy):
        raise ValueError(f"bootstrap seeds must be non-negative, got {seed!r}")
    return np.random.default_rng(entropy + [zlib.crc32(metric.encode("utf-8"))])


def resample_counts(rng: np.random.Generator, num_items: int, n_resamples: int,
                    scheme: str = "bootstrap") -> Iterator[np.ndarray]:
    """Chunks of the (n_resamples, num_items) matrix whose row r counts how often each item is in replicate r.

    ``"bootstrap"``: num_items draws with replacement (rows sum to num_items). ``"half"``: a uniform random half,
    num_items // 2 distinct items without replacement (rows of 0 and 1).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown resampling scheme '{scheme}': allowed {list(SCHEMES)}")
    chunk = max(1, min(n_resamples, CHUNK_CELLS // max(1, num_items)))
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        if scheme == "half":
            picks = rng.random((rows, num_items)).argpartition(num_items // 2, axis=1)[:, : num_items // 2]
            counts = np.zeros((rows, num_items))
            np.put_along_axis(counts, picks, 1.0, axis=1)
            yield counts
            continue
        draws = rng.integers(0, num_items, size=(rows, num_items)) + num_items * np.arange(rows)[:, None]
        yield np.bincount(draws.ravel(), minlength=rows * num_items).reshape(rows, num_items).astype(float)


def percentile_interval(estimate: float, replicates: np.ndarray, confidence: float = 0.95) -> dict:
    """``{"estimate", "ci_low", "ci_high", "std_error"}``: percentile interval of `replicates` and their std."""
    low, high = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
    std_error = float(np.std(replicates, ddof=1)) if len(replicates) > 1 else None
    return {"estimate": float(estimate), "ci_low": float(low), "ci_high": float(high), "std_error": std_error}


def bootstrap(statistic: Callable[[np.ndarray], dict[str, np.ndarray]], num_items: int,
              estimates: Mapping[str, float], metric: str, n_resamples: int = 1000, confidence: float = 0.95,
              seed: int | Sequence[int | str] = 0, note: str | None = None, scheme: str = "bootstrap") -> dict:
    """Resampling interval of `statistic`, a function from a (r, num_items) resample-count matrix
    (:func:`resample_counts`) to ``{key: (r,) replicate values}``; `estimates` are the point estimates.

    ``scheme="bootstrap"``: percentile bootstrap (:data:`PERCENTILE_METHOD`). ``scheme="half"``: half-sampling
    (:data:`HALF_METHOD`), whose replicates are re-centred on the estimate and scaled by sqrt(m / (N - m)), so
    they stand for the sampling distribution of the estimate like bootstrap replicates do.

    Returns ``metric``, ``method``, ``note``, ``confidence``, ``n_resamples``, ``seed``, ``num_texts``,
    ``intervals`` ({key: :func:`percentile_interval`}) and ``replicates`` ({key: array of n_resamples}).
    """
    confidence = _confidence(confidence)
    if not isinstance(n_resamples, int) or n_resamples < 2:
        raise ValueError(f"n_resamples must be an integer >= 2, got {n_resamples!r}")
    if num_items < 2:
        raise ValueError(f"resampling needs at least 2 texts, got {num_items}")
    parts: dict[str, list[np.ndarray]] = {key: [] for key in estimates}
    for counts in resample_counts(bootstrap_rng(seed, metric), num_items, n_resamples, scheme):
        for key, values in statistic(counts).items():
            parts[key].append(np.asarray(values, dtype=float))
    replicates = {key: np.concatenate(chunks) for key, chunks in parts.items()}
    if scheme == "half":
        m = num_items // 2
        scale = math.sqrt(m / (num_items - m))
        replicates = {k: estimates[k] + (r - r.mean()) * scale for k, r in replicates.items()}
    return _result(metric, estimates, replicates, confidence, seed, num_items, note, scheme)


def _result(metric, estimates, replicates, confidence, seed, num_items, note, scheme="bootstrap") -> dict:
    return {"metric": metric, "method": HALF_METHOD if scheme == "half" else PERCENTILE_METHOD, "note": note,
            "confidence": confidence, "n_resamples": len(next(iter(replicates.values()))),
            "seed": _seed_json(seed), "num_texts": num_items,
            "intervals": {k: percentile_interval(estimates[k], replicates[k], confidence) for k in replicates},
            "replicates": replicates}


def _seed_json(seed):
    if isinstance(seed, (str, int, np.integer)):
        return seed if isinstance(seed, str) else int(seed)
    return [p if isinstance(p, str) else int(p) for p in seed]


def without_replicates(result: Mapping) -> dict:
    """A bootstrap result without its ``replicates`` arrays (JSON-serialisable)."""
    return {k: v for k, v in result.items() if k != "replicates"}


def bootstrap_mean(values: Sequence[float], name: str = "mean", n_resamples: int = 1000, confidence: float = 0.95,
                   seed: int | Sequence[int | str] = 0, scheme: str = "bootstrap") -> dict:
    """Resampling interval of the mean of per-text values (1-D), under the key `name`."""
    arr = _finite(values, "values").ravel()
    return bootstrap(lambda counts: {name: counts @ arr / counts.sum(axis=1)}, len(arr), {name: float(arr.mean())},
                     name, n_resamples, confidence, seed, scheme=scheme)


def bootstrap_self_bleu(scores: np.ndarray, n_resamples: int = 1000, confidence: float = 0.95,
                        seed: int | Sequence[int | str] = 0) -> dict:
    """Bootstrap of Self-BLEU-1..k from the per-text scores of :func:`metrics.self_bleu.self_bleu_scores`.

    Texts are not re-scored: a resampled duplicate would match itself (BLEU 1) and inflate Self-BLEU. The mean of
    the fixed per-text scores is resampled instead, so the interval is conditional on the reference pool
    (:data:`SELF_BLEU_NOTE`). Keys ``self_bleu_1`` .. ``self_bleu_k``; estimates equal :func:`self_bleu` exactly.
    """
    scores = _finite(scores, "Self-BLEU scores")
    if scores.ndim != 2:
        raise ValueError(f"Self-BLEU scores must have shape (texts, max_n), got {scores.shape}")
    keys = [f"self_bleu_{k}" for k in range(1, scores.shape[1] + 1)]
    means = scores.mean(axis=0)  # the very operation self_bleu reports

    def statistic(counts):
        reps = counts @ scores / len(scores)
        return {key: reps[:, i] for i, key in enumerate(keys)}

    return bootstrap(statistic, len(scores), {k: float(means[i]) for i, k in enumerate(keys)}, "self_bleu",
                     n_resamples, confidence, seed, SELF_BLEU_NOTE)


def half_sample_self_bleu(token_lists: Sequence[Sequence[str]], max_n: int = 5, n_resamples: int = 100,
                           confidence: float = 0.95, seed: int | Sequence[int | str] = 0) -> dict:
    """Self-BLEU-1..max_n re-scored on random halves of the texts (each half is its own reference pool;
    :data:`HALF_METHOD`), so, unlike :func:`bootstrap_self_bleu`, the interval includes the variation of the
    reference pool. Each replicate costs one Self-BLEU computation over N/2 texts, hence fewer resamples."""
    from metrics.self_bleu import self_bleu_per_text

    token_lists = list(token_lists)
    if len(token_lists) < 4:
        raise ValueError(f"half-sampling Self-BLEU needs at least 4 texts (2 per half), got {len(token_lists)}")
    means = self_bleu_per_text(token_lists, max_n).mean(axis=0)
    keys = [f"self_bleu_{k}" for k in range(1, max_n + 1)]

    def statistic(counts):
        reps = np.array([self_bleu_per_text([token_lists[i] for i in np.flatnonzero(row)], max_n).mean(axis=0)
                         for row in counts])
        return {key: reps[:, i] for i, key in enumerate(keys)}

    return bootstrap(statistic, len(token_lists), {k: float(means[i]) for i, k in enumerate(keys)},
                     "self_bleu_half", n_resamples, confidence, seed, scheme="half")


def _dense_ids(keys: np.ndarray) -> np.ndarray:
    """0..U-1 ids of the distinct values of `keys`, in sorted order (np.unique's inverse, by one sort)."""
    order = np.argsort(keys, kind="stable")
    srt = keys[order]
    ids = np.empty(len(keys), dtype=np.int64)
    ids[order] = np.cumsum(np.r_[False, srt[1:] != srt[:-1]])
    return ids


def _gram_ids(token_lists: Sequence[Sequence[str]], max_n: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For k = 1..max_n: (k-gram ids, text index) of every k-gram that fits inside its text."""
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for toks in token_lists for t in toks), dtype=np.int64)
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    doc = np.repeat(np.arange(len(token_lists)), lengths)
    pos = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    gram = ids
    for k in range(1, max_n + 1):
        if k > 1:  # k-gram ids from (k-1)-gram ids and the next token
            gram = _dense_ids(gram[:-1] * (len(vocab) + 1) + ids[k - 1:])
        valid = pos[: len(gram)] <= lengths[doc[: len(gram)]] - k
        yield gram[valid], doc[: len(gram)][valid]


def distinct_n_statistic(token_lists: Sequence[Sequence[str]], max_n: int = 4) -> Callable:
    """Resample-count matrix -> ``{distinct_k: replicate values}``, exact for each resampled corpus.

    Per order k: the k-grams found in a single text are counted per text; a k-gram in several texts is absent
    from a replicate only when none of its texts is drawn, checked with a sparse (grams x texts) product.
    """
    num = len(token_lists)
    totals, only_here, in_texts = [], [], []
    for gram, doc in _gram_ids(token_lists, max_n):
        totals.append(np.bincount(doc, minlength=num))
        pair = np.sort(gram * num + doc)
        pair = pair[np.r_[True, pair[1:] != pair[:-1]]]  # distinct (k-gram, text) pairs, sorted by k-gram
        g, d = pair // num, pair % num
        single = np.bincount(g)[g] == 1
        only_here.append(np.bincount(d[single], minlength=num))
        shared = g[~single]
        g_multi = np.cumsum(np.r_[False, shared[1:] != shared[:-1]])[: len(shared)]  # renumbered 0..
        in_texts.append(sparse.csr_matrix((np.ones(len(g_multi), np.float32), (g_multi, d[~single])),
                                          shape=(int(g_multi.max(initial=-1)) + 1, num)))
    totals, only_here = np.array(totals, dtype=float).T, np.array(only_here, dtype=float).T  # (N, max_n)
    num_multi = np.array([m.shape[0] for m in in_texts], dtype=float)
    block = max(1, CHUNK_CELLS // max(1, int(num_multi.max())))

    def statistic(counts: np.ndarray) -> dict[str, np.ndarray]:
        distinct = (counts > 0) @ only_here + num_multi  # (r, max_n)
        for s in range(0, len(counts), block):  # minus the multi-text grams none of whose texts is drawn
            undrawn = np.ascontiguousarray((counts[s:s + block] == 0).T, dtype=np.float32)
            for k, in_text in enumerate(in_texts):
                df = np.diff(in_text.indptr)[:, None]
                distinct[s:s + block, k] -= ((in_text @ undrawn) == df).sum(axis=0)
        grams = counts @ totals
        ratio = np.divide(distinct, grams, out=np.zeros_like(grams), where=grams > 0)
        return {f"distinct_{k + 1}": ratio[:, k] for k in range(len(in_texts))}

    return statistic


def bootstrap_distinct_n(token_lists: Sequence[Sequence[str]], max_n: int = 4, n_resamples: int = 1000,
                         confidence: float = 0.95, seed: int | Sequence[int | str] = 0,
                         scheme: str = "half") -> dict:
    """Interval of distinct-1..max_n over texts (tokens from :func:`metrics.word_tokens.tokenize`); estimates
    equal :func:`metrics.diversity.distinct_n` exactly. Keys ``distinct_1`` .. ``distinct_{max_n}``.

    Half-sampling by default: a with-replacement resample repeats texts, adding k-grams but no distinct ones, so
    its replicates sit far below the estimate and spread too widely (module docstring).
    """
    from metrics.diversity import distinct_n_from_tokens

    point = distinct_n_from_tokens(token_lists, max_n)
    estimates = {f"distinct_{k}": point[f"distinct_{k}"] for k in range(1, max_n + 1)}
    return bootstrap(distinct_n_statistic(token_lists, max_n), len(token_lists), estimates, "distinct_n",
                     n_resamples, confidence, seed, scheme=scheme)


def _sum_xlog2x(counts: np.ndarray) -> np.ndarray:
    return np.where(counts > 0, counts * np.log2(np.where(counts > 0, counts, 1.0)), 0.0)


def _entropy(totals: np.ndarray, sum_xlogx: np.ndarray) -> np.ndarray:
    """log2 entropy from the total count and sum of c log2 c (0 where the total is 0)."""
    safe = np.where(totals > 0, totals, 1.0)
    return np.where(totals > 0, np.maximum(np.log2(safe) - sum_xlogx / safe, 0.0), 0.0)


def entity_entropy_statistic(entities: Sequence[Sequence[tuple[str, str]]]) -> Callable:
    """Resample-count matrix -> ``{"entity_entropy_log2", "entity_entropy_per_type_mean_log2"}`` replicates,
    recounting the entities of :func:`metrics.entities.entities_per_text` (no NER per replicate). A label absent
    from a replicate drops out of its per-type mean, as it would for that corpus."""
    num = len(entities)
    occ = [(label, text, i) for i, ents in enumerate(entities) for label, text in ents]
    strings = {s: j for j, s in enumerate(sorted({t for _, t, _ in occ}))}
    pairs = {p: j for j, p in enumerate(sorted({(lab, t) for lab, t, _ in occ}))}  # sorted by label first
    docs = np.array([i for _, _, i in occ], dtype=np.int64)
    ones = np.ones(len(occ))
    by_string = sparse.csr_matrix((ones, ([strings[t] for _, t, _ in occ], docs)), shape=(len(strings), num))
    by_pair = sparse.csr_matrix((ones, ([pairs[(lab, t)] for lab, t, _ in occ], docs)), shape=(len(pairs), num))
    pair_labels = [lab for lab, _ in pairs]
    starts = np.flatnonzero([j == 0 or pair_labels[j] != pair_labels[j - 1] for j in range(len(pair_labels))])

    def statistic(counts: np.ndarray) -> dict[str, np.ndarray]:
        pooled, per_type = np.zeros(len(counts)), np.zeros(len(counts))
        block = max(1, CHUNK_CELLS // max(1, len(strings) + len(pairs)))
        for s in range(0, len(counts), block):
            if not len(occ):
                break
            w = counts[s:s + block].T
            c = by_string @ w
            pooled[s:s + block] = _entropy(c.sum(axis=0), _sum_xlog2x(c).sum(axis=0))
            c = by_pair @ w
            totals = np.add.reduceat(c, starts, axis=0)
            h = _entropy(totals, np.add.reduceat(_sum_xlog2x(c), starts, axis=0))
            present = (totals > 0).sum(axis=0)
            per_type[s:s + block] = np.where(present > 0, h.sum(axis=0) / np.maximum(present, 1), 0.0)
        return {"entity_entropy_log2": pooled, "entity_entropy_per_type_mean_log2": per_type}

    return statistic


def bootstrap_entity_entropy(entities: Sequence[Sequence[tuple[str, str]]], n_resamples: int = 1000,
                             confidence: float = 0.95, seed: int | Sequence[int | str] = 0,
                             scheme: str = "half") -> dict:
    """Interval of the pooled and the per-type-mean entity entropy over texts, from
    :func:`metrics.entities.entities_per_text`. Keys ``entity_entropy_log2``,
    ``entity_entropy_per_type_mean_log2``; estimates equal :func:`metrics.entities.entity_entropy`.

    Half-sampling by default: repeated texts repeat their entities and lower the entropy of a with-replacement
    resample (module docstring).
    """
    from metrics.entities import entity_entropy_from_entities

    point = entity_entropy_from_entities([list(e) for e in entities])
    keys = ("entity_entropy_log2", "entity_entropy_per_type_mean_log2")
    return bootstrap(entity_entropy_statistic(entities), len(entities), {k: point[k] for k in keys},
                     "entity_entropy", n_resamples, confidence, seed, scheme=scheme)


def bootstrap_mauve(p_features: np.ndarray, q_features: np.ndarray, num_buckets: int = 30,
                    scaling_factor: float = 1.0, mauve_seed: int = 25, n_resamples: int = 20,
                    confidence: float = 0.95, seed: int | Sequence[int | str] = 0,
                    estimate: Mapping[str, float] | None = None) -> dict:
    """Bootstrap of MAUVE: per replicate, both the reference features `p_features` and the generation features
    `q_features` are resampled with replacement and :func:`metrics.mauve_score.mauve_from_features` runs again
    with the same settings (PCA, k-means with `mauve_seed`, histograms; :data:`MAUVE_NOTE`).

    Each replicate costs a full MAUVE computation, hence the small default `n_resamples`. `estimate` (e.g. the
    :func:`metrics.mauve_score.mauve_score` result) skips recomputing the point estimate. Keys ``mauve`` and
    ``mauve_scaling_5``.
    """
    from metrics.mauve_score import mauve_from_features

    confidence = _confidence(confidence)
    if not isinstance(n_resamples, int) or n_resamples < 2:
        raise ValueError(f"n_resamples must be an integer >= 2, got {n_resamples!r}")
    p, q = np.asarray(p_features), np.asarray(q_features)
    keys = ("mauve", "mauve_scaling_5")
    point = estimate if estimate is not None else mauve_from_features(p, q, num_buckets, scaling_factor, mauve_seed)
    rng = bootstrap_rng(seed, "mauve")
    reps = {k: np.empty(n_resamples) for k in keys}
    for r in range(n_resamples):
        res = mauve_from_features(p[rng.integers(0, len(p), len(p))], q[rng.integers(0, len(q), len(q))],
                                  num_buckets, scaling_factor, mauve_seed)
        for k in keys:
            reps[k][r] = res[k]
    out = _result("mauve", {k: point[k] for k in keys}, reps, confidence, seed, len(q), MAUVE_NOTE)
    return {**out, "num_references": len(p)}


def difference_interval(replicates_a: Sequence[float], replicates_b: Sequence[float], confidence: float = 0.95,
                        point_difference: float | None = None) -> dict:
    """Percentile interval of a - b from two rows' independently drawn bootstrap replicates (same count).

    Keys ``estimate`` (`point_difference`, else the mean of the replicate differences), ``ci_low``, ``ci_high``,
    ``includes_zero``, ``confidence``, ``n_resamples``, ``method``. Valid only when the two rows were resampled
    independently (different bootstrap seeds) and are independent samples of texts.
    """
    confidence = _confidence(confidence)
    a, b = _finite(replicates_a, "replicates_a").ravel(), _finite(replicates_b, "replicates_b").ravel()
    if len(a) != len(b):
        raise ValueError(f"difference_interval needs as many replicates on both sides, got {len(a)} and {len(b)}")
    diff = a - b
    low, high = (float(v) for v in np.quantile(diff, [(1 - confidence) / 2, (1 + confidence) / 2]))
    return {"estimate": float(diff.mean()) if point_difference is None else float(point_difference),
            "ci_low": low, "ci_high": high, "includes_zero": low <= 0 <= high, "confidence": confidence,
            "n_resamples": len(diff), "method": DIFFERENCE_METHOD}


def bootstrap_differences(result_a: Mapping, result_b: Mapping, confidence: float | None = None) -> dict:
    """{key: :func:`difference_interval`} for every key two bootstrap results share, with the point estimate
    a - b. Refuses two results drawn with the same seed and size: their replicates would not be independent."""
    if result_a["seed"] == result_b["seed"] and result_a["num_texts"] == result_b["num_texts"]:
        raise ValueError(f"both {result_a['metric']} bootstraps used seed {result_a['seed']!r} on "
                         f"{result_a['num_texts']} texts: give each row its own seed, e.g. (seed, row name)")
    confidence = result_a["confidence"] if confidence is None else confidence
    return {k: difference_interval(result_a["replicates"][k], result_b["replicates"][k], confidence,
                                   result_a["intervals"][k]["estimate"] - result_b["intervals"][k]["estimate"])
            for k in result_a["replicates"] if k in result_b["replicates"]}


# --- warnings ------------------------------------------------------------------------------------------------

MIN_SEEDS = 3  # t quantile: 12.7 with 2 seeds, 4.3 with 3, 2.8 with 5 (95%)
TEXTS_PER_MAUVE_BUCKET = 10  # mauve-text's 'auto' rule: buckets = texts / 10
MIN_SELF_BLEU_TEXTS = 100
MIN_INTERVAL_TEXTS = 500  # measured: below it some intervals over texts cover far less than 95% (docs)
MAX_ACCURACY_HALF_WIDTH = 0.02  # 95% binomial half-width of an accuracy near 50%: 0.98 / sqrt(num_test)


def size_warnings(num_texts: int, num_seeds: int, mauve_num_buckets: int | None = None,
                  self_bleu_sample: int | None = None, num_test: int | None = None) -> list[str]:
    """Short warnings for a row's settings that mean little at its size (empty when all is well):

    - fewer than :data:`MIN_SEEDS` student seeds: one seed has no interval; two give a t quantile of 12.7;
    - MAUVE with fewer than :data:`TEXTS_PER_MAUVE_BUCKET` texts per bucket (mauve-text's own 'auto' choice is
      texts / 10): the histograms are sparse, so MAUVE saturates and differences mean little;
    - Self-BLEU over fewer than :data:`MIN_SELF_BLEU_TEXTS` texts (after `self_bleu_sample`): every text has few
      references, and Self-BLEU grows with the pool, so it is not comparable with larger rows;
    - fewer than :data:`MIN_INTERVAL_TEXTS` texts: the intervals over texts are too narrow. Measured on AG News
      (``bench_bootstrap.py --calibrate``): at 100 texts the 95% intervals of Self-BLEU-4 and distinct-2..4
      held the expected value in 52-77% of samples, at 20 texts in 48-82%; at 500 texts all held it in >= 85%;
    - a test set so small that test-set sampling alone moves accuracy by more than
      :data:`MAX_ACCURACY_HALF_WIDTH` (95%, at 50% accuracy); seed intervals do not include this noise.
    """
    out = []
    if num_seeds < MIN_SEEDS:
        out.append("1 student seed: accuracy has no interval and rows cannot be tested against each other"
                   if num_seeds < 2 else f"{num_seeds} student seeds: the 95% t-interval is "
                   f"+-{stats.t.ppf(0.975, num_seeds - 1):.1f} standard errors wide")
    if mauve_num_buckets is not None and mauve_num_buckets * TEXTS_PER_MAUVE_BUCKET > num_texts:
        out.append(f"MAUVE with {mauve_num_buckets} buckets over {num_texts} texts (< {TEXTS_PER_MAUVE_BUCKET} per "
                   f"bucket): MAUVE saturates; use at most {max(2, num_texts // TEXTS_PER_MAUVE_BUCKET)} buckets")
    scored = min(num_texts, self_bleu_sample) if self_bleu_sample else num_texts
    if scored < MIN_SELF_BLEU_TEXTS:
        out.append(f"Self-BLEU over {scored} texts (< {MIN_SELF_BLEU_TEXTS}): few references per text; not "
                   "comparable with rows scored over more texts")
    if num_texts < MIN_INTERVAL_TEXTS:
        out.append(f"{num_texts} texts (< {MIN_INTERVAL_TEXTS}): intervals over texts are too narrow, most for "
                   "Self-BLEU-4 and distinct-2..4")
    if num_test is not None and 0.98 / math.sqrt(max(num_test, 1)) > MAX_ACCURACY_HALF_WIDTH:
        out.append(f"{num_test} test examples: accuracy alone varies by +-{98 / math.sqrt(max(num_test, 1)):.1f} "
                   "points (95%) from the test sample, which seed intervals leave out")
    return out


def wide_interval_warnings(intervals: Mapping[str, Mapping], max_relative_half_width: float = 0.1) -> list[str]:
    """Warnings for intervals ({name: dict with ``estimate`` or ``mean``, ``ci_low``, ``ci_high``}) whose
    half-width exceeds `max_relative_half_width` of the estimate: differences between rows smaller than that
    cannot be told from noise. Intervals that are missing (None) or around an estimate of 0 are skipped."""
    out = []
    for name, iv in intervals.items():
        est = iv.get("estimate", iv.get("mean"))
        if iv.get("ci_low") is None or iv.get("ci_high") is None or not est:
            continue
        half = (iv["ci_high"] - iv["ci_low"]) / 2
        if half > max_relative_half_width * abs(est):
            level = f"{iv['confidence']:.0%} " if iv.get("confidence") else ""
            out.append(f"{name}: {est:.4g} +- {half:.2g} ({level}interval wider than +-{max_relative_half_width:.0%} "
                       "of the value)")
    return out
