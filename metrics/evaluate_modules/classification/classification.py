"""`evaluate` module: Accuracy, macro-F1, per-class F1 and confusion matrix (see metrics.classification).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/classification")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.classification import classification_metrics


class Classification(evaluate_base.TextMetric):
    extra_columns = ('references',)

    def _compute(self, predictions, references, labels=None):
        labels = list(labels) if labels is not None else sorted(set(references) | set(predictions))
        return classification_metrics(list(references), list(predictions), labels)
