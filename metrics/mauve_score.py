"""MAUVE between generated texts and real reference texts (higher = closer to the real distribution).

MAUVE (Pillutla et al. 2021) as computed by ``mauve-text`` on precomputed features (never its text path, which
downloads GPT-2): features of p = references and q = generations are jointly PCA-reduced (90% explained
variance), quantised with k-means into `num_buckets` clusters, and MAUVE is the area under the divergence curve
{(exp(-c KL(q || r_l)), exp(-c KL(p || r_l))): r_l = l p + (1 - l) q}, with c the scaling factor.

- ``mauve``: with ``scaling_factor`` (the reference uses c = 1);
- ``mauve_scaling_5``: c = 5 (the library default), from the same histograms (no second clustering).

References are real texts with the same labels as the generations (:func:`label_matched_references`).
"""
from __future__ import annotations

import zlib
from collections import Counter
from typing import Sequence

import numpy as np

from metrics.features import featurize

LIBRARY_DEFAULT_SCALING = 5.0


def label_matched_references(labels: Sequence[str], references_by_label: dict[str, list[str]],
                             seed: int) -> tuple[list[str], dict]:
    """One real reference per generation: the j-th generation with label L gets ``perm_L[j mod n_L]``, where
    ``perm_L`` is a seeded permutation of the ``n_L`` reference texts of L (cycled when there are fewer
    references than generations, as the reference implementation does).

    Returns ``(references, stats)``; ``references[i]`` matches ``labels[i]``. ``stats``:
    ``mauve_reference_reuse_max`` / ``mauve_reference_reuse_mean`` = the largest / mean number of times a used
    reference text is repeated (1 = no reuse) and ``mauve_num_unique_references``.
    """
    labels = [str(x) for x in labels]
    if not labels:
        raise ValueError("label_matched_references needs at least 1 label, got 0")
    missing = sorted({x for x in labels if not references_by_label.get(x)})
    if missing:
        raise ValueError(f"no reference texts for labels {missing}: references exist for {sorted(references_by_label)}")
    perms = {}
    for label in set(labels):
        rng = np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])
        perms[label] = rng.permutation(len(references_by_label[label]))
    seen: Counter = Counter()
    picks = []
    for label in labels:
        perm = perms[label]
        picks.append((label, int(perm[seen[label] % len(perm)])))
        seen[label] += 1
    uses = Counter(picks)
    stats = {
        "mauve_reference_reuse_max": max(uses.values()),
        "mauve_reference_reuse_mean": len(picks) / len(uses),
        "mauve_num_unique_references": len(uses),
    }
    return [references_by_label[label][i] for label, i in picks], stats


def _area(curve: np.ndarray) -> float:
    """MAUVE from a divergence curve: mean of the areas with either coordinate as the x axis."""
    from sklearn.metrics import auc

    x, y = curve.T
    ix, iy = np.argsort(x), np.argsort(y)
    return float(0.5 * (auc(x[ix], y[ix]) + auc(y[iy], x[iy])))


def mauve_from_features(p_features: np.ndarray, q_features: np.ndarray, num_buckets: int | str = 30,
                        scaling_factor: float = 1.0, seed: int = 25) -> dict:
    """``{"mauve": ..., "mauve_scaling_5": ...}`` for p = reference features, q = generation features."""
    import mauve
    from mauve.compute_mauve import get_divergence_curve_for_multinomials

    total = len(p_features) + len(q_features)
    if isinstance(num_buckets, int) and not 2 <= num_buckets <= total:
        raise ValueError(f"num_buckets must be between 2 and the number of texts plus references ({total}), "
                         f"got {num_buckets}")
    out = mauve.compute_mauve(p_features=p_features, q_features=q_features, num_buckets=num_buckets,
                              mauve_scaling_factor=scaling_factor, seed=seed, device_id=-1, verbose=False)
    weights = np.linspace(1e-6, 1 - 1e-6, len(out.divergence_curve) - 2)  # the library's mixture weights
    curve_5 = get_divergence_curve_for_multinomials(out.p_hist, out.q_hist, weights, LIBRARY_DEFAULT_SCALING)
    return {"mauve": float(out.mauve), "mauve_scaling_5": _area(curve_5), "mauve_num_buckets": int(out.num_buckets)}


def mauve_features(texts: list[str], reference_texts: list[str], featurizer: str = "offline:minilm",
                   max_length: int = 512, cache_dir=None, device: str = "auto",
                   batch_size: int = 32) -> tuple[np.ndarray, np.ndarray, int]:
    """``(p, q, num_featurized)``: the features :func:`mauve_score` computes MAUVE from (p = references,
    q = generations), for callers that reuse them (e.g. ``metrics.uncertainty.bootstrap_mauve``)."""
    texts, reference_texts = list(texts), list(reference_texts)
    if not texts or not reference_texts:
        raise ValueError(f"MAUVE needs texts and reference texts, got {len(texts)} texts and "
                         f"{len(reference_texts)} references")
    p, encoded_p = featurize(reference_texts, featurizer, max_length, cache_dir, device, batch_size)
    q, encoded_q = featurize(texts, featurizer, max_length, cache_dir, device, batch_size)
    return p, q, encoded_p + encoded_q


def mauve_score(texts: list[str], reference_texts: list[str], featurizer: str = "offline:minilm",
                max_length: int = 512, num_buckets: int = 30, scaling_factor: float = 1.0, cache_dir=None,
                device: str = "auto", seed: int = 25, batch_size: int = 32, features=None) -> dict:
    """MAUVE of `texts` (q) against `reference_texts` (p) (module docstring). Features come from `featurizer`
    (:mod:`metrics.features`), cached in `cache_dir` when given, or from `features` (:func:`mauve_features`).

    Returns ``mauve``, ``mauve_scaling_5``, ``mauve_scaling_factor``, ``mauve_featurizer``,
    ``mauve_num_buckets``, ``num_texts``, ``num_references`` and ``num_featurized`` (texts encoded by this call,
    0 when every feature came from the cache or was given).
    """
    if features is None:
        p, q, encoded = mauve_features(texts, reference_texts, featurizer, max_length, cache_dir, device, batch_size)
    else:   # (p, q[, num_featurized]) from mauve_features: encoded by the call that made them
        (p, q), encoded = features[:2], 0
    out = mauve_from_features(p, q, num_buckets, scaling_factor, seed)
    out.update(mauve_scaling_factor=float(scaling_factor), mauve_featurizer=featurizer, num_texts=len(q),
               num_references=len(p), num_featurized=encoded)
    return out
