"""Prompt-building tools shared by the teacher methods: the memoized tokenizer, prompt rows, seeded demonstration
sampling, and fitting a prompt into the teacher's context."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Optional

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


def sample_demos(pool: list[dict], k: int, rng: random.Random, exclude_seed: Optional[str]) -> list[dict]:
    candidates = [d for d in pool if d.get("seed_id") != exclude_seed] if exclude_seed else pool
    return rng.sample(candidates, min(k, len(candidates)))


def fit_prompt(blocks: list[str], final_parts: Callable[[int], str], tools: TokenTools, budget: int,
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
