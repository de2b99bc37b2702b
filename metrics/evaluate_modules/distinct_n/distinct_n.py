"""`evaluate` module: distinct-1..n: distinct n-grams / all n-grams over the predictions (see metrics.diversity).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/distinct_n")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.diversity import distinct_n


class DistinctN(evaluate_base.TextMetric):
    def _compute(self, predictions, max_n=4, tokenizer="regex"):
        return distinct_n(list(predictions), max_n=max_n, tokenizer=tokenizer)
