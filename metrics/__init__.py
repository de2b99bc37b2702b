"""Intrinsic and extrinsic metrics for synthetic text-classification datasets.

Modules: :mod:`metrics.self_bleu`, :mod:`metrics.entities`, :mod:`metrics.mauve_score`, :mod:`metrics.diversity`,
:mod:`metrics.classification`; :func:`compute_all` runs a configured set of them (see :mod:`metrics.suite`).
"""


def compute_all(texts, labels=None, references_by_label=None, cfg=None) -> dict:
    """See :func:`metrics.suite.compute_all` (imported lazily: the metric libraries are heavy)."""
    from metrics.suite import compute_all as _compute_all

    return _compute_all(texts, labels, references_by_label, cfg)
