"""ZeroGen (Ye et al., EMNLP 2022): zero-shot, label-conditioned generation (docs/prior_work.md).

One prompt per label asks for a text of that label, with no demonstration; the teacher samples it
num_samples_per_label times. Repeated samples of the same prompt differ only by their sample index, which
is part of each request's call-cache key and of its seed, so every sample is a distinct, reproducible call.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

from ..core.config import DatasetConfig, MethodConfig
from . import prompts as P
from .base import Inputs
from .builders import PromptRow
from .teacher import TeacherMethod


@dataclass
class SampledPromptRow(PromptRow):
    """A prompt row that is one of several samples of the same prompt text. The samples of a group get consecutive
    request seeds (the group's seed + sample_index), so an engine that samples n at once (vLLM) gives each the text
    of its own request."""
    sample_index: int = 0
    group_id: str = ""


@dataclass
class Settings:
    instruction: Optional[str] = None   # a template with {label_description}; default: dataset.prompts.fewgen_instruction


class ZeroGen(TeacherMethod):
    name = "zerogen"
    title = "ZeroGen"
    Settings = Settings
    order = 10

    def prompts(self, inp: Inputs, teacher) -> tuple[list[SampledPromptRow], Counter]:
        return zerogen_prompts(inp.cfg.dataset, self.mcfg, self.settings.instruction)


def zerogen_prompts(dcfg: DatasetConfig, mcfg: MethodConfig,
                    instruction: Optional[str] = None) -> tuple[list[SampledPromptRow], Counter]:
    """num_samples_per_label rows per label, all with the label's one prompt and sample indices 0..n-1."""
    template = instruction or dcfg.prompts.fewgen_instruction
    rows, stats = [], Counter()
    for label, desc in dcfg.labels.items():
        prompt = P.plain_block(dcfg.prompts, P.instruction(template, desc), None)
        stats["distinct_prompts"] += 1
        for i in range(mcfg.num_samples_per_label):
            rows.append(SampledPromptRow(f"zerogen-{label}-{i}", label, prompt, 0, sample_index=i,
                                         group_id=f"zerogen-{label}"))
    return rows, stats
