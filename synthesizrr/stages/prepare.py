"""prepare: load the dataset's splits, subsample the test split if asked, draw the balanced seeded seed set."""
from __future__ import annotations

from pathlib import Path

from ..data import draw_seed_set, label_distribution, load_splits, source_signature, subsample, write_jsonl

NAME, VERSION = "prepare", 1
INPUTS = ()
OUTPUTS = ("train.jsonl", "test.jsonl", "validation.jsonl", "seeds.jsonl")


def key_extra(run) -> dict:
    return {"source": source_signature(run.cfg.dataset, run.cfg.data_root)}


def compute(run, out: Path, _work: Path) -> dict:
    c = run.cfg
    splits = load_splits(c.dataset, c.data_root)
    splits["test"] = subsample(splits["test"], c.dataset.max_test_examples, c.seed)
    seeds = draw_seed_set(splits["train"], c.dataset.labels, c.dataset.seed_size_per_label, c.seed,
                          with_replacement=c.dataset.seed_sampling == "with_replacement")
    for split, rows in splits.items():
        write_jsonl(out / f"{split}.jsonl", rows)
    write_jsonl(out / "seeds.jsonl", seeds)
    return {"labels": list(c.dataset.labels), "train_distribution": label_distribution(splits["train"]),
            **{f"num_{k}": len(v) for k, v in splits.items()}, "num_seeds": len(seeds),
            "num_unique_seeds": len({s["id"] for s in seeds})}
