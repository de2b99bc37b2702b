"""distinct-n, length statistics and embedding similarity, checked against direct computations."""
import itertools

import numpy as np
import pytest

from metrics.diversity import distinct_n, embedding_similarity, length_stats
from metrics.features import featurize


def test_distinct_n_by_hand():
    out = distinct_n(["a b a b", "a b c"], max_n=3, tokenizer="whitespace")
    # unigrams a b a b a b c: 3 distinct / 7; bigrams ab ba ab ab bc: 3 / 5; trigrams aba bab abc: 3 / 3
    assert (out["distinct_1"], out["distinct_2"], out["distinct_3"]) == pytest.approx((3 / 7, 3 / 5, 1.0))
    assert out["num_texts"] == 2


def test_distinct_n_does_not_join_texts_and_handles_short_ones():
    out = distinct_n(["a", "a", ""], max_n=2, tokenizer="whitespace")
    assert out["distinct_1"] == 0.5 and out["distinct_2"] == 0.0  # no bigram at all -> 0.0
    with pytest.raises(ValueError, match="at least 1 text"):
        distinct_n([])


def test_length_stats_by_hand():
    out = length_stats(["one two three", "four", "", "five six"])
    words = np.array([3, 1, 0, 2])
    assert out["length_words_mean"] == 1.5 and out["length_words_std"] == pytest.approx(words.std())
    assert (out["length_words_min"], out["length_words_median"], out["length_words_max"]) == (0, 1.5, 3)
    assert (out["length_chars_min"], out["length_chars_max"]) == (0, 13)
    with pytest.raises(ValueError, match="at least 1 text"):
        length_stats([])


def brute_force(emb, labels):
    """Mean cosine over pairs i != j, grouped by label pair, by looping over all pairs."""
    groups, within, across, everything = {}, [], [], []
    for i, j in itertools.permutations(range(len(labels)), 2):
        cos = float(emb[i] @ emb[j] / np.linalg.norm(emb[i]) / np.linalg.norm(emb[j]))
        groups.setdefault((labels[i], labels[j]), []).append(cos)
        (within if labels[i] == labels[j] else across).append(cos)
        everything.append(cos)
    return groups, np.mean(within), np.mean(across), np.mean(everything)


def test_embedding_similarity_equals_the_pairwise_loop(ag_news_test, feature_cache):
    rows = [r for r in ag_news_test if r["label"] in ("Sports", "Business")][:24]
    rows.append(next(r for r in ag_news_test if r["label"] == "World"))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    out = embedding_similarity(texts, labels, cache_dir=feature_cache)
    emb, _ = featurize(texts, "offline:minilm", 256, feature_cache, progress=False)
    groups, within, across, overall = brute_force(emb.astype(np.float64), labels)
    assert out["embedding_cosine_within_mean"] == pytest.approx(within, abs=1e-9)
    assert out["embedding_cosine_across_mean"] == pytest.approx(across, abs=1e-9)
    assert out["embedding_cosine_mean"] == pytest.approx(overall, abs=1e-9)
    matrix = out["embedding_cosine_by_label"]
    for (a, b), values in groups.items():
        assert matrix[a][b] == pytest.approx(np.mean(values), abs=1e-9)
    singleton = labels[-1]
    assert labels.count(singleton) == 1 and matrix[singleton][singleton] is None
    assert matrix["Sports"]["Sports"] > matrix["Sports"]["Business"]  # same-topic news is closer


def test_embedding_similarity_errors_and_no_labels(feature_cache):
    with pytest.raises(ValueError, match="at least 2 texts"):
        embedding_similarity(["one"], ["x"])
    with pytest.raises(ValueError, match="labels"):
        embedding_similarity(["one", "two"], ["x"])
    out = embedding_similarity(["same words", "same words"], None, cache_dir=feature_cache)
    assert out["embedding_cosine_mean"] == pytest.approx(1.0) and "embedding_cosine_by_label" not in out
