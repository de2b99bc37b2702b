"""Intervals over student seeds and resampling intervals over texts (metrics.uncertainty)."""
import json
import math
import statistics
import warnings

import numpy as np
import pytest
from scipy import stats

from metrics import uncertainty as U
from metrics.diversity import distinct_n, distinct_n_from_tokens
from metrics.entities import entities_per_text, entity_entropy, entity_entropy_from_entities
from metrics.self_bleu import self_bleu, self_bleu_scores
from metrics.word_tokens import tokenize

BASELINE = {0: 0.801, 1: 0.823, 2: 0.794, 3: 0.812, 4: 0.830}


def expand(items, row):
    """The resampled collection a count row stands for: item i repeated row[i] times."""
    return [item for item, c in zip(items, row) for _ in range(int(c))]


def count_rows(num, seed=0):
    """Some with-replacement and some half-sample count rows."""
    rng = U.bootstrap_rng(seed, "test")
    return np.vstack([next(U.resample_counts(rng, num, 3, scheme)) for scheme in U.SCHEMES])


# --- seeds -----------------------------------------------------------------------------------------------------

def test_seed_summary_equals_a_scipy_t_interval_over_5_seeds():
    values = [0.81, 0.84, 0.79, 0.83, 0.80]
    out = U.seed_summary({s: v for s, v in enumerate(values)})
    sem = np.std(values, ddof=1) / math.sqrt(5)
    low, high = stats.t.interval(0.95, df=4, loc=np.mean(values), scale=sem)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert out["mean"] == statistics.fmean(values) and out["std"] == statistics.stdev(values)
    assert out["n"] == 5 and out["ci_available"] and out["half_width"] == pytest.approx(high - out["mean"])
    assert U.seed_summary(values, confidence=0.9)["half_width"] < out["half_width"]


def test_one_seed_has_no_interval():
    out = U.seed_summary([0.8])
    assert (out["mean"], out["n"], out["std"], out["ci_low"], out["ci_available"]) == (0.8, 1, None, None, False)
    with pytest.raises(ValueError, match="finite"):
        U.seed_summary([0.8, float("nan")])


def test_paired_test_detects_a_consistent_two_point_gain():
    noise = [0.003, -0.002, 0.001, -0.001, 0.002]
    method = {s: v + 0.02 + e for (s, v), e in zip(BASELINE.items(), noise)}
    out = U.paired_seed_test(method, BASELINE)
    diff = [method[s] - BASELINE[s] for s in BASELINE]
    assert out["mean_difference"] == pytest.approx(0.0206, abs=1e-12)
    assert out["p_value"] == pytest.approx(stats.ttest_rel(list(method.values()), list(BASELINE.values())).pvalue)
    assert out["p_value"] < 1e-4 and not out["includes_zero"]
    half = stats.t.ppf(0.975, 4) * np.std(diff, ddof=1) / math.sqrt(5)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((np.mean(diff) - half, np.mean(diff) + half), abs=1e-12)
    assert out["n_pairs"] == 5 and out["seeds"] == ["0", "1", "2", "3", "4"]


def test_paired_test_flags_a_noisy_difference_as_including_zero():
    swings = [0.05, -0.04, 0.03, -0.03, 0.01]
    method = {s: v + e for (s, v), e in zip(BASELINE.items(), swings)}
    out = U.paired_seed_test(method, BASELINE)
    assert out["includes_zero"] and out["p_value"] > 0.5 and out["ci_low"] < 0 < out["ci_high"]


def test_paired_test_matches_seed_ids_not_positions():
    method = {"4": 0.85, "2": 0.81, "0": 0.82, "9": 0.5}  # string ids (JSON), another order, one extra seed
    out = U.paired_seed_test(method, {0: 0.80, 2: 0.80, 4: 0.84, 7: 0.1})
    assert out["seeds"] == ["0", "2", "4"] and out["unmatched_seeds"] == {"method": ["9"], "baseline": ["7"]}
    assert out["mean_difference"] == pytest.approx((0.02 + 0.01 + 0.01) / 3)
    per_seed = [{"seed": 4, "accuracy": 0.85}, {"seed": 2, "accuracy": 0.81}]
    assert U.values_by_seed(per_seed) == {"4": 0.85, "2": 0.81}


