"""`evaluate` module: Length statistics of the predictions in words and characters (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/text_length")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
import datasets
import evaluate

from metrics.diversity import length_stats


class TextLength(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions):
        return length_stats(list(predictions))
