"""Train the student once per seed on a (synthetic) training set and score it on the real test set.

Each finished seed is saved as ``<out_dir>/seed_<n>.json`` at once; a rerun reuses it. Epoch checkpoints live in
``work_dir`` (default ``<out_dir>/_work``) and are deleted when their seed finishes. With several GPUs visible
(``student.parallel_seeds``), seeds train at once in spawned worker processes, one GPU each, through the same
per-seed function as a sequential run.
"""
from __future__ import annotations

import logging
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from distill.checkpoint import clear_checkpoint, drop_empty_folder
from distill.data import check_examples
from distill.fit import fit, predict_proba, resolve_device, run_key
from distill.models import load_classifier
from metrics.classification import classification_metrics
from synthesizrr.core.config import StudentConfig
from synthesizrr.core.store import atomic_write_json, read_json
from synthesizrr.core.gpus import pinned_pool, visible_gpus

log = logging.getLogger(__name__)


def predict(model_dir_or_obj, texts: Sequence[str], tokenizer=None, max_length: int = 512, batch_size: int = 128,
            bf16: bool = False) -> list[str]:
    """Predicted label names for `texts`, from a saved classifier directory or a (model, tokenizer) pair."""
    model = model_dir_or_obj
    if isinstance(model_dir_or_obj, (str, Path)):
        model, tokenizer = load_classifier(str(model_dir_or_obj))
        model.to(resolve_device()[0])
    if tokenizer is None:
        raise ValueError("predict got a model object without its tokenizer: pass tokenizer= or a model directory")
    probs = predict_proba(model, tokenizer, texts, max_length, batch_size, bf16)
    return [model.config.id2label[int(i)] for i in probs.argmax(axis=1)]


def _stats(prefix: str, values: list[float]) -> dict:
    # Sample standard deviation (n-1) across seeds; 0 for a single seed.
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {f"{prefix}_mean": statistics.fmean(values), f"{prefix}_std": std,
            f"{prefix}_min": min(values), f"{prefix}_max": max(values)}


def summarize(per_seed: list[dict], labels: Sequence[str]) -> dict:
    """Mean/std/min/max of accuracy and macro-F1 over seeds; the confusion matrix summed over seeds."""
    return {**_stats("accuracy", [r["accuracy"] for r in per_seed]),
            **_stats("macro_f1", [r["macro_f1"] for r in per_seed]),
            "confusion_matrix": np.sum([r["confusion_matrix"] for r in per_seed], axis=0).tolist(),
            "labels": list(labels), "per_seed": per_seed}


def train_one_seed(train, test, labels, cfg: StudentConfig, seed: int, work_dir: Path, key: str,
                   progress: bool = True) -> dict:
    """Fine-tune with `seed`, evaluate on `test` after each epoch (or only the last), return the seed's record."""
    texts, gold = [ex["text"] for ex in test], [ex["label"] for ex in test]
    bf16 = resolve_device(cfg.device, cfg.bf16)[1]

    def evaluate(epoch, model, tokenizer):
        if not cfg.eval_every_epoch and epoch < cfg.epochs:
            return {}
        pred = predict(model, texts, tokenizer, cfg.max_length, cfg.eval_batch_size, bf16)
        m = classification_metrics(gold, pred, labels)
        keep = ("accuracy", "macro_f1") + (("per_class_f1", "confusion_matrix") if epoch == cfg.epochs else ())
        return {k: m[k] for k in keep}

    start = time.time()
    _, _, history, resumed = fit(train, labels, cfg, seed, work_dir, evaluate, key=key, progress=progress)
    last = history[-1]
    per_epoch = [{k: r[k] for k in ("epoch", "accuracy", "macro_f1", "train_loss") if k in r} for r in history]
    return {"seed": seed, "accuracy": last["accuracy"], "macro_f1": last["macro_f1"],
            "per_class_f1": last["per_class_f1"], "confusion_matrix": last["confusion_matrix"],
            "per_epoch": per_epoch, "resumed_from_epoch": resumed, "train_seconds": time.time() - start, "key": key}


