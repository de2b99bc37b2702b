"""Build one prompt per requested example for FewGen and SynthesizRR (seeded shot sampling per prompt)."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Optional

from ..core.config import CorpusConfig, DatasetConfig, MethodConfig
from . import prompts as P


@dataclass
class TokenTools:
    """The teacher's tokenizer, memoized (demonstrations repeat across prompts)."""
    count: Callable[[str], int]
    truncate: Callable[[str, int], str]
    context_length: int

    def __post_init__(self):
        self.count = lru_cache(maxsize=200_000)(self.count)
        self._short = lru_cache(maxsize=200_000)(lambda t, n: P.shorten(t, n, self.truncate, self.count))

    def shorten(self, text: str, n: int) -> str:
        return self._short(text, n)


@dataclass
class PromptRow:
    prompt_id: str
    label: str
    prompt: str
    num_shots: int
    doc_id: Optional[str] = None
    seed_id: Optional[str] = None
    demo_ids: list = field(default_factory=list)


def _sample_demos(pool: list[dict], k: int, rng: random.Random, exclude_seed: Optional[str]) -> list[dict]:
    candidates = [d for d in pool if d.get("seed_id") != exclude_seed] if exclude_seed else pool
    return rng.sample(candidates, min(k, len(candidates)))


def _fit(blocks: list[str], final_parts: Callable[[int], str], tools: TokenTools, budget: int,
         stats: Counter) -> str:
    """Drop the earliest demonstrations until the prompt fits; then shorten the final document."""
    dropped = 0
    prompt = P.join(blocks + [final_parts(0)])
    while tools.count(prompt) > budget and blocks:
        blocks = blocks[1:]
        dropped += 1
        prompt = P.join(blocks + [final_parts(0)])
    if tools.count(prompt) > budget:
        over = tools.count(prompt) - budget
        prompt = P.join([final_parts(over)])
        stats["prompts_document_cut"] += 1
    if dropped:
        stats["prompts_shortened"] += 1
        stats["demos_dropped_for_context"] += dropped
    return prompt


def fewgen_prompts(dcfg: DatasetConfig, mcfg: MethodConfig, seeds: list[dict], tools: TokenTools,
                   max_new_tokens: int, seed: int) -> tuple[list[PromptRow], Counter]:
    stats, rows = Counter(), []
    budget = tools.context_length - max_new_tokens - 32
    p = dcfg.prompts
    pool_by_label: dict[str, list[dict]] = {}
    for s in seeds:
        pool_by_label.setdefault(s["label"], []).append({"text": s["text"], "seed_id": s["id"]})
    for label, desc in dcfg.labels.items():
        instr = P.instruction(p.fewgen_instruction, desc)
        pool = pool_by_label.get(label, [])
        for i in range(mcfg.num_samples_per_label):
            pid = f"fewgen-{label}-{i}"
            rng = random.Random(f"{seed}:{pid}")
            demos = _sample_demos(pool, mcfg.num_shots, rng, None)
            if len(demos) < mcfg.num_shots:
                stats["prompts_with_fewer_shots"] += 1
            blocks = [P.plain_block(p, instr, tools.shorten(d["text"], dcfg.max_num_tokens)) for d in demos]
            prompt = _fit(blocks, lambda over: P.plain_block(p, instr, None), tools, budget, stats)
            rows.append(PromptRow(pid, label, prompt, len(demos), demo_ids=[d["seed_id"] for d in demos]))
    return rows, stats


def synthesizrr_prompts(dcfg: DatasetConfig, ccfg: CorpusConfig, mcfg: MethodConfig, banded: dict,
                        doc_text: Callable[[int], str], tools: TokenTools, max_new_tokens: int,
                        seed: int) -> tuple[list[PromptRow], Counter]:
    stats, rows = Counter(), []
    budget = tools.context_length - max_new_tokens - 32
    p = dcfg.prompts
    doc = lambda row, limit=ccfg.max_tokens: tools.shorten(doc_text(row), limit)
    for label, desc in dcfg.labels.items():
        instr = P.instruction(p.synthesizrr_instruction, desc)
        pool = banded["icl"].get(label, [])
        for i, item in enumerate(banded["gen"].get(label, [])):
            pid = f"synthesizrr-{label}-{item['doc_id']}-{item['seed_id']}"
            rng = random.Random(f"{seed}:{pid}")
            demos = _sample_demos(pool, mcfg.num_shots, rng, item["seed_id"] if mcfg.icl_type == "retrieved" else None)
            if len(demos) < mcfg.num_shots:
                stats["prompts_with_fewer_shots"] += 1
            if mcfg.icl_type == "retrieved":
                blocks = [P.document_block(p, doc(d["doc_row"]), instr, tools.shorten(d["text"], dcfg.max_num_tokens))
                          for d in demos]
            else:
                blocks = [P.answer_only_block(p, tools.shorten(d["text"], dcfg.max_num_tokens)) for d in demos]
            final = lambda over, r=item["doc_row"]: P.document_block(
                p, doc(r) if over == 0 else doc(r, max(8, tools.count(doc(r)) - over)), instr, None)
            prompt = _fit(blocks, final, tools, budget, stats)
            rows.append(PromptRow(pid, label, prompt, len(demos), doc_id=item["doc_id"], seed_id=item["seed_id"],
                                  demo_ids=[d["seed_id"] for d in demos]))
    return rows, stats
