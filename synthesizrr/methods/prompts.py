"""Prompt layout (REFERENCE.md section 6): demonstrations first, separated by blank lines, then the final block
ending in the answer prefix. SynthesizRR blocks carry a retrieved document; FewGen blocks do not."""
from __future__ import annotations

from typing import Callable, Optional

from ..core.config import PromptConfig

Truncate = Callable[[str, int], str]


def shorten(text: str, max_tokens: int, truncate: Truncate, count: Callable[[str], int]) -> str:
    """At most `max_tokens` tokens; when cut, end at the last full stop if there is one (as the reference)."""
    if count(text) <= max_tokens:
        return text
    cut = truncate(text, max_tokens)
    stop = cut.rfind(".")
    return cut[: stop + 1] if stop > 0 else cut


def instruction(template: str, label_description: str) -> str:
    return template.format(label_description=label_description)


def document_block(p: PromptConfig, document: str, instr: str, answer: Optional[str]) -> str:
    head = f"{p.document_header}\n{document}\n\n{instr}\n{p.answer_prefix}"
    return head if answer is None else f"{head} {answer}"


def plain_block(p: PromptConfig, instr: str, answer: Optional[str]) -> str:
    """A block without a document (FewGen, ZeroGen, AttrPrompt): its own answer prefix when the dataset has one."""
    head = f"{instr}\n{p.fewgen_answer_prefix or p.answer_prefix}"
    return head if answer is None else f"{head} {answer}"


def answer_only_block(p: PromptConfig, answer: str) -> str:
    """A non-RetrICL demonstration: just the answer prefix and the seed text."""
    return f"{p.answer_prefix} {answer}"


def join(blocks: list[str]) -> str:
    return "\n\n".join(blocks)
