"""One seeded fine-tuning run: a plain torch loop with AdamW, linear warmup/decay (or the reference's sizing of it),
gradient accumulation, dynamic padding, optional length grouping, bf16 autocast on CUDA, an optional frozen encoder
and end-of-epoch checkpoints."""
from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import set_seed
from transformers.optimization import get_linear_schedule_with_warmup

from distill.checkpoint import load_checkpoint, save_checkpoint
from distill.data import batch_order, check_examples, collate, encode
from distill.models import freeze_encoder, load_student
from synthesizrr.core.config import StudentConfig
from synthesizrr.core.store import fingerprint

log = logging.getLogger(__name__)
# Fields that do not change what is learned; left out of the run key so changing them keeps finished work.
KEY_EXCLUDES = ("name", "seeds", "eval_batch_size", "device", "parallel_seeds")


def resolve_device(device: str = "auto", bf16: str | bool = "auto") -> tuple[torch.device, bool]:
    """CUDA when visible (for device=auto), else CPU; bf16 autocast on CUDA that supports it (for bf16=auto)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"student.device={device} but no CUDA device is visible: use auto or cpu")
    flag = str(bf16).lower()
    cuda_bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    if flag == "true" and dev.type == "cuda" and not cuda_bf16:
        raise ValueError("student.bf16=true but this GPU lacks bf16: use auto or false")
    return dev, (cuda_bf16 if flag == "auto" else flag == "true")


def run_key(cfg: StudentConfig, labels: Sequence[str], *datasets: Sequence[dict]) -> str:
    """Fingerprint of what determines a trained model (besides the seed): config, labels, data."""
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in KEY_EXCLUDES}
    data = [[(ex["text"], ex["label"]) for ex in d] for d in datasets]
    return fingerprint(fields, list(labels), data)


def param_groups(model, weight_decay: float, decay_all: bool = False) -> list[dict]:
    """Trainable parameters only. decay_all: decay on every one (the reference's model.parameters()); else none on
    biases and normalisation weights (1-d tensors), as is usual for transformers."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_all:
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def schedule_lengths(cfg: StudentConfig, batches_per_epoch: int) -> tuple[int, int]:
    """(warmup, total) for get_linear_schedule_with_warmup, in scheduler steps; it steps once per optimizer step.
    Warmup: cfg.warmup_steps, else ceil(warmup_ratio x optimizer steps). Total: the optimizer steps (linear: the LR
    reaches 0 at the end), or the micro-batches, epochs x batches (fmcore: the reference's sizing, REFERENCE.md 16.3;
    with grad_accum > 1 the LR stays near its peak)."""
    steps = math.ceil(batches_per_epoch / cfg.grad_accum) * cfg.epochs
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else math.ceil(cfg.warmup_ratio * steps)
    return warmup, (steps if cfg.schedule == "linear" else batches_per_epoch * cfg.epochs)


@torch.no_grad()
def predict_proba(model, tokenizer, texts: Sequence[str], max_length: int = 512, batch_size: int = 128,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities (rows follow `texts`), on the model's device; batches are grouped by length."""
    device = next(model.parameters()).device
    ids = encode(tokenizer, texts, max_length)
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    order = np.argsort([len(x) for x in ids], kind="stable")
    model.eval()
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        batch = {k: v.to(device) for k, v in collate([ids[j] for j in rows], tokenizer.pad_token_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**batch).logits
        out[rows] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return out


def _train_epoch(model, ids, y, batches, optimizer, scheduler, grad_accum, pad_id, bf16, bar, frozen) -> float:
    """One pass; the loss of each micro-batch is divided by the size of its accumulation group."""
    device = next(model.parameters()).device
    model.train()
    if frozen:
        model.base_model.eval()  # a frozen encoder gives fixed features: no dropout inside it
    total, seen = 0.0, 0
    for i, rows in enumerate(batches):
        group = min(grad_accum, len(batches) - (i - i % grad_accum))
        batch = {k: v.to(device) for k, v in collate([ids[j] for j in rows], pad_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch, labels=torch.as_tensor(y[rows], device=device)).loss
        (loss / group).backward()
        total, seen = total + loss.item() * len(rows), seen + len(rows)
        if (i + 1) % grad_accum == 0 or i + 1 == len(batches):
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        bar.update(1)
        bar.set_postfix(loss=f"{total / seen:.4f}")
    return total / seen


def fit(train: Sequence[dict], labels: Sequence[str], cfg: StudentConfig, seed: int, work_dir: Path | None = None,
        on_epoch_end: Callable | None = None, tag: str | None = None, key: str | None = None,
        progress: bool = True):
    """Fine-tune `cfg.model` on `train` with `seed`. After each epoch, `on_epoch_end(epoch, model, tokenizer)` may
    return a dict that joins that epoch's record. With `work_dir`, a checkpoint `<tag>.pt` is written after each
    epoch but the last, and a rerun resumes from it (the caller deletes it once results are safe).
    Returns (model, tokenizer, history, resumed_from_epoch)."""
    labels = list(labels)
    y = np.asarray(check_examples(train, labels, "train"))
    if len(train) < cfg.batch_size * cfg.grad_accum:
        warnings.warn(f"only {len(train)} training examples, fewer than one effective batch "
                      f"({cfg.batch_size} x {cfg.grad_accum}): each epoch is a single optimizer step", stacklevel=2)
    device, bf16 = resolve_device(cfg.device, cfg.bf16)
    set_seed(seed)  # python, numpy and torch; fixes the new head's initialisation and dropout masks
    model, tokenizer = load_student(cfg.model, labels, cfg.dropout)
    if cfg.freeze_encoder:
        freeze_encoder(model)
    model.to(device)
    ids = encode(tokenizer, [ex["text"] for ex in train], cfg.max_length)
    lengths = [len(x) for x in ids]
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.decay_norm_and_bias), lr=cfg.lr,
                                  eps=cfg.adam_eps)
    warmup, total = schedule_lengths(cfg, math.ceil(len(ids) / cfg.batch_size))
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    ckpt = Path(work_dir) / f"{tag or f'seed_{seed}'}.pt" if work_dir else None
    key = key or run_key(cfg, labels, train)
    start, history = load_checkpoint(ckpt, key, model, optimizer, scheduler) if ckpt else (0, [])
    per_epoch = math.ceil(len(ids) / cfg.batch_size)
    bar = tqdm(total=per_epoch * cfg.epochs, initial=per_epoch * start, desc=f"{cfg.name} seed {seed}",
               disable=not progress, unit="batch")   # one bar per seed (per run), not per epoch
    for epoch in range(start + 1, cfg.epochs + 1):
        batches = batch_order(lengths, cfg.batch_size, seed, epoch, cfg.group_by_length)
        bar.set_description(f"{cfg.name} seed {seed} epoch {epoch}/{cfg.epochs}")
        loss = _train_epoch(model, ids, y, batches, optimizer, scheduler, cfg.grad_accum,
                            tokenizer.pad_token_id, bf16, bar, cfg.freeze_encoder)
        record = {"epoch": epoch, "train_loss": loss}
        if on_epoch_end:
            record.update(on_epoch_end(epoch, model, tokenizer) or {})
        history.append(record)
        log.info("%s seed %d epoch %d: %s", cfg.name, seed, epoch,
                 {k: v for k, v in record.items() if isinstance(v, float)})
        if ckpt and epoch < cfg.epochs:  # after the last epoch the caller saves the results at once
            save_checkpoint(ckpt, key, epoch, history, model, optimizer, scheduler)
    bar.set_description(f"{cfg.name} seed {seed}")
    bar.close()
    model.eval()
    return model, tokenizer, history, start
