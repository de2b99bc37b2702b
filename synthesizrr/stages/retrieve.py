"""retrieve: the top-K corpus documents for every seed text."""
from __future__ import annotations

from pathlib import Path

from ..data import read_jsonl, write_jsonl

NAME, VERSION = "retrieve", 1
INPUTS = ("prepare", "index")
OUTPUTS = ("hits.jsonl",)


def key_extra(run) -> dict:
    return {}


def compute(run, out: Path, _work: Path) -> dict:
    from ..retrieval import load_retriever

    c = run.cfg
    seeds = read_jsonl(run.paths["prepare"] / "seeds.jsonl")
    retriever = load_retriever(c.retriever, run.paths["index"] / "index")
    hits = retriever.search([s["text"] for s in seeds], c.retriever.top_k, seed=c.seed)
    write_jsonl(out / "hits.jsonl", ({"seed_id": s["id"], "rows": [int(r) for r, _ in h],
                                      "scores": [None if sc is None else float(sc) for _, sc in h]}
                                     for s, h in zip(seeds, hits)))
    top1 = [h[0][1] for h in hits if h and h[0][1] is not None]
    return {"num_queries": len(seeds), "top1_mean_score": sum(top1) / len(top1) if top1 else None}