def test_paired_test_degenerate_cases_give_no_warning_and_no_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = U.paired_seed_test({1: 0.8, 2: 0.9}, {1: 0.8, 2: 0.9})
        shifted = U.paired_seed_test({1: 0.82, 2: 0.92, 3: 0.72}, {1: 0.8, 2: 0.9, 3: 0.7})  # +0.02 on every seed
        single = U.paired_seed_test({1: 0.9}, {1: 0.8})
    assert (same["p_value"], same["ci_low"], same["ci_high"], same["includes_zero"]) == (1.0, 0.0, 0.0, True)
    assert shifted["p_value"] == 0.0 and not shifted["includes_zero"]
    assert shifted["ci_low"] == shifted["ci_high"] == pytest.approx(0.02)
    assert single["p_value"] is None and single["ci_low"] is None and single["includes_zero"]
    assert not single["ci_available"] and single["mean_difference"] == pytest.approx(0.1)


def test_paired_test_refuses_seed_sets_that_do_not_overlap():
    with pytest.raises(ValueError, match=r"no common seed.*\['1', '2'\].*\['3'\]"):
        U.paired_seed_test({1: 0.8, 2: 0.9}, {3: 0.8})


# --- resampling machinery --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", U.SCHEMES)
def test_interval_of_a_mean_covers_the_true_mean_about_95_percent_of_the_time(scheme):
    rng = np.random.default_rng(123)
    trials, hits = 300, 0
    for t in range(trials):
        sample = rng.normal(loc=3.0, scale=2.0, size=200)
        iv = U.bootstrap_mean(sample, n_resamples=400, seed=t, scheme=scheme)["intervals"]["mean"]
        hits += iv["ci_low"] <= 3.0 <= iv["ci_high"]
    assert 0.90 <= hits / trials <= 0.985


def test_resample_count_rows():
    rng = np.random.default_rng(0)
    boot = np.vstack(list(U.resample_counts(rng, 7, 50)))
    half = np.vstack(list(U.resample_counts(rng, 7, 50, "half")))
    assert boot.shape == half.shape == (50, 7)
    assert (boot.sum(axis=1) == 7).all() and boot.max() > 1
    assert (half.sum(axis=1) == 3).all() and set(np.unique(half)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="scheme"):
        next(U.resample_counts(rng, 7, 5, "jackknife"))


def test_same_seed_same_replicates_and_rows_get_their_own_streams():
    values = np.random.default_rng(0).random(300)
    a = U.bootstrap_mean(values, n_resamples=200, seed=(0, "fewgen"))
    b = U.bootstrap_mean(values, n_resamples=200, seed=(0, "fewgen"))
    c = U.bootstrap_mean(values, n_resamples=200, seed=(0, "synthesizrr"))
    np.testing.assert_array_equal(a["replicates"]["mean"], b["replicates"]["mean"])
    assert a["intervals"] == b["intervals"] and a["seed"] == [0, "fewgen"]
    assert not np.array_equal(a["replicates"]["mean"], c["replicates"]["mean"])


def test_difference_interval_of_independent_replicates():
    rng = np.random.default_rng(5)
    same_a, same_b = rng.normal(0.5, 0.1, 500), rng.normal(0.5, 0.1, 500)
    higher = U.bootstrap_mean(rng.normal(0.6, 0.1, 500), seed=1)
    lower = U.bootstrap_mean(rng.normal(0.5, 0.1, 500), seed=2)
    assert U.bootstrap_mean(same_a, seed=3)["intervals"]["mean"]["ci_low"] < 0.5
    assert U.difference_interval(U.bootstrap_mean(same_a, seed=3)["replicates"]["mean"],
                                 U.bootstrap_mean(same_b, seed=4)["replicates"]["mean"])["includes_zero"]
    diff = U.bootstrap_differences(higher, lower)["mean"]
    assert not diff["includes_zero"] and 0.08 < diff["ci_low"] < diff["estimate"] < diff["ci_high"] < 0.12
    assert diff["estimate"] == higher["intervals"]["mean"]["estimate"] - lower["intervals"]["mean"]["estimate"]
    with pytest.raises(ValueError, match="own seed"):
        U.bootstrap_differences(higher, U.bootstrap_mean(rng.normal(0.5, 0.1, 500), seed=1))
    with pytest.raises(ValueError, match="as many replicates"):
        U.difference_interval([1, 2, 3], [1, 2])


# --- per-metric statistics -------------------------------------------------------------------------------------

