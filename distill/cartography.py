"""Dataset-cartography filter (Swayamdipta et al. 2020, as used by SynthesizRR; REFERENCE.md section 8).

A filter model is trained on the synthetic set for ``cfg.epochs`` epochs. After each epoch every example's
gold-label probability and correctness are recorded (model in eval mode). Per example: confidence = mean
probability, variability = its std (ddof=0), correctness = share of epochs where argmax == gold. Within each label,
examples with confidence >= that label's (1 - keep_fraction) quantile are kept.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from distill.checkpoint import clear_checkpoint
from distill.data import check_examples
from distill.fit import fit, predict_proba, resolve_device, run_key
from synthesizrr.core.config import FilterConfig, StudentConfig
from synthesizrr.core.store import atomic_write_json, read_json


def filter_student(cfg: FilterConfig, seed: int) -> StudentConfig:
    """The filter model's training config: FilterConfig's fields, StudentConfig's defaults for the rest. There is no
    grad_accum, so the linear schedule is also the reference's (student.schedule=fmcore only differs with it)."""
    return StudentConfig(name=f"cartography-{cfg.name}", model=cfg.model, lr=cfg.lr, batch_size=cfg.batch_size,
                         epochs=cfg.epochs, max_length=cfg.max_length, seeds=[seed],
                         decay_norm_and_bias=cfg.decay_norm_and_bias, group_by_length=cfg.group_by_length,
                         bf16=cfg.bf16)


def training_dynamics(examples, labels, cfg: FilterConfig, seed: int, work_dir: Path, progress=True) -> dict:
    """Per-epoch gold probabilities and correctness of every example: arrays of shape (epochs, n)."""
    scfg = filter_student(cfg, seed)
    gold = np.asarray(check_examples(examples, labels, "synthetic"))
    texts = [ex["text"] for ex in examples]
    bf16 = resolve_device(scfg.device, scfg.bf16)[1]

    def record(epoch, model, tokenizer):
        probs = predict_proba(model, tokenizer, texts, scfg.max_length, scfg.eval_batch_size, bf16)
        return {"gold_prob": probs[np.arange(len(gold)), gold].tolist(),
                "correct": (probs.argmax(axis=1) == gold).astype(float).tolist()}

    _, _, history, _ = fit(examples, labels, scfg, seed, work_dir, record, tag="cartography", progress=progress)
    clear_checkpoint(work_dir / "cartography.pt")
    return {"gold_prob": np.array([h["gold_prob"] for h in history]),
            "correct": np.array([h["correct"] for h in history]),
            "train_loss": [h["train_loss"] for h in history]}


def select(examples: Sequence[dict], labels: Sequence[str], confidence, variability, correctness,
           keep_fraction: float) -> dict:
    """Keep, within each label, examples whose confidence reaches the label's (1 - keep_fraction) quantile.
    Kept and dropped examples keep their input order and gain confidence, variability and correctness."""
    mask = np.zeros(len(examples), dtype=bool)
    per_label = {}
    for lab in labels:
        rows = [i for i, ex in enumerate(examples) if ex["label"] == lab]
        threshold = float(np.quantile(confidence[rows], 1 - keep_fraction)) if rows else None
        if rows:
            mask[rows] = confidence[rows] >= threshold
        n_kept = int(mask[rows].sum())
        per_label[lab] = {"total": len(rows), "kept": n_kept, "dropped": len(rows) - n_kept, "threshold": threshold}
    scored = [{**ex, "confidence": float(confidence[i]), "variability": float(variability[i]),
               "correctness": float(correctness[i])} for i, ex in enumerate(examples)]
    return {"kept": [ex for ex, k in zip(scored, mask) if k], "dropped": [ex for ex, k in zip(scored, mask) if not k],
            "per_label": per_label, "mask": mask}


def plot_data_map(confidence, variability, correctness, kept_mask, path: Path, title: str) -> None:
    """Variability (x) against confidence (y), coloured by correctness; dropped examples drawn as crosses."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for mask, marker, name in ((kept_mask, "o", "kept"), (~kept_mask, "x", "dropped")):
        points = ax.scatter(variability[mask], confidence[mask], c=correctness[mask], cmap="viridis", vmin=0,
                            vmax=1, marker=marker, s=12, label=f"{name} ({int(mask.sum())})")
    fig.colorbar(points, ax=ax, label="correctness")
    ax.set(xlabel="variability", ylabel="confidence", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cartography_filter(examples: list[dict], labels: list[str], cfg: FilterConfig, seed: int, out_dir: Path,
                       progress: bool = True) -> dict:
    """Return {"kept", "dropped", "stats"}; writes ``cartography.json`` (reused on a rerun) and ``data_map.png``."""
    labels, out_dir = list(labels), Path(out_dir)
    check_examples(examples, labels, "synthetic")
    if cfg.name == "none":
        return {"kept": list(examples), "dropped": [], "stats": {"filter": "none", "num_kept": len(examples)}}
    out_dir.mkdir(parents=True, exist_ok=True)
    key = run_key(filter_student(cfg, seed), labels, examples) + f"-{seed}-{cfg.keep_fraction}"
    cache = out_dir / "cartography.json"
    if cache.exists() and read_json(cache).get("key") == key:
        saved = read_json(cache)
        return {k: saved[k] for k in ("kept", "dropped", "stats")}
    dyn = training_dynamics(examples, labels, cfg, seed, out_dir / "_work", progress)
    confidence, variability = dyn["gold_prob"].mean(axis=0), dyn["gold_prob"].std(axis=0, ddof=0)
    correctness = dyn["correct"].mean(axis=0)
    chosen = select(examples, labels, confidence, variability, correctness, cfg.keep_fraction)
    empty = [lab for lab, s in chosen["per_label"].items() if not s["kept"]]
    if empty:
        warnings.warn(f"cartography kept no examples of label(s) {empty}; kept per label: "
                      f"{ {lab: s['kept'] for lab, s in chosen['per_label'].items()} }", stacklevel=2)
    plot_data_map(confidence, variability, correctness, chosen["mask"], out_dir / "data_map.png",
                  f"Data map: {cfg.model}, {cfg.epochs} epochs, keep {cfg.keep_fraction:.0%} per label")
    stats = {"filter": "cartography", "model": cfg.model, "epochs": cfg.epochs, "seed": seed,
             "keep_fraction": cfg.keep_fraction, "num_kept": len(chosen["kept"]),
             "num_dropped": len(chosen["dropped"]), "per_label": chosen["per_label"], "train_loss": dyn["train_loss"]}
    result = {"kept": chosen["kept"], "dropped": chosen["dropped"], "stats": stats}
    atomic_write_json(cache, {**result, "key": key})
    return result
