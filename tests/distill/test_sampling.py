"""match_distribution: exact counts, seeded, input order kept, tolerance errors naming the label."""
import pytest

from distill.sampling import label_distribution, match_distribution, uniform_distribution


def _examples(counts: dict[str, int]) -> list[dict]:
    return [{"text": f"{lab} {i}", "label": lab} for lab, n in counts.items() for i in range(n)]


def test_matches_target_counts_and_is_seeded():
    pool = _examples({"a": 500, "b": 300, "c": 200})
    target = {"a": 0.5, "b": 0.3, "c": 0.2}
    sample = match_distribution(pool, target, total=100, seed=1)
    assert len(sample) == 100
    assert label_distribution(sample) == pytest.approx(target)
    assert sample == match_distribution(pool, target, total=100, seed=1)
    assert sample != match_distribution(pool, target, total=100, seed=2)
    positions = [pool.index(ex) for ex in sample]
    assert positions == sorted(positions) and len(set(positions)) == 100


def test_rounding_reaches_total_exactly():
    pool = _examples({"a": 50, "b": 50, "c": 50})
    sample = match_distribution(pool, uniform_distribution(["a", "b", "c"]), total=100, seed=0)
    counts = sorted(sum(ex["label"] == lab for ex in sample) for lab in "abc")
    assert len(sample) == 100 and counts == [33, 33, 34]


def test_shortfall_beyond_tolerance_names_label_and_counts():
    pool = _examples({"a": 500, "b": 20})
    with pytest.raises(ValueError, match=r"label 'b' wanted 50, available 20"):
        match_distribution(pool, {"a": 0.5, "b": 0.5}, total=100, seed=0)


def test_small_shortfall_within_tolerance_or_tolerance_none():
    pool = _examples({"a": 600, "b": 499})
    with pytest.warns(UserWarning, match="label 'b' wanted 500, available 499"):
        sample = match_distribution(pool, {"a": 0.5, "b": 0.5}, total=1000, seed=0)
    assert len(sample) == 999
    with pytest.warns(UserWarning):
        sample = match_distribution(_examples({"a": 100, "b": 5}), {"a": 0.5, "b": 0.5}, 100, 0, tolerance=None)
    assert label_distribution(sample)["b"] == pytest.approx(5 / 55)


def test_bad_targets_are_rejected():
    pool = _examples({"a": 10, "b": 10})
    with pytest.raises(ValueError, match="sum to 1"):
        match_distribution(pool, {"a": 0.5, "b": 0.6}, 10, 0)
    with pytest.raises(ValueError, match=r"label\(s\) \['b'\] absent from the target"):
        match_distribution(pool, {"a": 1.0}, 10, 0)
    with pytest.raises(ValueError, match="zero examples"):
        label_distribution([])
