from collections import Counter

from omegaconf import OmegaConf

from synthesizrr.core.config import CorpusConfig, GenerationConfig, MethodConfig, PromptConfig, RetrieverConfig
from synthesizrr.methods.builders import TokenTools
from synthesizrr.methods.fewgen import fewgen_prompts
from synthesizrr.methods.synthesizrr import synthesizrr_prompts
from synthesizrr.methods.inputs import band_inputs, cap_per_label
from synthesizrr.methods.parsing import clean, drop_reason
from synthesizrr.methods.prompts import shorten
from synthesizrr.core.config import DatasetConfig


def _obj(cls, **kw):
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), kw))


P = dict(document_header="News article:", synthesizrr_instruction="Summarize the above as {label_description}.",
         fewgen_instruction="Write a summary about {label_description}.", answer_prefix="Summary:",
         stop=["\n\n", "News article:"])
WORDS = TokenTools(lambda t: len(t.split()), lambda t, n: " ".join(t.split()[:n]), 4096)


def test_shorten_cuts_to_last_full_stop():
    text = "One two three. Four five six seven."
    assert shorten(text, 5, WORDS.truncate, WORDS.count) == "One two three."
    assert shorten(text, 50, WORDS.truncate, WORDS.count) == text


def test_clean_cuts_run_on_blocks_and_quotes():
    p = _obj(PromptConfig, **P)
    g = GenerationConfig()
    assert clean('Summary: "Markets rallied today."\n\nNews article:\nmore', p) == "Markets rallied today."
    assert clean("Sure, here is a summary: Stocks fell. Summary: another", p) == "Stocks fell."
    seen = set()
    assert drop_reason("Stocks fell sharply today", g, seen) is None
    assert drop_reason("stocks fell sharply, today!", g, seen) == "duplicate"
    assert drop_reason("I'm sorry, I cannot do that", g, seen) == "refusal"
    assert drop_reason("Too short", g, seen) == "too_short"


def _banding_case(icl_type="retrieved", dedup=True, kind="dense"):
    seeds = [{"id": "s0", "text": "seed zero", "label": "a"}, {"id": "s1", "text": "seed one", "label": "b"}]
    # rank 1, 2 = ICL candidates; later ranks = generation inputs
    hits = [[(0, 0.95), (1, 0.6), (2, 0.5), (3, 0.3), (4, 0.45)],
            [(5, 0.7), (6, 0.4), (2, 0.8), (7, 0.85), (8, 0.41)]]
    doc_ids = [f"d{i}" for i in range(9)]
    tokens = [100] * 9
    tokens[7] = 5  # too short
    r = _obj(RetrieverConfig, name="t", kind=kind, top_k=5, dedup=dedup)
    c = _obj(CorpusConfig, name="c")
    return band_inputs(seeds, hits, doc_ids, tokens, r, c, icl_type)


def test_retricl_bands_ranks_and_dedup():
    out = _banding_case()
    assert [d["doc_id"] for d in out["icl"]["a"]] == ["d1"]          # d0 above 0.9
    assert [d["doc_id"] for d in out["icl"]["b"]] == ["d5"]          # d6 below 0.5
    assert [g["doc_id"] for g in out["gen"]["a"]] == ["d2", "d4"]    # d3 below 0.4
    assert [g["doc_id"] for g in out["gen"]["b"]] == ["d8"]          # d2 deduped, d7 too short
    s = out["stats"]
    assert s["dedup_removed"] == 1 and s["skipped_token_range"] == 1 and s["icl_outside_band"] == 2
    assert [g["doc_id"] for g in _banding_case(dedup=False)["gen"]["b"]] == ["d2", "d8"]


def test_seed_icl_uses_all_ranks_and_random_has_no_filter():
    out = _banding_case(icl_type="seed")
    assert [d["seed_id"] for d in out["icl"]["a"]] == ["s0"]
    assert [g["doc_id"] for g in out["gen"]["a"]] == ["d1", "d2", "d4"]
    rnd = _banding_case(kind="random", dedup=False)
    assert len(rnd["gen"]["a"]) == 3 and len(rnd["gen"]["b"]) == 2  # d7 is below the token range
    bm25 = _banding_case(kind="bm25", dedup=False)  # unbounded scores: the cosine bands do not apply
    assert [g["doc_id"] for g in bm25["gen"]["a"]] == ["d2", "d3", "d4"]


