"""Shared base of the `evaluate` adapters in metrics/evaluate_modules/ (each stays a standalone file, as
`evaluate.load` by path requires; the computation lives in this package)."""
import sys

import datasets
import evaluate


class TextMetric(evaluate.Metric):
    """Inputs are string columns: `predictions` plus any in `extra_columns`. Subclasses write `_compute`;
    the description is the adapter module's docstring."""

    extra_columns: tuple = ()

    def _info(self):
        module = sys.modules.get(type(self).__module__)
        return evaluate.MetricInfo(
            description=(module.__doc__ if module else None) or "",
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({c: datasets.Value("string") for c in ("predictions", *self.extra_columns)}),
        )
