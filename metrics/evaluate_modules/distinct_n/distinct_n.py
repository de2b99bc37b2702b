"""`evaluate` module: distinct-1..n: distinct n-grams / all n-grams over the predictions (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/distinct_n")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
import datasets
import evaluate

from metrics.diversity import distinct_n


class DistinctN(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, max_n=4, tokenizer="regex"):
        return distinct_n(list(predictions), max_n=max_n, tokenizer=tokenizer)
