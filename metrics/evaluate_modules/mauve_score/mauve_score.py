"""`evaluate` module: MAUVE of the predictions against reference_texts on precomputed features
(see metrics.mauve_score).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/mauve_score")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.mauve_score import mauve_score


class MauveScore(evaluate_base.TextMetric):
    def _compute(self, predictions, reference_texts=None, featurizer="offline:minilm", max_length=512, num_buckets=30,
                 scaling_factor=1.0, cache_dir=None, device="auto", seed=25, batch_size=32):
        if not reference_texts:
            raise ValueError("mauve_score needs reference_texts=[...] (real texts), got none")
        return mauve_score(list(predictions), list(reference_texts), featurizer=featurizer, max_length=max_length,
                           num_buckets=num_buckets, scaling_factor=scaling_factor, cache_dir=cache_dir, device=device,
                           seed=seed, batch_size=batch_size)
