"""Diversity statistics beyond the paper: distinct-n, text lengths and embedding cosine similarity by label."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from metrics.word_tokens import tokenize


def distinct_n(texts: list[str], max_n: int = 4, tokenizer: str = "regex") -> dict:
    """``distinct_k`` for k = 1..max_n: number of distinct k-grams / total number of k-grams, over all texts
    (k-grams never cross a text boundary; tokens from :mod:`metrics.word_tokens`). A corpus with no k-gram at all
    (every text shorter than k tokens) has ``distinct_k = 0.0``. Also ``num_texts``."""
    texts = list(texts)
    if not texts:
        raise ValueError("distinct_n needs at least 1 text, got 0")
    return distinct_n_from_tokens(tokenize(texts, tokenizer)[0], max_n)


def distinct_n_from_tokens(token_lists: Sequence[Sequence[str]], max_n: int = 4) -> dict:
    """:func:`distinct_n` on already tokenized texts (one list of tokens per text)."""
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
    if not token_lists:
        raise ValueError("distinct_n needs at least 1 text, got 0")
    out = {}
    for k in range(1, max_n + 1):
        grams = [tuple(toks[i:i + k]) for toks in token_lists for i in range(len(toks) - k + 1)]
        out[f"distinct_{k}"] = len(set(grams)) / len(grams) if grams else 0.0
    out["num_texts"] = len(token_lists)
    return out


def length_stats(texts: list[str]) -> dict:
    """Mean, population standard deviation, min, median and max of text length in words (whitespace-separated
    tokens) and in characters: keys ``length_words_<stat>`` and ``length_chars_<stat>``, plus ``num_texts``."""
    texts = list(texts)
    if not texts:
        raise ValueError("length_stats needs at least 1 text, got 0")
    out = {}
    for unit, values in (("words", [len(t.split()) for t in texts]), ("chars", [len(t) for t in texts])):
        arr = np.asarray(values, dtype=float)
        for stat, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("median", np.median), ("max", np.max)):
            out[f"length_{unit}_{stat}"] = float(fn(arr))
    out["num_texts"] = len(texts)
    return out


def _mean_or_none(total: float, pairs: int) -> float | None:
    return float(total / pairs) if pairs else None


def embedding_similarity(texts: list[str], labels: Sequence[str] | None, model: str = "offline:minilm",
                         cache_dir=None, max_length: int = 256, device: str = "auto", batch_size: int = 32) -> dict:
    """Mean pairwise cosine similarity of sentence embeddings (:func:`metrics.features.featurize`; higher = more
    alike), over pairs of two different texts i != j:

    - ``embedding_cosine_mean``: over all pairs;
    - ``embedding_cosine_within_mean`` / ``embedding_cosine_across_mean``: over pairs with the same / different
      labels (pooled over pairs, not averaged per label);
    - ``embedding_cosine_by_label``: {a: {b: mean over i in a, j in b}} (the label x label matrix).

    A mean over no pair (e.g. the diagonal of a label with one text) is None. `labels` None gives only the
    overall mean. Also ``num_texts`` and ``embedding_model``.
    """
    from metrics.features import featurize

    texts = list(texts)
    if len(texts) < 2:
        raise ValueError(f"embedding_similarity needs at least 2 texts, got {len(texts)}")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
    emb = featurize(texts, model, max_length, cache_dir, device, batch_size)[0].astype(np.float64)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True).clip(min=1e-12)
    self_sims = (emb * emb).sum(1)
    total = emb.sum(0)
    n = len(texts)
    out: dict = {"embedding_cosine_mean": _mean_or_none(total @ total - self_sims.sum(), n * (n - 1))}
    if labels is not None:
        members = defaultdict(list)
        for i, label in enumerate(labels):
            members[str(label)].append(i)
        names = sorted(members)
        sums = np.stack([emb[members[a]].sum(0) for a in names])
        dots = sums @ sums.T  # sum over i in a, j in b of cos(i, j), self pairs included on the diagonal
        sizes = np.array([len(members[a]) for a in names], dtype=float)
        within_sum = np.array([dots[k, k] - self_sims[members[a]].sum() for k, a in enumerate(names)])
        within_pairs = sizes * (sizes - 1)
        matrix = {a: {b: (_mean_or_none(within_sum[i], within_pairs[i]) if i == j
                          else _mean_or_none(dots[i, j], sizes[i] * sizes[j]))
                      for j, b in enumerate(names)} for i, a in enumerate(names)}
        across_sum = dots.sum() - np.trace(dots)
        out.update(
            embedding_cosine_within_mean=_mean_or_none(within_sum.sum(), int(within_pairs.sum())),
            embedding_cosine_across_mean=_mean_or_none(across_sum, int(sizes.sum() ** 2 - (sizes ** 2).sum())),
            embedding_cosine_by_label=matrix,
        )
    out.update(num_texts=n, embedding_model=model)
    return out
