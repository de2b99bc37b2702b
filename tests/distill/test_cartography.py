"""Cartography on real BBC ledes with MiniLM: per-label keep fractions and thresholds, statistics, data map."""
import numpy as np
import pytest

from distill.cartography import cartography_filter, select
from synthesizrr.core.config import FilterConfig


def test_cartography_keeps_top_fraction_per_label(ledes, labels, tmp_path, monkeypatch):
    # Balanced-ish pool of 150 ledes; the tech label is small to show per-label (not global) thresholds.
    pool = [ex for ex in ledes if ex["label"] != "tech"][:130] + [ex for ex in ledes if ex["label"] == "tech"][:20]
    cfg = FilterConfig(name="cartography", model="offline:minilm", epochs=2, batch_size=32, lr=5e-5,
                       max_length=32, keep_fraction=0.8)
    result = cartography_filter(pool, labels, cfg, seed=0, out_dir=tmp_path, progress=False)
    kept, dropped, stats = result["kept"], result["dropped"], result["stats"]
    assert len(kept) + len(dropped) == len(pool) and stats["epochs"] == 2
    for lab in labels:
        total = sum(ex["label"] == lab for ex in pool)
        conf = np.array([ex["confidence"] for ex in kept + dropped if ex["label"] == lab])
        s = stats["per_label"][lab]
        assert s["total"] == total and s["kept"] + s["dropped"] == total
        assert abs(s["kept"] - 0.8 * total) <= 1
        assert s["threshold"] == pytest.approx(np.quantile(conf, 0.2))
        assert all(ex["confidence"] >= s["threshold"] for ex in kept if ex["label"] == lab)
        assert all(ex["confidence"] < s["threshold"] for ex in dropped if ex["label"] == lab)
    for ex in kept + dropped:
        assert 0 <= ex["confidence"] <= 1 and 0 <= ex["variability"] <= 0.5 and ex["correctness"] in (0, 0.5, 1)
    # After two epochs the model has learnt something: kept examples are more confident than dropped ones.
    assert np.mean([e["confidence"] for e in kept]) > np.mean([e["confidence"] for e in dropped])
    assert (tmp_path / "data_map.png").stat().st_size > 10_000
    assert not list((tmp_path / "_work").glob("*.pt"))
    # A rerun reads the saved result instead of training again.
    monkeypatch.setattr("distill.cartography.training_dynamics", lambda *a, **k: pytest.fail("retrained"))
    assert cartography_filter(pool, labels, cfg, seed=0, out_dir=tmp_path, progress=False) == result


def test_select_uses_each_labels_quantile():
    examples = [{"text": str(i), "label": "a" if i < 10 else "b"} for i in range(20)]
    conf = np.r_[np.linspace(0.0, 0.9, 10), np.linspace(0.5, 0.95, 10)]
    out = select(examples, ["a", "b", "c"], conf, np.zeros(20), np.ones(20), keep_fraction=0.5)
    assert out["per_label"]["a"]["threshold"] == pytest.approx(0.45)
    assert out["per_label"]["b"]["threshold"] == pytest.approx(0.725)
    assert [ex["text"] for ex in out["kept"]] == [str(i) for i in (5, 6, 7, 8, 9, 15, 16, 17, 18, 19)]
    assert out["per_label"]["c"] == {"total": 0, "kept": 0, "dropped": 0, "threshold": None}


def test_none_filter_and_bad_labels(ledes, labels, tmp_path):
    result = cartography_filter(ledes[:5], labels, FilterConfig(name="none"), seed=0, out_dir=tmp_path)
    assert result["kept"] == ledes[:5] and result["dropped"] == []
    with pytest.raises(ValueError, match="synthetic example 1 has label 'sports'"):
        cartography_filter([ledes[0], {"text": "goal", "label": "sports"}], labels, FilterConfig(name="cartography"),
                           seed=0, out_dir=tmp_path)
