"""Label-preservation oracle: a classifier trained on real training data, its learning rate chosen on real
validation data (never on test data: the reference picks by test accuracy, REFERENCE.md section 9). Label
preservation = the oracle's accuracy on synthetic texts, scored against the labels they were generated for."""
from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path
from typing import Sequence

from distill.checkpoint import clear_checkpoint
from distill.data import check_examples
from distill.fit import fit, run_key
from distill.train import predict
from metrics.classification import classification_metrics
from synthesizrr.core.config import StudentConfig
from synthesizrr.core.store import atomic_write_json, read_json

DEFAULT_LRS = (2e-5, 5e-5, 1e-4)  # the reference's HPO grid for learning rates


def split_validation(train: Sequence[dict], fraction: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Seeded per-label split of `train` into (train, validation), as the reference does with 20% of train."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction} must lie in (0, 1)")
    rng = random.Random(seed)
    by_label: dict[str, list[dict]] = {}
    for ex in train:
        by_label.setdefault(ex["label"], []).append(ex)
    fit_part, val_part = [], []
    for lab in sorted(by_label):
        rows = by_label[lab][:]
        rng.shuffle(rows)
        n_val = max(1, round(fraction * len(rows))) if len(rows) > 1 else 0
        val_part += rows[:n_val]
        fit_part += rows[n_val:]
    return fit_part, val_part


def train_oracle(train: list[dict], validation: list[dict], labels: list[str], cfg: StudentConfig, out_dir: Path,
                 lrs: Sequence[float] = DEFAULT_LRS, progress: bool = True) -> Path:
    """Train one model per learning rate (seed cfg.seeds[0]), keep the best by validation accuracy (then macro-F1),
    save it to ``<out_dir>/model`` with ``oracle.json`` (every trial's scores) and return that path.
    A rerun with the same inputs returns the saved model."""
    labels, out_dir = list(labels), Path(out_dir)
    check_examples(train, labels, "oracle train")
    check_examples(validation, labels, "oracle validation")
    if not lrs:
        raise ValueError("lrs is empty: give at least one learning rate")
    key = run_key(cfg, labels, train, validation) + "-" + "-".join(map(str, lrs))
    model_dir, report = out_dir / "model", out_dir / "oracle.json"
    if report.exists() and read_json(report).get("key") == key and model_dir.is_dir():
        return model_dir
    seed, gold = cfg.seeds[0], [ex["label"] for ex in validation]
    trials, best = [], None
    for lr in lrs:
        trial_cfg = dataclasses.replace(cfg, lr=lr)
        tag = f"oracle_lr{lr:g}"
        model, tokenizer, history, _ = fit(train, labels, trial_cfg, seed, out_dir / "_work", tag=tag,
                                           progress=progress)
        pred = predict(model, [ex["text"] for ex in validation], tokenizer, cfg.max_length, cfg.eval_batch_size)
        m = classification_metrics(gold, pred, labels)
        trials.append({"lr": lr, "val_accuracy": m["accuracy"], "val_macro_f1": m["macro_f1"],
                       "train_loss": history[-1]["train_loss"]})
        if best is None or (m["accuracy"], m["macro_f1"]) > best[0]:
            best = ((m["accuracy"], m["macro_f1"]), lr)
            shutil.rmtree(model_dir, ignore_errors=True)
            model.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
        clear_checkpoint(out_dir / "_work" / f"{tag}.pt")
        del model, tokenizer  # free memory before the next trial
    atomic_write_json(report, {"key": key, "model": cfg.model, "seed": seed, "best_lr": best[1], "trials": trials,
                               "num_train": len(train), "num_validation": len(validation)})
    return model_dir


def label_preservation(oracle_dir: Path, examples: list[dict], labels: list[str], batch_size: int = 128,
                       max_length: int = 512) -> dict:
    """Oracle accuracy (and macro-F1, per-class F1, confusion matrix) on `examples` against their intended labels."""
    from transformers import AutoConfig

    labels = list(labels)
    check_examples(examples, labels, "synthetic")
    known = list(AutoConfig.from_pretrained(str(oracle_dir)).id2label.values())
    if sorted(known) != sorted(labels):
        raise ValueError(f"oracle at {oracle_dir} predicts labels {known}, but the examples use {labels}")
    pred = predict(oracle_dir, [ex["text"] for ex in examples], max_length=max_length, batch_size=batch_size)
    return classification_metrics([ex["label"] for ex in examples], pred, labels)
