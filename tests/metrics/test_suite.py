"""compute_all runs exactly the metrics its configuration switches on."""
import metrics
from metrics.diversity import distinct_n, length_stats
from metrics.self_bleu import self_bleu

TEXTS = ["the cat sat on the mat", "a dog sat on the mat", "stocks fell on Monday"]


def test_switches_select_metrics():
    cfg = {"self_bleu": False, "entity_entropy": False, "mauve": True, "embedding_similarity": False,
           "distinct_max_n": 2}
    out = metrics.compute_all(TEXTS, labels=["a", "a", "b"], references_by_label=None, cfg=cfg)
    assert out == {**length_stats(TEXTS), **distinct_n(TEXTS, max_n=2), "num_texts": 3}  # no references: no MAUVE


def test_self_bleu_keys_keep_its_own_sample_size():
    out = metrics.compute_all(TEXTS * 4, cfg={"entity_entropy": False, "length_stats": False, "distinct_n": False,
                                              "self_bleu_sample": 5, "seed": 1})
    expected = self_bleu(TEXTS * 4, sample=5, seed=1)
    assert out["self_bleu_num_texts"] == 5 and out["num_texts"] == 12
    assert all(out[f"self_bleu_{n}"] == expected[f"self_bleu_{n}"] for n in range(1, 6))
