"""Every metric loads with evaluate.load from its local folder (no hub) and returns the library's numbers."""
from pathlib import Path

import evaluate
import pytest

import metrics
from metrics.classification import classification_metrics
from metrics.diversity import distinct_n, length_stats
from metrics.entities import entity_entropy
from metrics.self_bleu import self_bleu

MODULES = Path(metrics.__file__).resolve().parent / "evaluate_modules"
TEXTS = ["Barack Obama visited Paris.", "The cat sat on the mat.", "The cat sat on a mat in Paris.", ""]


def load(name):
    return evaluate.load(str(MODULES / name))


def test_every_module_folder_loads():
    names = sorted(p.name for p in MODULES.iterdir() if (p / f"{p.name}.py").exists())
    assert names == ["classification", "distinct_n", "embedding_similarity", "entity_entropy", "mauve_score",
                     "self_bleu", "text_length"]
    for name in names:
        assert isinstance(load(name), evaluate.Metric)


@pytest.mark.parametrize("name, kwargs, expected", [
    ("self_bleu", {"tokenizer": "whitespace"}, lambda: self_bleu(TEXTS, tokenizer="whitespace")),
    ("entity_entropy", {}, lambda: entity_entropy(TEXTS)),
    ("distinct_n", {"max_n": 2}, lambda: distinct_n(TEXTS, max_n=2)),
    ("text_length", {}, lambda: length_stats(TEXTS)),
])
def test_text_modules_match_the_library(name, kwargs, expected):
    assert load(name).compute(predictions=TEXTS, **kwargs) == expected()


def test_classification_module():
    got = load("classification").compute(predictions=["a", "b", "b"], references=["a", "a", "b"])
    assert got == classification_metrics(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])


def test_mauve_and_embedding_modules(ag_news_test, feature_cache):
    texts = [r["text"] for r in ag_news_test[:24]]
    labels = [r["label"] for r in ag_news_test[:24]]
    got = load("mauve_score").compute(predictions=texts[:12], reference_texts=texts[12:], num_buckets=4,
                                      max_length=64, cache_dir=str(feature_cache))
    assert 0 < got["mauve"] <= 1 and got["num_references"] == 12
    with pytest.raises(ValueError, match="reference_texts"):
        load("mauve_score").compute(predictions=texts[:12])
    sims = load("embedding_similarity").compute(predictions=texts, labels=labels, cache_dir=str(feature_cache))
    assert set(sims["embedding_cosine_by_label"]) == set(labels)