def test_self_bleu_per_text_mean_is_self_bleu_and_duplicates_are_not_rescored(ag_news_test):
    texts = [r["text"] for r in ag_news_test[:150]]
    scores, info = self_bleu_scores(texts)
    reference = self_bleu(texts)
    result = U.bootstrap_self_bleu(scores, n_resamples=200)
    for k in range(1, 6):
        assert result["intervals"][f"self_bleu_{k}"]["estimate"] == reference[f"self_bleu_{k}"]  # exactly
    assert info["num_texts"] == 150 and "conditional on the reference pool" in result["note"]
    rows = next(U.resample_counts(U.bootstrap_rng(0, "self_bleu"), 150, 200))
    # a replicate is the mean of the fixed per-text scores of the drawn texts (a duplicate keeps its score)
    np.testing.assert_allclose(result["replicates"]["self_bleu_4"][:3],
                               [np.mean(expand(scores[:, 3], row)) for row in rows[:3]], rtol=0, atol=1e-12)


def test_half_sample_self_bleu_rescores_each_half(ag_news_test):
    tokens, _ = tokenize([r["text"] for r in ag_news_test[:60]], "regex")
    result = U.half_sample_self_bleu(tokens, max_n=4, n_resamples=20)
    assert result["intervals"]["self_bleu_4"]["estimate"] == pytest.approx(self_bleu(
        [r["text"] for r in ag_news_test[:60]], max_n=4)["self_bleu_4"], abs=1e-15)
    assert result["method"] == U.HALF_METHOD and len(result["replicates"]["self_bleu_1"]) == 20
    assert result["replicates"]["self_bleu_1"].mean() == pytest.approx(result["intervals"]["self_bleu_1"]["estimate"])


def test_distinct_n_replicates_equal_a_recount_of_the_resampled_texts(ag_news_test):
    texts = [r["text"] for r in ag_news_test[:80]] + ["", "a"]
    tokens, _ = tokenize(texts, "regex")
    result = U.bootstrap_distinct_n(tokens, n_resamples=50)
    assert {k: v["estimate"] for k, v in result["intervals"].items()} == {
        k: v for k, v in distinct_n(texts).items() if k != "num_texts"}
    statistic = U.distinct_n_statistic(tokens, 4)
    rows = count_rows(len(tokens))
    reps = statistic(rows)
    for r, row in enumerate(rows):
        recount = distinct_n_from_tokens(expand(tokens, row))
        assert [reps[f"distinct_{k}"][r] for k in range(1, 5)] == [recount[f"distinct_{k}"] for k in range(1, 5)]
    assert statistic(np.ones((1, len(tokens))))["distinct_2"][0] == distinct_n(texts)["distinct_2"]
    assert result["method"] == U.HALF_METHOD
    no_shared = U.distinct_n_statistic([["a", "b"], ["c", "d"], []], 2)  # no k-gram in two texts
    assert no_shared(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]))["distinct_1"].tolist() == [4 / 6, 0.0]


ENTITIES = [[("GPE", "Paris"), ("PERSON", "Ann")], [], [("GPE", "Paris"), ("ORG", "Paris")],
            [("ORG", "Acme"), ("GPE", "Rome"), ("GPE", "Paris")], [("PERSON", "Bo")], [("DATE", "today")], []]


def test_entity_entropy_replicates_equal_a_recount_and_all_ones_equal_the_estimate():
    statistic = U.entity_entropy_statistic(ENTITIES)
    point = entity_entropy_from_entities(ENTITIES)
    ones = statistic(np.ones((1, len(ENTITIES))))
    for key in ("entity_entropy_log2", "entity_entropy_per_type_mean_log2"):
        assert ones[key][0] == pytest.approx(point[key], abs=1e-12)
    rows = count_rows(len(ENTITIES), seed=3)
    reps = statistic(rows)
    for r, row in enumerate(rows):  # labels missing from a resample drop out of the per-type mean
        recount = entity_entropy_from_entities(expand(ENTITIES, row) or [[]])
        assert reps["entity_entropy_log2"][r] == pytest.approx(recount["entity_entropy_log2"], abs=1e-12)
        assert reps["entity_entropy_per_type_mean_log2"][r] == pytest.approx(
            recount["entity_entropy_per_type_mean_log2"], abs=1e-12)
    assert statistic(np.zeros((1, len(ENTITIES))))["entity_entropy_log2"][0] == 0.0
    assert U.entity_entropy_statistic([[], []])(np.ones((2, 2)))["entity_entropy_log2"].tolist() == [0.0, 0.0]


