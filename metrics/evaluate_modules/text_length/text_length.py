"""`evaluate` module: Length statistics of the predictions in words and characters (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/text_length")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.diversity import length_stats


class TextLength(evaluate_base.TextMetric):
    def _compute(self, predictions):
        return length_stats(list(predictions))
