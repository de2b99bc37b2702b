"""Gold rows: real training examples, as many as the synthetic rows get, matched to the train label distribution.
Seed examples are not excluded (the reference's Gold row samples the whole train split)."""
from __future__ import annotations

from collections import Counter

from ..core.config import Config
from ..data import label_distribution, read_jsonl, write_jsonl
from .base import Inputs, Method


def gold_size(cfg: Config) -> int:
    return cfg.filter.num_samples or cfg.method.num_samples_per_label * len(cfg.dataset.labels)


class Gold(Method):
    name = "gold"
    title = "Gold"
    uses_teacher = False
    real_data = True
    order = 0

    def key_parts(self, cfg: Config) -> dict:
        return {**super().key_parts(cfg), "num_samples": cfg.filter.num_samples}

    def default_final_size(self, cfg: Config) -> int:
        return gold_size(cfg)

    def synthesize(self, inp: Inputs) -> dict:
        from distill.sampling import match_distribution

        cfg = inp.cfg
        train = read_jsonl(inp.prep / "train.jsonl")
        total = min(gold_size(cfg), len(train))
        rows = match_distribution(train, label_distribution(train), total, cfg.seed)
        rows = [{"text": r["text"], "label": r["label"], "method": "gold", "shots": 0, "doc_id": None,
                 "prompt_id": None, "source_id": r["id"]} for r in rows]
        write_jsonl(inp.out / "synthetic.jsonl", rows)
        return {"num_examples": len(rows), "per_label": dict(Counter(r["label"] for r in rows))}
