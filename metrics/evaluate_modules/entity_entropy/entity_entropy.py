"""`evaluate` module: Entropy (bits) of spaCy named-entity strings, pooled and per entity type (see metrics.entities).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/entity_entropy")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.entities import entity_entropy


class EntityEntropy(evaluate_base.TextMetric):
    def _compute(self, predictions, spacy_model="en_core_web_lg,en_core_web_sm", batch_size=64):
        return entity_entropy(list(predictions), spacy_model=spacy_model, batch_size=batch_size)
