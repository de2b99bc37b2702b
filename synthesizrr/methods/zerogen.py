"""ZeroGen (Ye et al., EMNLP 2022): zero-shot, label-conditioned generation (docs/prior_work.md).

One prompt per label asks for a text of that label, with no demonstration; the teacher samples it
num_samples_per_label times. Repeated samples of the same prompt differ only by their sample index, which
is part of each request's call-cache key and of its seed, so every sample is a distinct, reproducible call.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..core.config import DatasetConfig, MethodConfig
from . import prompts as P
from .builders import PromptRow


@dataclass
class SampledPromptRow(PromptRow):
    """A prompt row that is one of several samples of the same prompt text."""
    sample_index: int = 0


def zerogen_prompts(dcfg: DatasetConfig, mcfg: MethodConfig) -> tuple[list[SampledPromptRow], Counter]:
    """num_samples_per_label rows per label, all with the label's one prompt and sample indices 0..n-1.

    method.extra.instruction (optional) replaces the dataset's fewgen_instruction; it uses {label_description}.
    """
    template = mcfg.extra.get("instruction") or dcfg.prompts.fewgen_instruction
    rows, stats = [], Counter()
    for label, desc in dcfg.labels.items():
        prompt = P.plain_block(dcfg.prompts, P.instruction(template, desc), None)
        stats["distinct_prompts"] += 1
        for i in range(mcfg.num_samples_per_label):
            rows.append(SampledPromptRow(f"zerogen-{label}-{i}", label, prompt, 0, sample_index=i))
    return rows, stats
