"""Entity entropy: how varied the named entities of a text collection are (higher = more diverse entities).

spaCy NER runs over the texts (only the components NER needs; see :mod:`metrics.spacy_models`). Each entity
occurrence contributes its surface string ``ent.text`` (verbatim, case kept) and its label ``ent.label_``.

- ``entity_entropy_log2``: Shannon entropy, base 2, of the distribution of entity strings pooled over all entity
  occurrences of every label: H = -sum_s p(s) log2 p(s), p(s) = occurrences of s / all occurrences.
- ``entity_entropy_per_type_log2``: {label: the same entropy over the occurrences with that label} (the
  reference's ``EntityCount.entity_entropy``).
- ``entity_entropy_per_type_mean_log2``: unweighted mean of the per-label entropies.
- ``num_entities`` (occurrences), ``num_unique_entities`` (distinct strings), ``num_entities_per_type``.

With no entity at all (e.g. empty texts) the entropies are 0.0 (the empty sum), the per-type dict is empty and the
counts are 0. An empty list of texts raises ValueError.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable, Mapping

from metrics.spacy_models import DEFAULT_SPACY


def entropy_log2(counts: Mapping[str, int] | Iterable[int]) -> float:
    """Shannon entropy in bits of the distribution proportional to `counts` (zero counts dropped; 0.0 if empty)."""
    values = [c for c in (counts.values() if isinstance(counts, Mapping) else counts) if c > 0]
    total = sum(values)
    if total == 0:
        return 0.0
    return -math.fsum(c / total * math.log2(c / total) for c in values) + 0.0  # + 0.0 turns -0.0 into 0.0


def entities_per_text(texts: list[str], spacy_model: str = DEFAULT_SPACY,
                      batch_size: int = 64) -> tuple[list[list[tuple[str, str]]], str]:
    """``(entities, spacy_model_used)``: ``entities[i]`` lists the ``(label, entity string)`` occurrences of
    text i, from ``nlp.pipe`` over `texts` (one NER pass; the statistics below and the bootstrap reuse it)."""
    from metrics.spacy_models import load_pipeline

    nlp, used = load_pipeline(spacy_model, "ner")
    return [[(ent.label_, ent.text) for ent in doc.ents] for doc in nlp.pipe(list(texts), batch_size=batch_size)], used


def _counts_by_label(entities: list[list[tuple[str, str]]]) -> dict[str, Counter]:
    by_label: dict[str, Counter] = defaultdict(Counter)
    for ents in entities:
        for label, text in ents:
            by_label[label][text] += 1
    return dict(by_label)


def entity_counts(texts: list[str], spacy_model: str = DEFAULT_SPACY,
                  batch_size: int = 64) -> tuple[dict[str, Counter], str]:
    """``({label: Counter(entity string -> occurrences)}, spacy_model_used)`` from ``nlp.pipe`` over `texts`."""
    entities, used = entities_per_text(texts, spacy_model, batch_size)
    return _counts_by_label(entities), used


def entity_entropy_from_entities(entities: list[list[tuple[str, str]]]) -> dict:
    """The statistics of :func:`entity_entropy` (without ``spacy_model``) from :func:`entities_per_text`'s lists."""
    if not entities:
        raise ValueError("entity_entropy needs at least 1 text, got 0")
    by_label = _counts_by_label(entities)
    pooled: Counter = Counter()
    for counter in by_label.values():
        pooled.update(counter)
    per_type = {label: entropy_log2(counter) for label, counter in sorted(by_label.items())}
    return {
        "entity_entropy_log2": entropy_log2(pooled),
        "entity_entropy_per_type_mean_log2": math.fsum(per_type.values()) / len(per_type) if per_type else 0.0,
        "entity_entropy_per_type_log2": per_type,
        "num_entities": sum(pooled.values()),
        "num_unique_entities": len(pooled),
        "num_entities_per_type": {label: sum(c.values()) for label, c in sorted(by_label.items())},
        "num_texts": len(entities),
    }


def entity_entropy(texts: list[str], spacy_model: str = DEFAULT_SPACY, batch_size: int = 64) -> dict:
    """Entity-entropy statistics of `texts` (definitions in the module docstring), plus ``spacy_model``
    (the pipeline actually loaded after the fallback chain) and ``num_texts``."""
    texts = list(texts)
    if not texts:
        raise ValueError("entity_entropy needs at least 1 text, got 0")
    entities, used = entities_per_text(texts, spacy_model, batch_size)
    return {**entity_entropy_from_entities(entities), "spacy_model": used}
