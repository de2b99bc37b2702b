"""Self-BLEU: how much each text repeats the n-grams of the others (higher = less lexically diverse).

Definition (the reference, ProGen-style): for each text i, BLEU-k of hypothesis i against references = all other
texts (leave-one-out), exactly as NLTK ``sentence_bleu(refs, hyp, weights=(1/k,)*k,
smoothing_function=SmoothingFunction().method1)`` computes it; Self-BLEU-k is the mean over texts. Per text:

- p_m = clipped m-gram matches / max(1, number of m-grams in i), where an m-gram's count in i is clipped at its
  largest count in any single other text; when no m-gram matches, p_m = 0.1 / denominator (method1);
- BLEU-k = BP * exp(sum_{m<=k} log(p_m) / k), and 0 when no unigram matches (NLTK returns 0 then);
- BP = 1 if |i| > r, 0 if |i| = 0, else exp(1 - r / |i|), with r the other text length closest to |i|
  (ties go to the shorter length).

Computed exactly in O(T log T) for T tokens instead of NLTK's O(N^2): per n-gram we keep the largest and second
largest count over texts, so "the largest count among the other texts" is the second largest for the text that
holds the maximum and the maximum for everyone else. The closest other length comes from the sorted lengths.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from metrics.spacy_models import DEFAULT_SPACY
from metrics.word_tokens import check_tokenizer, tokenize

SMOOTHING_EPSILON = 0.1  # NLTK SmoothingFunction().method1


def _token_ids(token_lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated token ids, the text index of every position and the position within its text."""
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for toks in token_lists for t in toks), dtype=np.int64)
    lengths = np.fromiter((len(toks) for toks in token_lists), dtype=np.int64, count=len(token_lists))
    doc = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    pos = np.arange(len(ids), dtype=np.int64) - starts[doc]
    return ids, doc, pos


def _clipped_matches(gram: np.ndarray, doc: np.ndarray, num_docs: int) -> np.ndarray:
    """Per text: sum over its distinct n-grams g of min(count_i(g), max_{j != i} count_j(g))."""
    if len(gram) == 0:
        return np.zeros(num_docs)
    pair, count = np.unique(gram * num_docs + doc, return_counts=True)
    g, d = pair // num_docs, pair % num_docs
    order = np.lexsort((-count, g))  # by n-gram, then count descending
    g_sorted, c_sorted = g[order], count[order]
    first = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    size = np.diff(np.r_[first, len(g_sorted)])
    group = np.repeat(np.arange(len(first)), size)
    top1 = c_sorted[first]
    top2 = np.where(size > 1, c_sorted[np.minimum(first + 1, len(c_sorted) - 1)], 0)
    # max over the other texts is top2 for a text holding top1 and top1 otherwise, so the clip is:
    clipped = np.where(c_sorted < top1[group], c_sorted, top2[group])
    return np.bincount(d[order], weights=clipped, minlength=num_docs)


