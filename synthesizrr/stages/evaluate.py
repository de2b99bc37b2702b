"""evaluate: intrinsic metrics of the final synthetic set (Self-BLEU, entity entropy, MAUVE against
real texts of the same labels, distinct-n, lengths, embedding similarity), and with metrics.intervals their
resampling intervals over texts (metrics.uncertainty), computed from the same per-text work as the values."""
from __future__ import annotations

import logging
import zlib
from pathlib import Path

from ..core.config import Config, ConfigError
from ..core.store import atomic_write_json
from ..data import read_jsonl

log = logging.getLogger("synthesizrr")

NAME, VERSION = "evaluate", 2   # 2: intervals and replicates/
INPUTS = ("prepare", "filter")
OUTPUTS = ()
REPLICATES = "replicates"   # <stage output>/replicates/<metric key>.npy, float32


def key_extra(run) -> dict:
    return {}


def spacy_spec(m) -> str:
    """The pipelines the metrics may load: exactly metrics.spacy_model, plus en_core_web_sm when
    metrics.spacy_fallback allows it (the reference never falls back: docs/fidelity.md item 9)."""
    return f"{m.spacy_model},en_core_web_sm" if m.spacy_fallback else m.spacy_model


def check_requirements(cfg: Config) -> None:
    """Before any work: the spaCy pipeline the metrics need is installed, else one line with the command."""
    from ..core.assets import spacy_installed

    m = cfg.metrics
    needs = m.entity_entropy or (m.self_bleu and m.self_bleu_tokenizer == "spacy")
    if needs and not spacy_installed(spacy_spec(m)):
        raise ConfigError(f"metrics.spacy_model={m.spacy_model} is not installed: python -m spacy download "
                          f"{m.spacy_model} (or metrics.spacy_fallback=true to use en_core_web_sm instead; the "
                          f"table then names the pipeline used)")


def compute(run, out: Path, _work: Path) -> dict:
    from ..console import native_output_to_log

    oracle = None
    if run.cfg.metrics.label_preservation:
        model = run.run_stage("oracle") / "model"   # first: its training shows a progress bar
        oracle = lambda: model
    try:
        with native_output_to_log():   # faiss' k-means chatter in MAUVE goes to the run's log file
            return run_metrics(run.cfg, run.paths["prepare"], run.paths["filter"], out, run.store.root / "features",
                               oracle)
    finally:
        release_featurizers()


def release_featurizers() -> None:
    """Drop the featurizers metrics.features keeps loaded (gpt2-xl is 6 GB in fp32): on a GPU they would stay through
    the next in-process sweep point, and a vLLM teacher there finds less free memory than it reserves."""
    import gc

    from metrics.features import _load

    _load.cache_clear()
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _references(cfg: Config, prep: Path) -> dict[str, list[str]]:
    split = cfg.metrics.mauve_reference_split
    path = prep / f"{split}.jsonl"
    if not path.exists():
        log.warning("no %s split for MAUVE references; using test", split)
        path = prep / "test.jsonl"
    by_label: dict[str, list[str]] = {}
    for row in read_jsonl(path):
        by_label.setdefault(row["label"], []).append(row["text"])
    return by_label


def row_seed(cfg: Config, final: Path) -> tuple[int, int]:
    """The resampling seed of one row: the run's seed and a checksum of its final data, so every row draws its
    own replicates (rows compared in the report must be resampled independently) and reruns draw the same."""
    return cfg.seed, zlib.crc32(final.read_bytes())


