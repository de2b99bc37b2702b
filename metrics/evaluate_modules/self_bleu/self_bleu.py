"""`evaluate` module: Self-BLEU-1..5 of the predictions, each text scored against all the others
(see metrics.self_bleu).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/self_bleu")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
import datasets
import evaluate

from metrics.self_bleu import self_bleu


class SelfBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description="predictions: list of texts (see the module docstring of the metrics package)",
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, max_n=5, tokenizer="regex", sample=None, seed=0, spacy_model="en_core_web_lg"):
        return self_bleu(list(predictions), max_n=max_n, tokenizer=tokenizer, sample=sample, seed=seed,
                         spacy_model=spacy_model)