def test_cap_per_label_is_seeded():
    gen = {"a": list(range(10))}
    assert cap_per_label(gen, 3, 1) == cap_per_label(gen, 3, 1)
    assert len(cap_per_label(gen, 3, 1)["a"]) == 3


def _dataset():
    return _obj(DatasetConfig, name="d", labels={"a": "topic A", "b": "topic B"}, prompts=P, max_num_tokens=50)


def test_fewgen_prompts_structure_seeded_and_shot_shortfall():
    seeds = [{"id": f"s{i}", "text": f"Seed text number {i}.", "label": "ab"[i % 2]} for i in range(8)]
    m = _obj(MethodConfig, name="fewgen", num_shots=3, num_samples_per_label=4)
    rows, stats = fewgen_prompts(_dataset(), m, seeds, WORDS, 50, seed=0)
    assert len(rows) == 8 and Counter(r.label for r in rows) == {"a": 4, "b": 4}
    first = rows[0].prompt
    assert first.count("Write a summary about topic A.") == 4 and first.endswith("Summary:")
    assert all(d in {"s0", "s2", "s4", "s6"} for d in rows[0].demo_ids) and len(rows[0].demo_ids) == 3
    again, _ = fewgen_prompts(_dataset(), m, seeds, WORDS, 50, seed=0)
    assert [r.prompt for r in again] == [r.prompt for r in rows]
    m5 = _obj(MethodConfig, name="fewgen", num_shots=5, num_samples_per_label=2)
    _, stats = fewgen_prompts(_dataset(), m5, seeds, WORDS, 50, seed=0)
    assert stats["prompts_with_fewer_shots"] == 4


def test_synthesizrr_prompts_exclude_own_seed_and_fit_context():
    banded = _banding_case()
    banded["icl"]["a"].append({"text": "other seed", "seed_id": "s9", "doc_row": 6, "doc_id": "d6", "score": 0.6})
    docs = {i: f"Document {i} body words here." for i in range(9)}
    m = _obj(MethodConfig, name="synthesizrr", num_shots=3, num_samples_per_label=10)
    c = _obj(CorpusConfig, name="c")
    rows, _ = synthesizrr_prompts(_dataset(), c, m, "retrieved", banded, docs.__getitem__, WORDS, 50, seed=0)
    a_rows = [r for r in rows if r.label == "a"]
    assert all(r.demo_ids == ["s9"] for r in a_rows)  # the seed's own demo (s0) is never used
    assert a_rows[0].prompt.startswith("News article:\nDocument 6")
    assert a_rows[0].prompt.endswith("Summarize the above as topic A.\nSummary:")
    tight = TokenTools(WORDS.count, WORDS.truncate, 50 + 32 + 16)
    rows, stats = synthesizrr_prompts(_dataset(), c, m, "retrieved", banded, docs.__getitem__, tight, 50, seed=0)
    assert stats["prompts_shortened"] >= 1
    assert all(tight.count(r.prompt) <= 16 for r in rows)


def test_feasible_total_agrees_with_the_sampler_rounding():
    from distill.sampling import match_distribution
    from synthesizrr.stages.filter import feasible_total

    target = {"a": 0.23, "b": 0.23, "c": 0.19, "d": 0.18, "e": 0.17}
    rows = [{"label": lab} for lab, n in zip("abcde", (2, 2, 2, 2, 2)) for _ in range(n)]
    assert feasible_total(rows, target, 10) == 10  # a gold sample already matched keeps its size
    few = [{"label": lab} for lab, n in zip("abcde", (1, 3, 3, 3, 3)) for _ in range(n)]
    total = feasible_total(few, target, 10)
    assert total == 5 and len(match_distribution(few, target, total, seed=0)) == total  # 6 needs two of a
