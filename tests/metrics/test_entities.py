"""Entity entropy on a real spaCy pipeline, checked against entropies computed by hand."""
import math

import pytest

from metrics.entities import entity_counts, entity_entropy, entropy_log2
from metrics.spacy_models import DEFAULT_SPACY, load_pipeline
from synthesizrr.core.assets import spacy_model_candidates

TEXTS = [
    "Barack Obama visited Paris and then Paris again before flying to London.",
    "Microsoft and Google opened offices in Paris.",
    "The weather was nice and everyone was happy.",
]


def test_entities_found_are_the_expected_ones():
    by_label, used = entity_counts(TEXTS)
    assert used in spacy_model_candidates("en_core_web_lg,en_core_web_sm")
    assert {label: dict(c) for label, c in by_label.items()} == {
        "PERSON": {"Barack Obama": 1}, "GPE": {"Paris": 3, "London": 1}, "ORG": {"Microsoft": 1, "Google": 1}}


def test_entropies_match_hand_computation():
    out = entity_entropy(TEXTS, batch_size=2)
    # pooled strings: Paris 3, Barack Obama 1, London 1, Microsoft 1, Google 1 (7 occurrences)
    pooled = 3 / 7 * math.log2(7 / 3) + 4 * (1 / 7) * math.log2(7)
    gpe = 0.75 * math.log2(1 / 0.75) + 0.25 * math.log2(4)
    assert out["entity_entropy_log2"] == pytest.approx(pooled, abs=1e-12)
    assert out["entity_entropy_per_type_log2"] == pytest.approx({"GPE": gpe, "ORG": 1.0, "PERSON": 0.0}, abs=1e-12)
    assert out["entity_entropy_per_type_mean_log2"] == pytest.approx((gpe + 1.0 + 0.0) / 3, abs=1e-12)
    assert (out["num_entities"], out["num_unique_entities"], out["num_texts"]) == (7, 5, 3)
    assert out["num_entities_per_type"] == {"GPE": 4, "ORG": 2, "PERSON": 1}


def test_only_ner_runs():
    nlp, _ = load_pipeline(DEFAULT_SPACY, "ner")
    enabled = [name for name, _ in nlp.pipeline]
    assert "ner" in enabled
    assert not {"parser", "tagger", "lemmatizer", "attribute_ruler", "senter"} & set(nlp.component_names)
    for name, pipe in nlp.pipeline:  # an embedding layer stays only if ner listens to it
        if name != "ner":
            assert "ner" in getattr(pipe, "listening_components", [])


def test_texts_without_entities_and_empty_strings_give_zero():
    out = entity_entropy(["the weather was nice", "", "   "])
    assert out["num_entities"] == 0 and out["num_unique_entities"] == 0
    assert out["entity_entropy_log2"] == 0.0 and out["entity_entropy_per_type_mean_log2"] == 0.0
    assert out["entity_entropy_per_type_log2"] == {}


def test_no_texts_is_an_error():
    with pytest.raises(ValueError, match="at least 1 text"):
        entity_entropy([])


def test_entropy_helper():
    assert entropy_log2({"a": 1, "b": 1, "c": 1, "d": 1}) == pytest.approx(2.0)
    assert entropy_log2({"a": 5, "b": 0}) == 0.0
    assert entropy_log2({}) == 0.0
