"""`evaluate` module: Mean pairwise embedding cosine similarity within and across labels (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/embedding_similarity")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
import datasets
import evaluate

from metrics.diversity import embedding_similarity


class EmbeddingSimilarity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({"predictions": datasets.Value("string"), "labels": datasets.Value("string")}),
        )

    def _compute(self, predictions, labels, model="offline:minilm", cache_dir=None):
        return embedding_similarity(list(predictions), list(labels), model=model, cache_dir=cache_dir)