def test_entity_entropy_bootstrap_on_real_spacy_entities_runs_ner_once():
    texts = ["Barack Obama visited Paris and then Paris again before flying to London.",
             "Microsoft and Google opened offices in Paris.", "The weather was nice and everyone was happy.",
             "Angela Merkel met Emmanuel Macron in Berlin on Monday."]
    entities, used = entities_per_text(texts, "en_core_web_sm")  # the installed small pipeline or its mirror
    result = U.bootstrap_entity_entropy(entities, n_resamples=100)
    reference = entity_entropy(texts, used)
    for key in ("entity_entropy_log2", "entity_entropy_per_type_mean_log2"):
        assert result["intervals"][key]["estimate"] == reference[key]
        assert result["intervals"][key]["ci_low"] <= result["intervals"][key]["ci_high"]


def test_mauve_bootstrap_resamples_features_and_reuses_mauve_from_features():
    from metrics.mauve_score import mauve_from_features

    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(60, 8)), rng.normal(0.3, 1.0, size=(50, 8))
    result = U.bootstrap_mauve(p, q, num_buckets=5, n_resamples=3, seed=(0, "row"))
    point = mauve_from_features(p, q, 5)
    assert result["intervals"]["mauve"]["estimate"] == point["mauve"]
    assert (result["num_texts"], result["num_references"], result["n_resamples"]) == (50, 60, 3)
    again = U.bootstrap_mauve(p, q, num_buckets=5, n_resamples=3, seed=(0, "row"), estimate=point)
    np.testing.assert_array_equal(result["replicates"]["mauve_scaling_5"], again["replicates"]["mauve_scaling_5"])
    draw = U.bootstrap_rng((0, "row"), "mauve")
    first = mauve_from_features(p[draw.integers(0, 60, 60)], q[draw.integers(0, 50, 50)], 5)
    assert result["replicates"]["mauve"][0] == first["mauve"]


def test_results_are_json_serialisable():
    result = U.bootstrap_mean([1.0, 2.0, 4.0], n_resamples=10, seed=(2, "gold"))
    json.dumps([U.without_replicates(result), U.seed_summary([0.8]), U.paired_seed_test({1: 0.8}, {1: 0.7})])
    assert "replicates" in result and "replicates" not in U.without_replicates(result)


# --- warnings --------------------------------------------------------------------------------------------------

def test_size_warnings_fire_at_their_thresholds():
    assert U.size_warnings(num_texts=1000, num_seeds=3, mauve_num_buckets=100, num_test=2401) == []
    assert U.size_warnings(num_texts=500, num_seeds=5, mauve_num_buckets=50) == []
    assert len(U.size_warnings(1000, 1)) == 1 and "1 student seed" in U.size_warnings(1000, 1)[0]
    assert "12.7" in U.size_warnings(1000, 2)[0]
    assert U.size_warnings(1000, 3, mauve_num_buckets=101)[0].startswith("MAUVE with 101 buckets over 1000")
    assert "Self-BLEU over 99 texts" in U.size_warnings(1000, 3, self_bleu_sample=99)[0]
    assert "Self-BLEU over 99 texts" in U.size_warnings(99, 3)[0]
    assert U.size_warnings(1000, 3, self_bleu_sample=100) == []
    assert U.size_warnings(499, 3) == ["499 texts (< 500): intervals over texts are too narrow, most for "
                                       "Self-BLEU-4 and distinct-2..4"]
    assert "2400 test examples" in U.size_warnings(1000, 3, num_test=2400)[0]
    # the committed tables' size: ~20 examples, one seed, 30 buckets, small test set
    assert len(U.size_warnings(20, 1, mauve_num_buckets=30, num_test=200)) == 5


def test_wide_interval_warnings():
    narrow = {"estimate": 0.5, "ci_low": 0.46, "ci_high": 0.54, "confidence": 0.95}
    wide = {"mean": 0.5, "ci_low": 0.3, "ci_high": 0.7}
    out = U.wide_interval_warnings({"a": narrow, "b": wide, "c": U.seed_summary([0.8])})
    assert len(out) == 1 and out[0].startswith("b: 0.5 +- 0.2")


def test_half_sampling_is_the_default_for_counts_of_distinct_items(ag_news_test):
    # Resampling with replacement repeats texts: no new distinct k-gram or entity string, so distinct-n drops
    # and the percentile interval misses the estimate. Half-sampling has no repeats.
    tokens, _ = tokenize([r["text"] for r in ag_news_test[:300]], "regex")
    boot = U.bootstrap_distinct_n(tokens, 2, n_resamples=200, scheme="bootstrap")["intervals"]["distinct_1"]
    half = U.bootstrap_distinct_n(tokens, 2, n_resamples=200)["intervals"]["distinct_1"]
    assert boot["ci_high"] < boot["estimate"]
    assert half["ci_low"] < half["estimate"] < half["ci_high"]
