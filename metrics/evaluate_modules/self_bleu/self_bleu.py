"""`evaluate` module: Self-BLEU-1..5 of the predictions, each text scored against all the others
(see metrics.self_bleu).

Load by local path (no hub): ``evaluate.load("/abs/path/metrics/evaluate_modules/self_bleu")``.
The computation lives in the ``metrics`` package; this file only adapts it to the ``evaluate`` interface.
"""
from metrics import evaluate_base  # the module, not the class: evaluate.load picks the one class defined here
from metrics.self_bleu import self_bleu


class SelfBleu(evaluate_base.TextMetric):
    def _compute(self, predictions, max_n=5, tokenizer="regex", sample=None, seed=0, spacy_model="en_core_web_lg,en_core_web_sm"):
        return self_bleu(list(predictions), max_n=max_n, tokenizer=tokenizer, sample=sample, seed=seed,
                         spacy_model=spacy_model)
