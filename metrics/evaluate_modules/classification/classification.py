"""`evaluate` module: Accuracy, macro-F1, per-class F1 and confusion matrix (see metrics.classification).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/classification")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
import datasets
import evaluate

from metrics.classification import classification_metrics


class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, labels=None):
        labels = list(labels) if labels is not None else sorted(set(references) | set(predictions))
        return classification_metrics(list(references), list(predictions), labels)
