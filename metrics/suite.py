"""Run a configured set of intrinsic metrics on one collection of texts and merge the results into one dict.

The configuration uses the keys of ``conf/metrics/*.yaml`` (any missing key takes the default in
:data:`DEFAULTS`); metric switches are booleans: ``self_bleu``, ``entity_entropy``, ``mauve``, ``distinct_n``,
``length_stats``, ``embedding_similarity``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

SWITCHES = ("self_bleu", "entity_entropy", "mauve", "distinct_n", "length_stats", "embedding_similarity")
DEFAULTS = {
    "self_bleu": True, "self_bleu_tokenizer": "regex", "self_bleu_max_n": 5, "self_bleu_sample": None,
    "entity_entropy": True, "spacy_model": "en_core_web_lg,en_core_web_sm",
    "mauve": True, "mauve_featurizer": "offline:minilm", "mauve_max_length": 512, "mauve_num_buckets": 30,
    "mauve_scaling_factor": 1.0, "mauve_label_matched": True,
    "distinct_n": True, "distinct_max_n": 4, "distinct_tokenizer": "regex",
    "length_stats": True,
    "embedding_similarity": False, "embedding_model": "offline:minilm",
    "seed": 0, "cache_dir": None, "device": "auto",
}


def compute_all(texts: Sequence[str], labels: Sequence[str] | None = None,
                references_by_label: Mapping[str, list[str]] | None = None, cfg: Mapping | None = None) -> dict:
    """Every enabled metric of `cfg` on `texts`. MAUVE runs when enabled and `references_by_label` is given:
    with `labels` and ``mauve_label_matched``, against :func:`metrics.mauve_score.label_matched_references`;
    otherwise against all reference texts pooled. Keys of the individual metrics are kept; ``num_texts`` is the
    number of input texts (Self-BLEU's own sample size is ``self_bleu_num_texts``)."""
    cfg = {**DEFAULTS, **dict(cfg or {})}
    texts = list(texts)
    out: dict = {}
    if cfg["length_stats"]:
        from metrics.diversity import length_stats
        out.update(length_stats(texts))
    if cfg["distinct_n"]:
        from metrics.diversity import distinct_n
        out.update(distinct_n(texts, cfg["distinct_max_n"], cfg["distinct_tokenizer"]))
    if cfg["self_bleu"]:
        from metrics.self_bleu import self_bleu
        res = self_bleu(texts, cfg["self_bleu_max_n"], cfg["self_bleu_tokenizer"], cfg["self_bleu_sample"],
                        cfg["seed"], cfg["spacy_model"])
        res["self_bleu_num_texts"] = res.pop("num_texts")
        out.update(res)
    if cfg["entity_entropy"]:
        from metrics.entities import entity_entropy
        out.update(entity_entropy(texts, cfg["spacy_model"]))
    if cfg["mauve"] and references_by_label is not None:
        out.update(_mauve(texts, labels, references_by_label, cfg))
    if cfg["embedding_similarity"]:
        from metrics.diversity import embedding_similarity
        out.update(embedding_similarity(texts, labels, cfg["embedding_model"], cfg["cache_dir"],
                                        device=cfg["device"]))
    out["num_texts"] = len(texts)
    return out


def _mauve(texts, labels, references_by_label, cfg) -> dict:
    from metrics.mauve_score import label_matched_references, mauve_score

    if labels is not None and cfg["mauve_label_matched"]:
        refs, stats = label_matched_references(labels, dict(references_by_label), cfg["seed"])
    else:
        refs, stats = [t for label in sorted(references_by_label) for t in references_by_label[label]], {}
    res = mauve_score(texts, refs, cfg["mauve_featurizer"], cfg["mauve_max_length"], cfg["mauve_num_buckets"],
                      cfg["mauve_scaling_factor"], cfg["cache_dir"], cfg["device"], batch_size=32)
    res.pop("num_texts")
    return {**res, **stats}
