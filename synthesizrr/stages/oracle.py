"""oracle: the label-preservation oracle, the student model trained on real train data with its learning rate
chosen on validation data (never test). Shared by every method on the same dataset."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..core.store import read_json
from ..data import read_jsonl, subsample

NAME, VERSION = "oracle", 1
INPUTS = ("prepare",)
OUTPUTS = ()


def key_extra(run) -> dict:
    return {}


def compute(run, out: Path, work: Path) -> dict:
    from distill.oracle import split_validation, train_oracle

    c, prep = run.cfg, run.paths["prepare"]
    train = subsample(read_jsonl(prep / "train.jsonl"), c.metrics.oracle_max_train, c.seed)
    if (prep / "validation.jsonl").exists():
        validation = read_jsonl(prep / "validation.jsonl")
    else:
        train, validation = split_validation(train, 0.2, c.seed)
    train_oracle(train, validation, list(c.dataset.labels), c.student, work)
    shutil.copytree(work / "model", out / "model")
    return read_json(work / "oracle.json")
