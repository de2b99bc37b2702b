"""Examples -> token ids -> batches: input checks, seeded (length-grouped) batch order, dynamic padding."""
from __future__ import annotations

import warnings
from collections import Counter
from typing import Sequence

import numpy as np
import torch

MEGA_BATCHES = 50  # length grouping sorts within windows of this many batches (as the HF Trainer does)


def check_examples(examples: Sequence[dict], labels: Sequence[str], what: str) -> list[int]:
    """Label ids of `examples`; raise on a missing field or a label outside `labels`, warn on an absent label."""
    if not examples:
        raise ValueError(f"{what} set is empty: need at least one example with 'text' and 'label'")
    index = {lab: i for i, lab in enumerate(labels)}
    ids = []
    for n, ex in enumerate(examples):
        if "text" not in ex or "label" not in ex:
            raise ValueError(f"{what} example {n} lacks 'text' or 'label': keys are {sorted(ex)}")
        if ex["label"] not in index:
            raise ValueError(f"{what} example {n} has label {ex['label']!r}, not in the label set {list(labels)}")
        ids.append(index[ex["label"]])
    counts = Counter(ex["label"] for ex in examples)
    missing = [lab for lab in labels if not counts[lab]]
    if missing:
        warnings.warn(f"{what} set has no examples of label(s) {missing}; counts: "
                      f"{ {lab: counts[lab] for lab in labels} }", stacklevel=3)
    return ids


def encode(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to `max_length` (capped by the tokenizer's own limit), unpadded."""
    limit = getattr(tokenizer, "model_max_length", None) or max_length
    max_length = min(max_length, limit) if limit < 1_000_000 else max_length
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int,
                group_by_length: bool) -> list[np.ndarray]:
    """Index batches for one epoch, from a generator seeded by (seed, epoch) so a resumed run repeats them.
    Grouping: shuffle, sort each window of MEGA_BATCHES batches by length, then shuffle the batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if group_by_length:
        window = batch_size * MEGA_BATCHES
        order = np.concatenate([sorted(order[i:i + window], key=lambda j: -lengths[j])
                                for i in range(0, len(order), window)])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if group_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def collate(ids: Sequence[list[int]], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sequence (dynamic padding) or to `pad_to`; return input_ids and attention_mask."""
    width = pad_to or max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, :len(x)] = torch.tensor(x, dtype=torch.long)
        mask[row, :len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}
