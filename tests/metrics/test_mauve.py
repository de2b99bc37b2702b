"""MAUVE on real MiniLM features of real texts, label-matched references and the feature cache."""
import mauve
import numpy as np
import pytest

from metrics.features import featurize
from metrics.mauve_score import label_matched_references, mauve_from_features, mauve_score

MAX_LENGTH = 64  # keeps featurization quick; the comparison below does not need whole reviews


@pytest.fixture(scope="module")
def samples(ag_news_test, imdb_texts):
    sports = [r["text"] for r in ag_news_test if r["label"] == "Sports"]
    return {"sports_a": sports[:100], "sports_b": sports[100:200], "imdb": imdb_texts[:100]}


def test_same_distribution_scores_high_and_different_low(samples, feature_cache):
    same = mauve_score(samples["sports_b"], samples["sports_a"], max_length=MAX_LENGTH, cache_dir=feature_cache)
    different = mauve_score(samples["imdb"], samples["sports_a"], max_length=MAX_LENGTH, cache_dir=feature_cache)
    assert same["mauve"] > 0.9 and different["mauve"] < 0.7
    assert same["mauve_scaling_5"] > 0.5 > 0.1 > different["mauve_scaling_5"]
    assert (same["num_texts"], same["num_references"], same["mauve_num_buckets"]) == (100, 100, 30)


def test_scaling_5_equals_a_library_call_with_c_5(samples, feature_cache):
    p, _ = featurize(samples["sports_a"], "offline:minilm", MAX_LENGTH, feature_cache, progress=False)
    q, _ = featurize(samples["imdb"][:60] + samples["sports_b"][:40], "offline:minilm", MAX_LENGTH, feature_cache,
                     progress=False)
    ours = mauve_from_features(p, q, num_buckets=30, scaling_factor=1.0)
    c1 = mauve.compute_mauve(p_features=p, q_features=q, num_buckets=30, mauve_scaling_factor=1, seed=25)
    c5 = mauve.compute_mauve(p_features=p, q_features=q, num_buckets=30, mauve_scaling_factor=5, seed=25)
    assert ours["mauve"] == pytest.approx(c1.mauve, abs=1e-12)
    np.testing.assert_array_equal(c1.p_hist, c5.p_hist)  # same clustering, so the comparison below is exact
    assert ours["mauve_scaling_5"] == pytest.approx(c5.mauve, abs=1e-12)
    assert ours["mauve_scaling_5"] < ours["mauve"]


def test_second_call_featurizes_nothing(samples, tmp_path):
    texts, refs = samples["sports_b"][:12], samples["sports_a"][:12]
    first = mauve_score(texts, refs, max_length=MAX_LENGTH, num_buckets=5, cache_dir=tmp_path)
    second = mauve_score(texts, refs, max_length=MAX_LENGTH, num_buckets=5, cache_dir=tmp_path)
    assert (first["num_featurized"], second["num_featurized"]) == (24, 0)
    assert second["mauve"] == pytest.approx(first["mauve"], abs=1e-12)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="texts and reference texts"):
        mauve_score([], ["a reference"])
    with pytest.raises(ValueError, match="num_buckets"):
        mauve_from_features(np.eye(4), np.eye(4), num_buckets=30)


def test_label_matched_references_cycle_a_seeded_permutation():
    refs = {"a": ["a0", "a1", "a2"], "b": ["b0"], "c": ["c0", "c1"]}
    labels = ["a"] * 7 + ["b"] * 2 + ["a"]
    chosen, stats = label_matched_references(labels, refs, seed=3)
    assert all(text[0] == label for text, label in zip(chosen, labels))
    a_refs = [t for t, label in zip(chosen, labels) if label == "a"]
    assert a_refs[3:6] == a_refs[:3] and sorted(a_refs[:3]) == ["a0", "a1", "a2"]  # a permutation, cycled
    assert stats == {"mauve_reference_reuse_max": 3, "mauve_reference_reuse_mean": 10 / 4,
                     "mauve_num_unique_references": 4}
    assert label_matched_references(labels, refs, seed=3)[0] == chosen
    assert {tuple(label_matched_references(labels, refs, seed=s)[0][:3]) for s in range(8)} != {tuple(chosen[:3])}
    no_reuse = label_matched_references(["c", "c"], refs, seed=0)[1]
    assert no_reuse["mauve_reference_reuse_max"] == 1 and no_reuse["mauve_reference_reuse_mean"] == 1.0


def test_label_without_references_is_an_error():
    with pytest.raises(ValueError, match=r"no reference texts for labels \['z'\].*\['a'\]"):
        label_matched_references(["a", "z"], {"a": ["a0"]}, seed=0)
