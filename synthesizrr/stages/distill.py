"""distill: fine-tune the student once per seed on the final sample and score it on the real test split."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..core.store import atomic_write_json
from ..data import read_jsonl

NAME, VERSION = "distill", 1
INPUTS = ("prepare", "filter")
OUTPUTS = ()


def key_extra(run) -> dict:
    return {}


def compute(run, out: Path, work: Path) -> dict:
    from distill.train import train_students

    c = run.cfg
    # train in the persistent work dir: finished seeds and epoch checkpoints survive a kill
    res = train_students(read_jsonl(run.paths["filter"] / "final.jsonl"),
                         read_jsonl(run.paths["prepare"] / "test.jsonl"), list(c.dataset.labels), c.student, work,
                         work_dir=work / "checkpoints", progress=True)
    for f in work.glob("*.json"):
        shutil.copy2(f, out / f.name)
    atomic_write_json(out / "results.json", res)
    return {k: v for k, v in res.items() if k != "per_seed"}
