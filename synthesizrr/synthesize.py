"""The synthesize stage: build prompts for the method, call the (cached) teacher, parse outputs into examples."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Optional

from .core.config import Config
from .data import DataError, label_distribution, read_jsonl, write_jsonl
from .methods.builders import TokenTools, fewgen_prompts, synthesizrr_prompts
from .methods.inputs import band_inputs, cap_per_label
from .methods.parsing import DROP_REASONS, clean, drop_reason
from .core.store import atomic_write_json, fingerprint

log = logging.getLogger("synthesizrr")


def request_seed(seed: int, prompt_id: str) -> int:
    return int(fingerprint(seed, prompt_id, length=8), 16) % (2**31 - 1)


def gold_size(cfg: Config) -> int:
    return cfg.filter.num_samples or cfg.method.num_samples_per_label * len(cfg.dataset.labels)


def run_gold(cfg: Config, prep: Path, out: Path) -> dict:
    """Gold rows: real training examples (seeds excluded), as many as the synthetic sets get."""
    from distill.sampling import match_distribution

    train = read_jsonl(prep / "train.jsonl")
    total = min(gold_size(cfg), len(train))
    rows = match_distribution(train, label_distribution(train), total, cfg.seed)
    rows = [{"text": r["text"], "label": r["label"], "method": "gold", "shots": 0, "doc_id": None,
             "prompt_id": None, "source_id": r["id"]} for r in rows]
    write_jsonl(out / "synthetic.jsonl", rows)
    return {"num_examples": len(rows), "per_label": dict(Counter(r["label"] for r in rows))}


def _doc_lookup(index: Path):
    import datasets

    corpus = datasets.load_from_disk(str(index / "corpus"))
    return corpus, (lambda row: corpus[int(row)]["text"])


def build_prompt_rows(cfg: Config, prep: Path, retrieved: Optional[Path], index: Optional[Path], teacher,
                      out: Optional[Path] = None):
    seeds = read_jsonl(prep / "seeds.jsonl")
    max_new = cfg.teacher.max_new_tokens or cfg.dataset.max_num_tokens
    tools = TokenTools(teacher.count_tokens, teacher.truncate_tokens, teacher.context_length)
    m = cfg.method
    if m.name == "fewgen":
        rows, stats = fewgen_prompts(cfg.dataset, m, seeds, tools, max_new, cfg.seed)
        return rows, stats, max_new
    if m.name == "synthesizrr":
        corpus, doc_text = _doc_lookup(index)
        hits = read_jsonl(retrieved / "hits.jsonl")
        doc_ids = list(corpus["doc_id"])
        doc_tokens = _doc_tokens(index)
        banded = band_inputs(seeds, [list(zip(h["rows"], h["scores"])) for h in hits], doc_ids, doc_tokens,
                             cfg.retriever, cfg.corpus, m.icl_type)
        if not banded["gen"]:
            raise DataError(f"no retrieved document fell in retriever.gen_band={list(cfg.retriever.gen_band)} for any "
                            f"of {len(seeds)} seeds; widen the band or check the corpus")
        banded["gen"] = cap_per_label(banded["gen"], m.num_samples_per_label, cfg.seed)
        for label in cfg.dataset.labels:
            if not banded["gen"].get(label):
                log.warning("label %s: no generation inputs in band; it gets no synthetic examples", label)
            if m.num_shots and m.icl_type == "retrieved" and len(banded["icl"].get(label, [])) < m.num_shots:
                log.warning("label %s: %d demonstrations in icl_band for %d shots", label,
                            len(banded["icl"].get(label, [])), m.num_shots)
        rows, stats = synthesizrr_prompts(cfg.dataset, cfg.corpus, m, banded, doc_text, tools, max_new, cfg.seed)
        stats.update(banded["stats"])
        return rows, stats, max_new
    # --- prior work (docs/prior_work.md) ---
    if m.name == "zerogen":
        from .methods.zerogen import zerogen_prompts
        return (*zerogen_prompts(cfg.dataset, m), max_new)
    if m.name == "attrprompt":
        from .methods.attrprompt import attrprompt_prompts
        return (*attrprompt_prompts(cfg, teacher, out), max_new)
    # --- end prior work ---
    raise NotImplementedError(f"method '{m.name}' has no prompt builder")


def _doc_tokens(index: Path) -> list[int]:
    from .retrieval import load_doc_table

    return load_doc_table(index / "index").column("num_tokens").to_pylist()


def run_teacher_method(cfg: Config, prep: Path, retrieved: Optional[Path], index: Optional[Path], out: Path,
                       teacher) -> dict:
    from .teachers import Request

    rows, stats, max_new = build_prompt_rows(cfg, prep, retrieved, index, teacher, out)
    write_jsonl(out / "prompts.jsonl", ({"prompt_id": r.prompt_id, "label": r.label, "prompt": r.prompt,
                                         "num_shots": r.num_shots, "doc_id": r.doc_id, "seed_id": r.seed_id,
                                         "demo_ids": r.demo_ids} for r in rows))
    before = dict(teacher.stats)
    p = cfg.dataset.prompts
    stop = tuple(dict.fromkeys([*cfg.teacher.stop, *p.stop]))
    requests = [Request(prompt=r.prompt, max_new_tokens=max_new, seed=request_seed(cfg.seed, r.prompt_id),
                        sample_index=getattr(r, "sample_index", 0),  # zerogen: samples of one prompt
                        system=p.system, stop=stop) for r in rows]
    with (out / "call_keys.txt").open("a") as f:   # appends: attrprompt wrote its proposal calls' keys first
        f.write("\n".join(teacher.call_keys(requests)) + "\n")
    completions = teacher.generate(requests, progress=True, desc=f"teacher {cfg.method.label}")
    drops, seen, examples = Counter(), set(), []
    for row, comp in zip(rows, completions):
        if comp.error:
            drops["teacher_error"] += 1
            continue
        text = clean(comp.text, cfg.dataset.prompts)
        reason = drop_reason(text, cfg.dataset.prompts, cfg.method.min_words, seen)
        if reason:
            drops[reason] += 1
            continue
        examples.append({"text": text, "label": row.label, "method": cfg.method.name, "shots": row.num_shots,
                         "doc_id": row.doc_id, "prompt_id": row.prompt_id, "seed_id": row.seed_id})
    write_jsonl(out / "synthetic.jsonl", examples)
    write_jsonl(out / "raw_completions.jsonl", ({"prompt_id": r.prompt_id, "text": c.text, "error": c.error,
                                                 "tokens_in": c.tokens_in, "tokens_out": c.tokens_out}
                                                for r, c in zip(rows, completions)))
    after = teacher.stats
    teacher_stats = {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], (int, float))}
    figures = {"num_prompts": len(rows), "num_examples": len(examples),
               "per_label": dict(Counter(e["label"] for e in examples)),
               "drops": {r: drops.get(r, 0) for r in DROP_REASONS}, "prompt_stats": dict(stats),
               "teacher": teacher_stats,
               "tokens_in": sum(c.tokens_in for c in completions),
               "tokens_out": sum(c.tokens_out for c in completions)}
    atomic_write_json(out / "stats.json", figures)
    if not examples:
        raise DataError(f"the teacher produced no usable example from {len(rows)} prompts (drops: {dict(drops)})")
    return figures