def _train_and_save(seed: int, train, test, labels, cfg: StudentConfig, out_dir: Path, work_dir: Path, key: str,
                    progress: bool) -> dict:
    """One seed from start to saved result: the same code in this process and in a worker. It leaves `work_dir`
    in place for the seeds still training (train_students removes it)."""
    record = train_one_seed(train, test, labels, cfg, seed, work_dir, key, progress)
    atomic_write_json(out_dir / f"seed_{seed}.json", record)
    clear_checkpoint(work_dir / f"seed_{seed}.pt", drop_folder=False)
    return record


def seed_workers(cfg: StudentConfig, todo: int) -> tuple[int, list[str]]:
    """(worker processes, GPUs to spread them over) for `todo` seeds; 1 worker means train here, in turn.
    auto: one per visible GPU, at most one per seed; N: N workers (sharing GPUs when fewer), on CPU too."""
    setting = str(cfg.parallel_seeds).strip().lower()
    gpus = [] if cfg.device == "cpu" else visible_gpus()
    if setting == "auto":
        workers = min(len(gpus), todo) if cfg.device in ("auto", "cuda") else 1
    else:
        workers = min(int(setting), todo)
    if workers > 1 and cfg.device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"student.parallel_seeds={cfg.parallel_seeds} gives each worker a GPU of its own, which "
                         f"student.device={cfg.device} does not allow: use device auto, cuda or cpu, "
                         f"or parallel_seeds 1")
    return max(workers, 1), gpus


def _train_in_workers(job: Callable[[int], dict], seeds: list[int], workers: int, gpus: list[str]) -> dict:
    """``job(seed)`` for every seed in `workers` spawned processes, each pinned to its own GPU. Every seed runs to
    its end (its result file written) even when another fails; the first failure is raised afterwards."""
    import torch

    threads = max(1, torch.get_num_threads() // workers)   # this process's CPU threads, divided
    log.info("training seeds %s in %d worker processes (GPUs %s, %d CPU threads each)", seeds, workers,
             ",".join(gpus) or "none", threads)
    with pinned_pool(workers, gpus, "student", threads) as pool:
        futures = {seed: pool.submit(job, seed) for seed in seeds}
    records, errors = {}, []
    for seed, fut in futures.items():
        try:
            records[seed] = fut.result()
        except Exception as exc:  # noqa: BLE001 - raised below, once the other seeds are saved
            log.error("student seed %d failed in its worker: %s: %s", seed, type(exc).__name__, exc)
            errors.append(exc)
    if errors:
        raise errors[0]
    return records


def train_students(train: list[dict], test: list[dict], labels: list[str], cfg: StudentConfig, out_dir: Path,
                   work_dir: Path | None = None, progress: bool = True) -> dict:
    """Train one student per seed in `cfg.seeds`; return the summary (also written to ``summary.json``)."""
    labels = list(labels)
    check_examples(train, labels, "train")
    check_examples(test, labels, "test")
    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir else out_dir / "_work"
    out_dir.mkdir(parents=True, exist_ok=True)
    key = run_key(cfg, labels, train, test)   # parallel_seeds is not part of it (fit.KEY_EXCLUDES)
    done = {}
    for seed in cfg.seeds:
        path = out_dir / f"seed_{seed}.json"
        if path.exists():
            done[seed] = read_json(path)
            if done[seed].get("key") != key:
                raise ValueError(f"{path} holds results of another student config or data set: "
                                 f"use a fresh out_dir or delete that file")
    todo = [s for s in dict.fromkeys(cfg.seeds) if s not in done]
    workers, gpus = seed_workers(cfg, len(todo))
    job = partial(_train_and_save, train=train, test=test, labels=labels, cfg=cfg, out_dir=out_dir,
                  work_dir=work_dir, key=key, progress=progress)
    if workers > 1:
        done.update(_train_in_workers(job, todo, workers, gpus))
    else:
        done.update({seed: job(seed) for seed in todo})
    drop_empty_folder(work_dir)
    per_seed = [done[s] for s in cfg.seeds]
    summary = {**summarize(per_seed, labels), "num_train": len(train), "num_test": len(test),
               "model": cfg.model, "device": str(resolve_device(cfg.device, cfg.bf16)[0])}
    atomic_write_json(out_dir / "summary.json", summary)
    return summary
