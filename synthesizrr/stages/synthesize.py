"""synthesize: the method makes the synthetic examples (synthetic.jsonl), usually by prompting the teacher."""
from __future__ import annotations

from pathlib import Path

from ..methods.base import Inputs

NAME, VERSION = "synthesize", 1
INPUTS = ("prepare", "index", "retrieve")
OUTPUTS = ("synthetic.jsonl",)


def skip_sections(method) -> tuple:
    """Config sections a method does not read: their fields stay out of its key."""
    return (() if method.uses_teacher else ("teacher",)) + (() if method.needs_index else ("retriever", "corpus"))


def key_extra(run) -> dict:
    return run.method.key_parts(run.cfg)


def compute(run, out: Path, work: Path) -> dict:
    return run.method.synthesize(Inputs(cfg=run.cfg, prep=run.paths["prepare"], out=out, work=work,
                                        index=run.paths.get("index"), retrieved=run.paths.get("retrieve"),
                                        teacher=run.teacher))
