"""`evaluate` module: Mean pairwise embedding cosine similarity within and across labels (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/embedding_similarity")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.diversity import embedding_similarity


class EmbeddingSimilarity(evaluate_base.TextMetric):
    extra_columns = ('labels',)

    def _compute(self, predictions, labels, model="offline:minilm", cache_dir=None):
        return embedding_similarity(list(predictions), list(labels), model=model, cache_dir=cache_dir)
