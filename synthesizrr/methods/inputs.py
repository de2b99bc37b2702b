"""From ranked retrieval results to RetrICL demonstrations and generation inputs (REFERENCE.md section 1.3).

For each seed (in seed order) and each rank k = 1..top_k:
- documents below the corpus token range are skipped (above it they are shortened later, or skipped);
- icl_type=retrieved: ranks in icl_ranks with similarity in icl_band become demonstrations (document, seed
  text); other ranks with similarity in gen_band become generation inputs;
- icl_type=seed: every seed is a demonstration; every rank in gen_band becomes a generation input;
- the random and BM25 retrievers have no similarity filter (bands are cosine similarities);
- with dedup on, a document already used as a generation input by an earlier seed is not used again.
"""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

from ..core.config import CorpusConfig, RetrieverConfig


def _in_band(score: float, band) -> bool:
    return band[0] <= score <= band[1]


def band_inputs(seeds: list[dict], hits: list[list[tuple[int, float]]], doc_ids: list[str],
                doc_tokens: list[int], rcfg: RetrieverConfig, ccfg: CorpusConfig, icl_type: str) -> dict:
    """Returns {"icl": {label: [demo]}, "gen": {label: [input]}, "stats": Counter}."""
    icl, gen, stats = defaultdict(list), defaultdict(list), Counter()
    used: set[int] = set()
    no_filter = rcfg.kind != "dense"  # bands are cosine similarities; BM25 scores are unbounded, random has none
    for seed, ranked in zip(seeds, hits):
        label = seed["label"]
        if icl_type == "seed":
            icl[label].append({"text": seed["text"], "seed_id": seed["id"], "doc_row": None})
        gen_for_seed = 0
        for rank, (row, score) in enumerate(ranked[: rcfg.top_k], start=1):
            ntok = doc_tokens[row]
            if ntok < ccfg.min_tokens or (ccfg.long_documents == "skip" and ntok > ccfg.max_tokens):
                stats["skipped_token_range"] += 1
                continue
            score = float("nan") if score is None else float(score)
            ok = lambda band: no_filter or (not math.isnan(score) and _in_band(score, band))
            item = {"doc_row": int(row), "doc_id": doc_ids[row], "rank": rank, "score": score,
                    "seed_id": seed["id"], "seed_text": seed["text"], "label": label}
            if icl_type == "retrieved" and rank in rcfg.icl_ranks:
                if ok(rcfg.icl_band):
                    icl[label].append({"text": seed["text"], "seed_id": seed["id"], "doc_row": int(row),
                                       "doc_id": doc_ids[row], "score": score})
                    stats["icl_demos"] += 1
                else:
                    stats["icl_outside_band"] += 1
                continue
            if not ok(rcfg.gen_band):
                stats["gen_outside_band"] += 1
                continue
            if rcfg.dedup and row in used:
                stats["dedup_removed"] += 1
                continue
            used.add(row)
            gen[label].append(item)
            gen_for_seed += 1
        if gen_for_seed == 0:
            stats["seeds_without_inputs"] += 1
    stats["gen_inputs"] = sum(len(v) for v in gen.values())
    return {"icl": dict(icl), "gen": dict(gen), "stats": stats}


def cap_per_label(gen: dict[str, list], cap: int, seed: int) -> dict[str, list]:
    """Shuffle each label's inputs (seeded) and keep at most `cap`."""
    out = {}
    for label, items in sorted(gen.items()):
        items = list(items)
        random.Random(f"{seed}:cap:{label}").shuffle(items)
        out[label] = items[:cap]
    return out
