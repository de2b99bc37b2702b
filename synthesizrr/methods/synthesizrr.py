"""SynthesizRR: seed texts retrieve corpus documents; the teacher rewrites each document into a task example of
the seed's label. RetrICL (icl_type=retrieved) shows (retrieved document -> seed text) demonstrations;
non-RetrICL (icl_type=seed) shows seed texts only (REFERENCE.md sections 1.2-1.3)."""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.config import ConfigError, CorpusConfig, DatasetConfig, MethodConfig
from ..core.errors import DataError
from ..data import read_jsonl
from . import prompts as P
from .base import Inputs
from .builders import PromptRow, TokenTools, fit_prompt, sample_demos
from .inputs import band_inputs, cap_per_label
from .teacher import TeacherMethod, token_tools

log = logging.getLogger("synthesizrr")


@dataclass
class Settings:
    icl_type: str = "retrieved"      # retrieved (RetrICL) | seed (non-RetrICL)

    def __post_init__(self) -> None:
        if self.icl_type not in ("retrieved", "seed"):
            raise ConfigError(f"method.settings.icl_type={self.icl_type!r} is not allowed: choose one of retrieved, seed")


def _doc_tokens(index: Path) -> list[int]:
    from ..retrieval import load_doc_table

    return load_doc_table(index / "index").column("num_tokens").to_pylist()


class SynthesizRR(TeacherMethod):
    name = "synthesizrr"
    Settings = Settings
    needs_index = True
    needs_retrieval = True
    rewrites_documents = True
    order = 50

    @property
    def retricl(self) -> bool:
        return self.settings.icl_type == "retrieved"

    @property
    def family(self) -> str:
        return "SynthesizRR RetrICL" if self.retricl else "SynthesizRR non-RetrICL"

    def default_label(self) -> str:
        return f"{self.family} {self.mcfg.num_shots}-shot"

    def prompts(self, inp: Inputs, teacher) -> tuple[list[PromptRow], Counter]:
        import datasets

        cfg, m = inp.cfg, self.mcfg
        seeds = read_jsonl(inp.prep / "seeds.jsonl")
        corpus = datasets.load_from_disk(str(inp.index / "corpus"))
        hits = read_jsonl(inp.retrieved / "hits.jsonl")
        banded = band_inputs(seeds, [list(zip(h["rows"], h["scores"])) for h in hits], list(corpus["doc_id"]),
                             _doc_tokens(inp.index), cfg.retriever, cfg.corpus, self.settings.icl_type)
        if not banded["gen"]:
            st, hits_seen = banded["stats"], sum(len(h["rows"]) for h in hits)
            if st["skipped_token_range"] >= hits_seen - st["icl_demos"] - st["icl_outside_band"]:
                raise DataError(f"every retrieved document lies outside the corpus token range (corpus.min_tokens="
                                f"{cfg.corpus.min_tokens}, long_documents={cfg.corpus.long_documents}, max_tokens="
                                f"{cfg.corpus.max_tokens}): lower min_tokens or check the corpus text column")
            raise DataError(f"no retrieved document fell in retriever.gen_band={list(cfg.retriever.gen_band)} for any "
                            f"of {len(seeds)} seeds; widen the band or check the corpus")
        banded["gen"] = cap_per_label(banded["gen"], m.num_samples_per_label, cfg.seed)
        for label in cfg.dataset.labels:
            if not banded["gen"].get(label):
                log.warning("label %s: no generation inputs in band; it gets no synthetic examples", label)
            if m.num_shots and self.retricl and len(banded["icl"].get(label, [])) < m.num_shots:
                log.warning("label %s: %d demonstrations in icl_band for %d shots", label,
                            len(banded["icl"].get(label, [])), m.num_shots)
        rows, stats = synthesizrr_prompts(cfg.dataset, cfg.corpus, m, self.settings.icl_type, banded,
                                          lambda row: corpus[int(row)]["text"], token_tools(teacher),
                                          cfg.teacher.max_new_tokens or cfg.dataset.max_num_tokens, cfg.seed,
                                          cfg.retriever.icl_exclude_same_seed)
        stats.update(banded["stats"])
        return rows, stats


def synthesizrr_prompts(dcfg: DatasetConfig, ccfg: CorpusConfig, mcfg: MethodConfig, icl_type: str, banded: dict,
                        doc_text: Callable[[int], str], tools: TokenTools, max_new_tokens: int, seed: int,
                        exclude_same_seed: bool = True) -> tuple[list[PromptRow], Counter]:
    """One prompt per generation input: num_shots demonstrations of its label (RetrICL: document -> seed text,
    not the input's own seed when `exclude_same_seed`; non-RetrICL: seed texts), then the input's document and
    the instruction. The reference's exclusion never matched (its row idx carries the rank), so it showed the
    input's own seed in ~6% of prompts: exclude_same_seed=False reproduces that."""
    retricl = icl_type == "retrieved"
    stats, rows = Counter(), []
    budget = tools.context_length - max_new_tokens - 32
    p = dcfg.prompts
    doc = lambda row, limit=ccfg.max_tokens: tools.shorten(doc_text(row), limit)
    for label, desc in dcfg.labels.items():
        instr = P.instruction(p.synthesizrr_instruction, desc)
        pool = banded["icl"].get(label, [])
        for item in banded["gen"].get(label, []):
            pid = f"synthesizrr-{label}-{item['doc_id']}-{item['seed_id']}"
            rng = random.Random(f"{seed}:{pid}")
            demos = sample_demos(pool, mcfg.num_shots, rng, item["seed_id"] if retricl and exclude_same_seed else None)
            stats["prompts_with_own_seed_demo"] += any(d["seed_id"] == item["seed_id"] for d in demos)
            if len(demos) < mcfg.num_shots:
                stats["prompts_with_fewer_shots"] += 1
            if retricl:
                blocks = [P.document_block(p, doc(d["doc_row"]), instr, tools.shorten(d["text"], dcfg.max_num_tokens))
                          for d in demos]
            else:
                blocks = [P.answer_only_block(p, tools.shorten(d["text"], dcfg.max_num_tokens)) for d in demos]
            final = lambda over, r=item["doc_row"]: P.document_block(
                p, doc(r) if over == 0 else doc(r, max(8, tools.count(doc(r)) - over)), instr, None)
            prompt = fit_prompt(blocks, final, tools, budget, stats)
            rows.append(PromptRow(pid, label, prompt, len(demos), doc_id=item["doc_id"], seed_id=item["seed_id"],
                                  demo_ids=[d["seed_id"] for d in demos]))
    return rows, stats