def _closest_other_length(lengths: np.ndarray) -> np.ndarray:
    """For each text, the length of another text closest to its own (ties -> the shorter), as NLTK chooses."""
    srt = np.sort(lengths)
    left = np.searchsorted(srt, lengths, side="left")
    right = np.searchsorted(srt, lengths, side="right")
    # Excluding the text itself removes one copy of its length; another copy means distance 0.
    below = np.where(left > 0, srt[np.maximum(left - 1, 0)], np.iinfo(np.int64).min // 4)
    above = np.where(right < len(srt), srt[np.minimum(right, len(srt) - 1)], np.iinfo(np.int64).max // 4)
    nearest = np.where(lengths - below <= above - lengths, below, above)
    return np.where(right - left >= 2, lengths, nearest)


def self_bleu_per_text(token_lists: Sequence[Sequence[str]], max_n: int = 5) -> np.ndarray:
    """Array of shape (N, max_n): entry [i, k-1] is BLEU-k of text i against all other texts (module docstring)."""
    if not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive integer, got {max_n!r}")
    num_docs = len(token_lists)
    if num_docs < 2:
        raise ValueError(f"Self-BLEU needs at least 2 texts (each is scored against the others), got {num_docs}")
    ids, doc, pos = _token_ids(token_lists)
    lengths = np.bincount(doc, minlength=num_docs)
    log_p = np.zeros((num_docs, max_n))
    matches_1 = None
    gram = ids
    for n in range(1, max_n + 1):
        if n > 1:  # n-gram ids from (n-1)-gram ids and the next token; positions past the end are dropped
            key = gram[:-1] * (int(ids.max(initial=0)) + 1) + ids[n - 1:]
            gram = np.unique(key, return_inverse=True)[1].reshape(-1)
        valid = pos[: len(gram)] <= lengths[doc[: len(gram)]] - n
        matches = _clipped_matches(gram[valid], doc[: len(gram)][valid], num_docs)
        denominator = np.maximum(1, lengths - n + 1).astype(float)
        precision = np.where(matches > 0, matches, SMOOTHING_EPSILON) / denominator
        log_p[:, n - 1] = np.log(precision)
        matches_1 = matches if n == 1 else matches_1
    closest = _closest_other_length(lengths)
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(lengths > closest, 1.0, np.where(lengths == 0, 0.0, np.exp(1 - closest / lengths)))
    k = np.arange(1, max_n + 1)
    scores = bp[:, None] * np.exp(np.cumsum(log_p, axis=1) / k)
    return np.where(matches_1[:, None] > 0, scores, 0.0)


def self_bleu_scores(texts: list[str], max_n: int = 5, tokenizer: str = "regex", sample: int | None = None,
                     seed: int = 0, spacy_model: str = DEFAULT_SPACY) -> tuple[np.ndarray, dict]:
    """``(scores, info)``: the per-text scores whose column means are Self-BLEU-1..max_n (:func:`self_bleu`).

    ``scores`` has shape (num_texts scored, max_n); row i is BLEU-1..max_n of text i against all the other
    scored texts. ``info`` holds ``num_texts``, ``self_bleu_tokenizer`` and, for the spaCy tokenizer,
    ``self_bleu_spacy_model``. Arguments and errors as in :func:`self_bleu`.
    """
    check_tokenizer(tokenizer)
    texts = list(texts)
    if sample is not None:
        if not isinstance(sample, int) or sample < 2:
            raise ValueError(f"sample must be an integer >= 2 or None, got {sample!r}")
        if sample < len(texts):
            keep = np.sort(np.random.default_rng(seed).choice(len(texts), size=sample, replace=False))
            texts = [texts[i] for i in keep]
    if len(texts) < 2:
        raise ValueError(f"Self-BLEU needs at least 2 texts (each is scored against the others), got {len(texts)}")
    token_lists, used = tokenize(texts, tokenizer, spacy_model)
    info: dict = {"num_texts": len(texts), "self_bleu_tokenizer": tokenizer}
    if used is not None:
        info["self_bleu_spacy_model"] = used
    return self_bleu_per_text(token_lists, max_n), info


def self_bleu(texts: list[str], max_n: int = 5, tokenizer: str = "regex", sample: int | None = None,
              seed: int = 0, spacy_model: str = DEFAULT_SPACY) -> dict:
    """Self-BLEU-1..max_n of `texts` (module docstring). With `sample`, a seeded uniform sample of that many texts
    (without replacement) is scored instead; a sample at least as large as the input keeps every text.

    Returns ``self_bleu_1``..``self_bleu_{max_n}``, ``num_texts`` (texts scored), ``self_bleu_tokenizer`` and,
    for the spaCy tokenizer, ``self_bleu_spacy_model`` (the pipeline actually loaded).
    Fewer than 2 texts raise ValueError: a lone text has no references.
    """
    scores, info = self_bleu_scores(texts, max_n, tokenizer, sample, seed, spacy_model)
    means = scores.mean(axis=0)
    return {**{f"self_bleu_{k}": float(means[k - 1]) for k in range(1, max_n + 1)}, **info}
