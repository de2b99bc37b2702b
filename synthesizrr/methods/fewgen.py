"""FewGen: k seed texts of the label as demonstrations, no retrieval; one prompt per requested example."""
from __future__ import annotations

import random
from collections import Counter

from ..core.config import DatasetConfig, MethodConfig
from ..data import read_jsonl
from . import prompts as P
from .base import Inputs
from .builders import PromptRow, TokenTools, fit_prompt, sample_demos
from .teacher import TeacherMethod, token_tools


class FewGen(TeacherMethod):
    name = "fewgen"
    order = 20

    def default_label(self) -> str:
        return f"FewGen {self.mcfg.num_shots}-shot"

    @property
    def family(self) -> str:
        return "FewGen"

    def prompts(self, inp: Inputs, teacher) -> tuple[list[PromptRow], Counter]:
        cfg = inp.cfg
        return fewgen_prompts(cfg.dataset, self.mcfg, read_jsonl(inp.prep / "seeds.jsonl"), token_tools(teacher),
                              cfg.teacher.max_new_tokens or cfg.dataset.max_num_tokens, cfg.seed)


def fewgen_prompts(dcfg: DatasetConfig, mcfg: MethodConfig, seeds: list[dict], tools: TokenTools,
                   max_new_tokens: int, seed: int) -> tuple[list[PromptRow], Counter]:
    """num_samples_per_label prompts per label, each with num_shots seed texts of the label (seeded draw)."""
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
            demos = sample_demos(pool, mcfg.num_shots, rng, None)
            if len(demos) < mcfg.num_shots:
                stats["prompts_with_fewer_shots"] += 1
            blocks = [P.plain_block(p, instr, tools.shorten(d["text"], dcfg.max_num_tokens)) for d in demos]
            prompt = fit_prompt(blocks, lambda over: P.plain_block(p, instr, None), tools, budget, stats)
            rows.append(PromptRow(pid, label, prompt, len(demos), demo_ids=[d["seed_id"] for d in demos]))
    return rows, stats
