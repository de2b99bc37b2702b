"""Methods that prompt the teacher: build prompt rows, call the (cached) teacher, parse completions into examples.
A subclass only implements `prompts`."""
from __future__ import annotations

import logging
from collections import Counter
from typing import ClassVar

from ..core.config import Config, PromptConfig
from ..core.errors import DataError
from ..core.store import atomic_write_json, fingerprint
from ..data import write_jsonl
from .base import Inputs, Method
from .builders import TokenTools
from .parsing import DROP_REASONS, drop_reason
from .parsing import examples as parse_examples

log = logging.getLogger("synthesizrr")


def request_seed(seed: int, prompt_id: str, offset: int = 0) -> int:
    return (int(fingerprint(seed, prompt_id, length=8), 16) + offset) % (2**31 - 1)


def row_seed(seed: int, row) -> int:
    """A prompt row's request seed; samples of one group (ZeroGen) get consecutive seeds."""
    group = getattr(row, "group_id", "")
    return request_seed(seed, group, row.sample_index) if group else request_seed(seed, row.prompt_id)


def token_tools(teacher) -> TokenTools:
    return TokenTools(teacher.count_tokens, teacher.truncate_tokens, teacher.context_length)


class TeacherMethod(Method):
    rewrites_documents: ClassVar[bool] = False   # SynthesizRR blocks carry a document; FewGen-style ones do not

    def prompts(self, inp: Inputs, teacher) -> tuple[list, Counter]:
        """(prompt rows, prompt statistics). Rows are builders.PromptRow (or subclasses)."""
        raise NotImplementedError

    def answer_prefix(self, p: PromptConfig) -> str:
        """The prefix the teacher continues after (and completions are split or cut on); blocks without a
        document use the dataset's fewgen_answer_prefix when it has one (Hyperpartisan: "News article:")."""
        return p.answer_prefix if self.rewrites_documents else (p.fewgen_answer_prefix or p.answer_prefix)

    def synthesize(self, inp: Inputs) -> dict:
        return run_prompts(self, inp, inp.teacher())


def request_stops(cfg: Config) -> tuple:
    """Stop sequences sent with each request: the teacher's, plus the dataset's when generation.send_stops
    (never whitespace-only ones: a blank line after a lead-in must not end the answer before it starts; the
    cutter applies them after the lead-in is stripped)."""
    dataset = cfg.dataset.prompts.stop if cfg.generation.send_stops else []
    return tuple(dict.fromkeys([*cfg.teacher.stop, *(s for s in dataset if s.strip())]))


def complete(teacher, requests: list, desc: str) -> list:
    """Completions for every request, or IncompleteCalls. Calls that failed (after the backend's own retries) get
    one more pass once the others are done (a server back after a restart); any still failing stop the stage:
    it is not stored, the completed calls are cached and a rerun sends exactly the failed ones."""
    from ..teachers import IncompleteCalls

    if hasattr(teacher, "guard"):   # logs the planned calls and their cost; refuses above teacher.max_cost_usd
        teacher.guard(requests, desc)
    out = teacher.generate(requests, progress=True, desc=desc)
    failed = [i for i, c in enumerate(out) if c.error]
    if failed:
        log.warning("%s: %d of %d calls failed; trying them once more", desc, len(failed), len(requests))
        for i, c in zip(failed, teacher.generate([requests[i] for i in failed], progress=True, desc=f"{desc} (retry)")):
            out[i] = c
        failed = [i for i, c in enumerate(out) if c.error]
    if failed:
        raise IncompleteCalls(f"{len(failed)} of {len(requests)} teacher calls failed (last error: "
                              f"{out[failed[-1]].error}); the {len(requests) - len(failed)} completed calls are cached: "
                              f"rerun the same command to send only the failed ones")
    return out


def shots_used(rows: list, configured: int) -> dict:
    """Demonstrations the prompts really got (bands, small pools and context fitting can leave fewer)."""
    used = [r.num_shots for r in rows]
    out = {"configured": configured, "mean": sum(used) / len(used) if used else 0.0, "min": min(used, default=0)}
    if used and out["mean"] < configured:
        log.warning("prompts got %.1f demonstrations on average (min %d) where %d were configured", out["mean"],
                    out["min"], configured)
    return out


def run_prompts(method: TeacherMethod, inp: Inputs, teacher) -> dict:
    """The synthesize stage of a teacher method: prompts.jsonl, the calls, synthetic.jsonl and stats.json."""
    from ..teachers import Request

    cfg, out = inp.cfg, inp.out
    rows, stats = method.prompts(inp, teacher)
    shots = shots_used(rows, cfg.method.num_shots)
    max_new = cfg.teacher.max_new_tokens or cfg.dataset.max_num_tokens
    write_jsonl(out / "prompts.jsonl", ({"prompt_id": r.prompt_id, "label": r.label, "prompt": r.prompt,
                                         "num_shots": r.num_shots, "doc_id": r.doc_id, "seed_id": r.seed_id,
                                         "demo_ids": r.demo_ids} for r in rows))
    before = dict(teacher.stats)
    p, g = cfg.dataset.prompts, cfg.generation
    requests = [Request(prompt=r.prompt, max_new_tokens=max_new, seed=row_seed(cfg.seed, r),
                        sample_index=getattr(r, "sample_index", 0),  # zerogen: samples of one prompt
                        system=p.system, stop=request_stops(cfg)) for r in rows]
    with (out / "call_keys.txt").open("a") as f:   # appends: attrprompt wrote its proposal calls' keys first
        f.write("\n".join(teacher.call_keys(requests)) + "\n")
    completions = complete(teacher, requests, f"teacher {method.label}")
    drops, seen, examples, duplicates = Counter(), set(), [], 0
    prefix = method.answer_prefix(p)
    for row, comp in zip(rows, completions):
        texts, reason = parse_examples(comp.text, p, g, prefix)
        if reason:
            drops[reason] += 1
        for piece, text in enumerate(texts):
            reason = drop_reason(text, g, seen)
            duplicates += reason == "duplicate"
            if reason and not (reason == "duplicate" and not g.dedup):
                drops[reason] += 1
                continue
            examples.append({"text": text, "label": row.label, "method": cfg.method.name, "shots": row.num_shots,
                             "doc_id": row.doc_id, "prompt_id": row.prompt_id, "seed_id": row.seed_id,
                             **({"piece": piece} if len(texts) > 1 else {})})
    write_jsonl(out / "synthetic.jsonl", examples)
    write_jsonl(out / "raw_completions.jsonl", ({"prompt_id": r.prompt_id, "text": c.text, "error": c.error,
                                                 "tokens_in": c.tokens_in, "tokens_out": c.tokens_out}
                                                for r, c in zip(rows, completions)))
    after = teacher.stats
    teacher_stats = {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], (int, float))}
    figures = {"num_prompts": len(rows), "num_examples": len(examples),
               "per_label": dict(Counter(e["label"] for e in examples)),
               "drops": {r: drops.get(r, 0) for r in DROP_REASONS}, "duplicates": duplicates,
               "examples_from_split_completions": sum("piece" in e for e in examples),
               "prompt_stats": dict(stats), "shots": shots, "teacher": teacher_stats,
               "tokens_in": sum(c.tokens_in for c in completions),
               "tokens_out": sum(c.tokens_out for c in completions)}
    atomic_write_json(out / "stats.json", figures)
    if not examples:
        raise DataError(f"the teacher produced no usable example from {len(rows)} prompts (drops: {dict(drops)})")
    return figures
