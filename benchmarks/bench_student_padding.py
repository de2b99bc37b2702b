"""Student training throughput: dynamic padding + length grouping vs padding every batch to max_length.

Same data (real BBC article prefixes of seeded log-uniform lengths, 8-400 words), same model (offline MiniLM),
same optimizer; only the batching differs. Prints samples/s per variant and the speed-up ratio.

    python benchmarks/bench_student_padding.py --steps 24 --batch-size 16 --max-length 256
"""
from __future__ import annotations

import argparse
import math
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer, set_seed  # noqa: E402

from distill.data import batch_order, collate, encode  # noqa: E402
from distill.models import load_student  # noqa: E402
from synthesizrr.core.assets import BBC_LABELS, bbc_articles, resolve_model  # noqa: E402

ROUND = 4  # timed steps per variant per round
VARIANTS = {  # name -> (group_by_length, pad_to_max)
    "pad to max_length": (False, True),
    "dynamic padding": (False, False),
    "dynamic padding + length grouping": (True, False),
}


def texts_of_varied_length(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Prefixes of real BBC articles, log-uniform between 8 and 400 words (many short texts, some long ones)."""
    rng = random.Random(seed)
    arts = rng.sample(list(bbc_articles()), n)
    words = [round(math.exp(rng.uniform(math.log(8), math.log(400)))) for _ in arts]
    texts = [" ".join(a["body"].split()[:k]) for a, k in zip(arts, words)]
    return texts, [BBC_LABELS.index(a["label"]) for a in arts]


class Variant:
    """One batching variant: its own freshly loaded model (same seed), optimizer and batch list."""

    def __init__(self, name: str, ids, y, args):
        self.group, self.pad_max = VARIANTS[name]
        set_seed(0)
        self.model, self.tok = load_student("offline:minilm", BBC_LABELS)
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=5e-5)
        self.batches = batch_order([len(x) for x in ids], args.batch_size, 0, 1, self.group)
        self.ids, self.y, self.max_length = ids, y, args.max_length
        self.next, self.seconds, self.samples, self.widths = 0, 0.0, 0, []

    def steps(self, k: int, timed: bool = True) -> None:
        start = time.perf_counter()
        for rows in self.batches[self.next:self.next + k]:
            batch = collate([self.ids[j] for j in rows], self.tok.pad_token_id,
                            self.max_length if self.pad_max else None)
            self.model(**batch, labels=torch.as_tensor(self.y[rows])).loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            if timed:
                self.samples += len(rows)
                self.widths.append(batch["input_ids"].shape[1])
        self.next += k
        if timed:
            self.seconds += time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=24, help="timed steps per variant (a multiple of 4)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--num-texts", type=int, default=1600, help="at least batch_size x 50 fills one grouping window")
    args = ap.parse_args()
    texts, labels = texts_of_varied_length(args.num_texts, seed=0)
    ids = encode(AutoTokenizer.from_pretrained(resolve_model("offline:minilm")), texts, args.max_length)
    lengths = [len(x) for x in ids]
    print(f"{len(ids)} texts, tokens per text: mean {np.mean(lengths):.0f}, median {np.median(lengths):.0f}, "
          f"max {max(lengths)} (max_length {args.max_length}); batch {args.batch_size}, {args.steps} timed steps; "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    variants = {name: Variant(name, ids, np.asarray(labels), args) for name in VARIANTS}
    for v in variants.values():
        v.steps(args.warmup, timed=False)
    # Interleave rounds of a few steps so that load from other processes hits every variant alike.
    for _ in range(0, args.steps, ROUND):
        for v in variants.values():
            v.steps(ROUND)
    rate = {name: v.samples / v.seconds for name, v in variants.items()}
    for name, v in variants.items():
        print(f"{name:36s} {rate[name]:7.2f} samples/s  mean padded width {np.mean(v.widths):6.1f}  "
              f"({v.seconds:.1f} s for {v.samples} samples)")
    base, best = rate["pad to max_length"], rate["dynamic padding + length grouping"]
    print(f"speed-up of dynamic padding + length grouping over padding to max_length: {best / base:.2f}x")


if __name__ == "__main__":
    main()