def run_metrics(cfg: Config, prep: Path, filtered: Path, out: Path, feature_cache: Path, oracle=None) -> dict:
    m = cfg.metrics
    rows = read_jsonl(filtered / "final.jsonl")
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    res: dict = {"num_texts": len(texts)}
    skipped = []    # metrics that cannot be computed at this size (the table shows why, not a crash)
    boot = []       # resampling results (metrics.uncertainty), from the per-text work of the point estimates
    resample = m.intervals and len(texts) >= 2
    kw = {"confidence": m.confidence, "seed": row_seed(cfg, filtered / "final.jsonl")}
    if m.intervals and len(texts) < 2:
        skipped.append("intervals need 2 texts")
    if m.self_bleu and len(texts) < 2:
        skipped.append("Self-BLEU needs 2 texts")
    elif m.self_bleu:
        from metrics.self_bleu import self_bleu_scores
        scores, info = self_bleu_scores(texts, max_n=m.self_bleu_max_n, tokenizer=m.self_bleu_tokenizer,
                                        sample=m.self_bleu_sample, seed=cfg.seed, spacy_model=spacy_spec(m))
        res.update({f"self_bleu_{k}": float(v) for k, v in enumerate(scores.mean(axis=0), 1)}, **info)
        if resample:
            from metrics.uncertainty import bootstrap_self_bleu
            boot.append(bootstrap_self_bleu(scores, n_resamples=m.n_resamples, **kw))
    if m.entity_entropy:
        from metrics.entities import entities_per_text, entity_entropy_from_entities
        entities, used = entities_per_text(texts, spacy_model=spacy_spec(m))
        res.update(entity_entropy_from_entities(entities), spacy_model=used)
        if resample:
            from metrics.uncertainty import bootstrap_entity_entropy
            boot.append(bootstrap_entity_entropy(entities, n_resamples=m.n_resamples, **kw))
    if m.mauve and len(texts) < max(2, m.mauve_num_buckets):
        skipped.append(f"MAUVE needs at least metrics.mauve_num_buckets={m.mauve_num_buckets} texts")
    elif m.mauve:
        from metrics.mauve_score import label_matched_references, mauve_features, mauve_score
        refs, reuse = label_matched_references(labels, _references(cfg, prep), seed=cfg.seed)
        features = mauve_features(texts, refs, featurizer=m.mauve_featurizer, max_length=m.mauve_max_length,
                                  cache_dir=feature_cache, device=m.device)
        point = mauve_score(texts, refs, featurizer=m.mauve_featurizer, num_buckets=m.mauve_num_buckets,
                            scaling_factor=m.mauve_scaling_factor, features=features)
        res.update(point, num_featurized=features[2])
        res.update(reuse)  # how often reference texts are reused (mauve_reference_reuse_max, ...)
        if resample:
            from metrics.uncertainty import bootstrap_mauve
            boot.append(bootstrap_mauve(features[0], features[1], num_buckets=m.mauve_num_buckets,
                                        scaling_factor=m.mauve_scaling_factor, n_resamples=m.mauve_n_resamples,
                                        estimate=point, **kw))
    if m.distinct_n:
        from metrics.diversity import distinct_n_from_tokens
        from metrics.word_tokens import tokenize
        tokens = tokenize(texts)[0]   # the tokens metrics.diversity.distinct_n uses
        res.update(distinct_n_from_tokens(tokens))
        if resample:
            from metrics.uncertainty import bootstrap_distinct_n
            boot.append(bootstrap_distinct_n(tokens, n_resamples=m.n_resamples, **kw))
    if m.length_stats:
        from metrics.diversity import length_stats
        res.update(length_stats(texts))
    if m.embedding_similarity:
        from metrics.diversity import embedding_similarity
        res.update(embedding_similarity(texts, labels, model=m.embedding_model, cache_dir=feature_cache))
    if oracle is not None:
        from distill.oracle import label_preservation
        lp = label_preservation(oracle(), rows, list(cfg.dataset.labels), max_length=cfg.student.max_length)
        res.update(label_preservation=lp["accuracy"], label_preservation_macro_f1=lp["macro_f1"])
    res["num_texts"] = len(texts)
    res["metrics_skipped"] = skipped
    if boot:
        res["intervals"] = save_intervals(boot, out / REPLICATES, m.confidence, kw["seed"])
    atomic_write_json(out / "metrics.json", res)
    return res


def save_intervals(results: list[dict], folder: Path, confidence: float, seed) -> dict:
    """Write each key's replicates as float32 ``<folder>/<key>.npy`` (the report differences rows with them) and
    return the JSON part: ``{"confidence", "seed", "metrics": {key: interval}, "methods": {metric: how}}``."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    metrics, methods = {}, {}
    for r in results:
        methods[r["metric"]] = {"method": r["method"], "note": r["note"], "n_resamples": r["n_resamples"],
                                "num_texts": r["num_texts"]}
        for key, reps in r["replicates"].items():
            np.save(folder / f"{key}.npy", np.asarray(reps, dtype=np.float32))
            metrics[key] = {**r["intervals"][key], "resampled": r["metric"]}
    return {"confidence": confidence, "seed": list(seed), "metrics": metrics, "methods": methods}
