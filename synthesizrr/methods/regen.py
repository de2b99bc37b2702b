"""ReGen (Yu et al., Findings ACL 2023): training data retrieved from the corpus, not generated (docs/prior_work.md).

1. Queries: each label's verbalization (dataset.labels) in each of method.settings.query_templates.
2. The configured retriever searches the corpus index with them; per label a document keeps its best score over
   the label's queries. A document found for several labels keeps the best-scoring label (settings.conflicts: best)
   or is dropped (drop). Documents outside the corpus token range are skipped.
3. Each label keeps its num_samples_per_label best documents, shortened to settings.max_words words.
4. Consistency filter: a classifier (filter.model with the filter's lr, batch size and max length, for
   settings.filter_epochs epochs, seeded) is trained on these pseudo-labelled documents and predicts them; the ones
   whose prediction disagrees with their label are dropped (dropped.jsonl), except that each label keeps at least
   settings.min_keep_per_label documents (its most label-like ones), so a weak classifier cannot empty a label.
No teacher is called.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..core.config import Config, ConfigError, StudentConfig
from ..core.errors import DataError
from ..core.store import atomic_write_json
from ..data import write_jsonl
from . import prompts as P
from .base import Inputs, Method

log = logging.getLogger("synthesizrr")

@dataclass
class Settings:
    query_templates: List[str] = field(default_factory=lambda: ["{label_description}", "{label}"])
    docs_per_query: Optional[int] = None   # retrieved per query; None: 2 x num_samples_per_label
    conflicts: str = "best"                # a document found for several labels: best (its best label) | drop
    max_words: Optional[int] = None        # documents are shortened to this many words; None: dataset.max_num_tokens
    consistency_filter: bool = True
    filter_epochs: int = 2                 # epochs of the consistency classifier (filter.model and its settings)
    min_keep_per_label: int = 1            # a label keeps at least this many (most label-like) documents

    def __post_init__(self) -> None:
        if self.conflicts not in ("best", "drop"):
            raise ConfigError(f"method.settings.conflicts={self.conflicts!r} is not allowed: choose one of best, drop")
        if not self.query_templates:
            raise ConfigError("method.settings.query_templates must be a non-empty list of templates using "
                              "{label} and/or {label_description}")
        if self.filter_epochs < 1:
            raise ConfigError(f"method.settings.filter_epochs={self.filter_epochs} is out of range: allowed >= 1")


def _pick(obj, names: tuple) -> dict:
    return {k: getattr(obj, k) for k in names}




def shorten_words(text: str, max_words: int) -> str:
    """At most `max_words` whitespace words, ending at the last full stop when cut (as prompts.shorten)."""
    return P.shorten(text, max_words, lambda t, n: " ".join(t.split()[:n]), lambda t: len(t.split()))


def label_queries(labels: dict[str, str], templates: list[str]) -> list[dict]:
    return [{"query_id": f"regen-{label}-q{j}", "label": label,
             "text": t.format(label=label, label_description=desc)}
            for label, desc in labels.items() for j, t in enumerate(templates)]


def pseudo_label(queries: list[dict], hits: list[list[tuple[int, float]]], doc_tokens: list[int], ccfg,
                 conflicts: str) -> tuple[list[dict], Counter]:
    """One candidate per document: {doc_row, label, score, query_id}, best score first."""
    best: dict[int, dict[str, dict]] = {}       # doc row -> label -> best hit for that label
    stats = Counter()
    for q, ranked in zip(queries, hits):
        for row, score in ranked:
            ntok = doc_tokens[row]
            if ntok < ccfg.min_tokens or (ccfg.long_documents == "skip" and ntok > ccfg.max_tokens):
                stats["token_range"] += 1
                continue
            seen = best.setdefault(int(row), {})
            if q["label"] not in seen or score > seen[q["label"]]["score"]:
                seen[q["label"]] = {"doc_row": int(row), "label": q["label"], "score": float(score),
                                    "query_id": q["query_id"]}
    out = []
    for per_label in best.values():
        if len(per_label) > 1:
            stats["docs_with_several_labels"] += 1
            if conflicts == "drop":
                stats["label_conflict"] += 1
                continue
        out.append(max(per_label.values(), key=lambda h: h["score"]))
    return sorted(out, key=lambda h: (-h["score"], h["doc_row"])), stats


def cap_by_score(candidates: list[dict], cap: int) -> tuple[list[dict], int]:
    """At most `cap` candidates per label, the best-scoring ones (candidates come best first)."""
    taken, out = Counter(), []
    for c in candidates:
        if taken[c["label"]] < cap:
            taken[c["label"]] += 1
            out.append(c)
    return out, len(candidates) - len(out)


def split_by_agreement(rows: list[dict], probs, labels: list[str], min_keep: int = 0) -> tuple[list, list, int]:
    """(kept, dropped, rescued). Rows whose predicted label (argmax of `probs`) is their label are kept; a label
    left with fewer than `min_keep` rows also keeps its disagreeing rows with the highest probability of the label
    (`rescued` counts them). Every row gains `predicted` and `consistency_prob` (the probability of its label)."""
    col = {lab: i for i, lab in enumerate(labels)}
    scored = [{**r, "predicted": labels[int(p.argmax())], "consistency_prob": float(p[col[r["label"]]])}
              for r, p in zip(rows, probs)]
    keep = [r["predicted"] == r["label"] for r in scored]
    rescued = 0
    for lab in labels:
        mine = [i for i, r in enumerate(scored) if r["label"] == lab]
        short = min_keep - sum(keep[i] for i in mine)
        for i in sorted((i for i in mine if not keep[i]), key=lambda i: -scored[i]["consistency_prob"])[:max(0, short)]:
            keep[i], rescued = True, rescued + 1
    return [r for r, k in zip(scored, keep) if k], [r for r, k in zip(scored, keep) if not k], rescued


def consistency_probs(rows: list[dict], labels: list[str], cfg: Config, epochs: int, work: Path):
    """Class probabilities for `rows` from a classifier trained on them (filter.model, seeded by cfg.seed)."""
    from distill.checkpoint import clear_checkpoint
    from distill.fit import fit, predict_proba, resolve_device

    f = cfg.filter
    scfg = StudentConfig(name="regen-consistency", model=f.model, lr=f.lr, batch_size=f.batch_size, epochs=epochs,
                         max_length=f.max_length, seeds=[cfg.seed])
    model, tok, _, _ = fit(rows, labels, scfg, cfg.seed, work, tag="regen-consistency", progress=True)
    probs = predict_proba(model, tok, [r["text"] for r in rows], f.max_length, scfg.eval_batch_size,
                          resolve_device(scfg.device, scfg.bf16)[1])
    clear_checkpoint(Path(work) / "regen-consistency.pt")
    return probs


class ReGen(Method):
    name = "regen"
    title = "ReGen"
    Settings = Settings
    needs_index = True
    uses_teacher = False
    order = 40

    def key_parts(self, cfg: Config) -> dict:
        """Besides settings: the search settings and the consistency classifier (filter.model and its settings)."""
        return {**super().key_parts(cfg), "search": _pick(cfg.retriever, ("kind", "hnsw_ef_search", "ivf_nprobe")),
                "consistency_model": _pick(cfg.filter, ("model", "lr", "batch_size", "max_length"))}

    def synthesize(self, inp: Inputs) -> dict:
        return run_regen(inp.cfg, self.settings, inp.index, inp.out, inp.work)


def run_regen(cfg: Config, s: Settings, index: Path, out: Path, work: Path) -> dict:
    """The synthesize stage for ReGen: retrieved, pseudo-labelled, consistency-filtered documents."""
    import datasets

    from ..retrieval import load_retriever

    labels = list(cfg.dataset.labels)
    docs_per_query = s.docs_per_query or 2 * cfg.method.num_samples_per_label
    max_words = s.max_words or cfg.dataset.max_num_tokens
    queries = label_queries(cfg.dataset.labels, list(s.query_templates))
    retriever = load_retriever(cfg.retriever, index / "index")
    hits = retriever.search([q["text"] for q in queries], docs_per_query, seed=cfg.seed)
    doc_tokens = retriever.doc_table.column("num_tokens").to_pylist()
    candidates, drops = pseudo_label(queries, hits, doc_tokens, cfg.corpus, s.conflicts)
    candidates, drops["over_cap"] = cap_by_score(candidates, cfg.method.num_samples_per_label)
    corpus = datasets.load_from_disk(str(index / "corpus"))
    rows = []
    for c in candidates:
        doc = corpus[c["doc_row"]]
        rows.append({"text": shorten_words(doc["text"], max_words), "label": c["label"], "method": "regen",
                     "shots": 0, "doc_id": doc["doc_id"], "prompt_id": c["query_id"], "seed_id": None,
                     "retrieval_score": c["score"]})
    if not rows:
        raise DataError(f"ReGen retrieved no usable document for {len(queries)} label queries; check the corpus "
                        f"token range (corpus.min_tokens={cfg.corpus.min_tokens}) and method.settings.query_templates")
    kept, dropped, rescued = rows, [], 0
    if s.consistency_filter:
        probs = consistency_probs(rows, labels, cfg, s.filter_epochs, work)
        kept, dropped, rescued = split_by_agreement(rows, probs, labels, s.min_keep_per_label)
    drops["consistency"] = len(dropped)
    if not kept:
        raise DataError(f"the ReGen consistency filter dropped all {len(rows)} retrieved documents; raise "
                        f"method.settings.filter_epochs or method.num_samples_per_label")
    empty = [lab for lab in labels if not any(r["label"] == lab for r in kept)]
    if empty:
        log.warning("regen: no document kept for label(s) %s", ", ".join(empty))
    write_jsonl(out / "queries.jsonl", queries)
    write_jsonl(out / "synthetic.jsonl", kept)
    write_jsonl(out / "dropped.jsonl", dropped)
    figures = {"num_prompts": len(queries), "num_candidates": len(rows), "num_examples": len(kept),
               "per_label": dict(Counter(r["label"] for r in kept)),
               "candidates_per_label": dict(Counter(r["label"] for r in rows)), "drops": dict(drops),
               "kept_disagreeing_for_min_keep": rescued,
               "teacher": {"calls": 0}}
    atomic_write_json(out / "stats.json", figures)
    return figures
