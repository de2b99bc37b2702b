"""Prior-work methods (ZeroGen, AttrPrompt, ReGen): their pure parts on hand-written inputs, and end-to-end smoke
runs with the real offline models (SmolLM2 on llama.cpp, MiniLM retriever, filter model and student)."""
import json
from collections import Counter

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from synthesizrr.cli import CONF_DIR, run
from synthesizrr.core.config import ConfigError, validate
from synthesizrr.methods.base import load_method
from synthesizrr.methods.attrprompt import (attributed_prompts, attrprompt_prompts, normalize_attributes, parse_items,
                                            propose_attributes)
from synthesizrr.methods.regen import cap_by_score, label_queries, pseudo_label, split_by_agreement
from synthesizrr.methods.zerogen import zerogen_prompts
from synthesizrr.methods.teacher import row_seed
from synthesizrr.teachers import Completion

LABELS = ["business", "entertainment", "politics", "sport", "tech"]


def smoke_cfg(*overrides, tmp="unused"):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["experiment=smoke", f"store_dir={tmp}/store",
                                            f"results_dir={tmp}/results", "tracking=none", *overrides])


def read(path):
    return [json.loads(line) for line in path.open()]


# ---- ZeroGen ----------------------------------------------------------------------------------------------
def test_zerogen_prompts_have_no_demonstrations_and_distinct_sample_indices():
    cfg = validate(smoke_cfg("method=zerogen", "method.num_samples_per_label=4"))
    rows, stats = zerogen_prompts(cfg.dataset, cfg.method)
    assert len(rows) == 20 and stats["distinct_prompts"] == 5
    p = cfg.dataset.prompts
    for label, desc in cfg.dataset.labels.items():
        mine = [r for r in rows if r.label == label]
        assert [r.sample_index for r in mine] == [0, 1, 2, 3]
        assert len({r.prompt for r in mine}) == 1           # one prompt per label, sampled 4 times
        assert mine[0].prompt == p.fewgen_instruction.format(label_description=desc) + "\n" + p.answer_prefix
        assert all(r.num_shots == 0 and not r.demo_ids and r.doc_id is None for r in mine)
    seeds = [row_seed(cfg.seed, r) for r in rows]
    assert len(set(seeds)) == 20
    assert seeds[1] - seeds[0] == 1 and seeds[3] - seeds[0] == 3     # a label's samples: consecutive seeds (vLLM n>1)


# ---- AttrPrompt -------------------------------------------------------------------------------------------
def test_proposal_parsing_on_hand_written_teacher_outputs():
    listed = "Here are 4 attributes:\n1. **Subtopic**: what it is about\n2) Style - tone\n- length.\n* subtopic\n3. 42"
    items, drops = parse_items(listed, 4, 6)
    assert items == ["Subtopic", "Style", "length"]
    assert drops == {"lead_in": 1, "duplicate": 1, "no_letters": 1}
    # real SmolLM2-135M outputs: prose, not lists
    prose = ("Businesses, however, may have a more prominent focus on entertainment. The aforementioned text "
             "provides details about businesses, but the attributes list below differ, with regards to length.")
    assert parse_items(prose, 4, 6) == ([], {"too_long": 1})
    items, drops = parse_items("Length: short, medium and long, however", 5, 6, prefix="length")
    assert items == ["short", "medium and long"] and drops == {"filler": 1}
    assert parse_items("mergers\nearnings\nstartups\nbanks", 2, 6) == (["mergers", "earnings"], {"over_limit": 2})


def test_configured_attributes_shared_and_per_label():
    given = {"style": ["dry", "lively"], "sport": {"venue": ["stadium"], "style": ["breathless"]}}
    attrs = normalize_attributes(given, LABELS)
    assert attrs["business"] == {"style": ["dry", "lively"]}
    assert attrs["sport"] == {"style": ["breathless"], "venue": ["stadium"]}
    with pytest.raises(ConfigError, match="not a label"):
        normalize_attributes({"sprot": {"venue": ["x"]}}, LABELS)
    with pytest.raises(ConfigError, match="must be a list"):
        normalize_attributes({"style": "dry"}, LABELS)


def test_attributed_prompts_draw_one_value_per_dimension_seeded():
    cfg = validate(smoke_cfg("method=attrprompt", "method.num_samples_per_label=6"))
    attrs = normalize_attributes({"style": ["dry", "lively", "formal"], "place": ["London", "Paris", "Rome"]},
                                 LABELS)
    rows, _ = attributed_prompts(cfg.dataset, cfg.method, load_method(cfg.method).settings.template, attrs, seed=1)
    assert len(rows) == 30
    for r in rows:
        assert set(r.attributes) == {"style", "place"}
        assert f"style: {r.attributes['style']}; place: {r.attributes['place']}" in r.prompt
    again, _ = attributed_prompts(cfg.dataset, cfg.method, load_method(cfg.method).settings.template, attrs, seed=1)
    other, _ = attributed_prompts(cfg.dataset, cfg.method, load_method(cfg.method).settings.template, attrs, seed=2)
    assert [r.prompt for r in again] == [r.prompt for r in rows]
    assert [r.attributes for r in other] != [r.attributes for r in rows]
    assert len({tuple(r.attributes.values()) for r in rows}) > 3   # the draws vary across prompts


class ScriptedTeacher:
    """Answers by a keyword of the prompt: hand-written proposals for the parsing and fallback logic."""
    def __init__(self, answers):
        self.answers, self.prompts = answers, []

    def call_keys(self, requests):
        return [f"key-{i}" for i, _ in enumerate(requests)]

    def generate(self, requests, progress=False, desc=""):
        self.prompts += [r.prompt for r in requests]
        return [Completion(next((a for k, a in self.answers.items() if k in r.prompt), ""), 1, 1, False, "stop")
                for r in requests]


def test_proposals_fall_back_to_defaults_when_the_teacher_writes_junk():
    cfg = validate(smoke_cfg("method=attrprompt", "method.settings.num_dimensions=2"))
    teacher = ScriptedTeacher({   # the first key found in a prompt picks the answer
        "attributes in which": "Sure! Here they are:\n1. Subtopic\n2. Tone of the whole thing when read aloud at night",
        'tournaments and results.\nList 5 different values of the attribute "Subtopic"':
            "1. football\n2. tennis\n3. cricket",
        '"Subtopic"': "I think that this is a very good question to ask about texts.",
        '"style"': "1. dry\n2. lively",
    })
    rec = propose_attributes(cfg, load_method(cfg.method).settings, teacher)
    assert len(teacher.prompts) == 1 + 5 * 2              # dimensions, then (Subtopic, style) for every label
    assert len(rec["call_keys"]) == 11
    c = rec["counts"]
    assert c["dimensions_from_teacher"] == 1 and c["dimensions_from_defaults"] == 1   # 'style' topped up
    assert c["dimension_lines_lead_in"] == 1 and c["dimension_lines_too_long"] == 1
    assert rec["attributes"]["sport"] == {"Subtopic": ["football", "tennis", "cricket"], "style": ["dry", "lively"]}
    assert rec["sources"]["sport"] == {"Subtopic": "teacher", "style": "teacher"}
    assert c["dimensions_left_out"] == 4 and c["label_dimensions_from_defaults"] == 4   # junk subtopics
    assert rec["attributes"]["business"] == {"style": ["dry", "lively"], "length": ["very short", "short",
                                                                                   "medium-length"]}
    assert rec["sources"]["business"] == {"style": "teacher", "length": "default"}


def test_attrprompt_stage_output_records_attributes_draws_and_proposal_keys(tmp_path):
    cfg = validate(smoke_cfg("method=attrprompt", "method.settings.num_dimensions=1"))
    teacher = ScriptedTeacher({"attributes in which": "1. mood", '"mood"': "1. gloomy\n2. upbeat\n3. calm"})
    rows, stats = attrprompt_prompts(cfg, load_method(cfg.method).settings, teacher, tmp_path)
    assert len(rows) == 10 and stats["proposal_calls"] == 6
    assert (tmp_path / "call_keys.txt").read_text().split() == [f"key-{i}" for i in (0, 0, 1, 2, 3, 4)]
    saved = json.loads((tmp_path / "attributes.json").read_text())
    assert saved["attributes"]["tech"] == {"mood": ["gloomy", "upbeat", "calm"]}
    assert {p: d["mood"] for p, d in saved["assignments"].items()} == {r.prompt_id: r.attributes["mood"] for r in rows}
    assert all(f"mood: {r.attributes['mood']}." in r.prompt for r in rows)


# ---- ReGen ------------------------------------------------------------------------------------------------
class _Corpus:
    min_tokens, max_tokens, long_documents = 5, 100, "skip"


def test_regen_pseudo_labels_resolve_conflicts_and_cap():
    queries = label_queries({"a": "topic A", "b": "topic B"}, ["{label_description}", "news: {label}"])
    assert [q["text"] for q in queries] == ["topic A", "news: a", "topic B", "news: b"]
    hits = [[(0, 0.9), (1, 0.5)], [(1, 0.7), (2, 0.4)], [(1, 0.6), (3, 0.8)], [(0, 0.3), (4, 0.9)]]
    tokens = [10, 10, 10, 10, 200]                          # doc 4 is longer than the corpus range
    best, stats = pseudo_label(queries, hits, tokens, _Corpus, "best")
    assert [(c["doc_row"], c["label"], c["query_id"]) for c in best] == \
        [(0, "a", "regen-a-q0"), (3, "b", "regen-b-q0"), (1, "a", "regen-a-q1"), (2, "a", "regen-a-q1")]
    assert stats == {"token_range": 1, "docs_with_several_labels": 2}
    dropped, stats = pseudo_label(queries, hits, tokens, _Corpus, "drop")
    assert [c["doc_row"] for c in dropped] == [3, 2] and stats["label_conflict"] == 2
    capped, over = cap_by_score(best, 2)
    assert [c["doc_row"] for c in capped] == [0, 3, 1] and over == 1


def test_consistency_split_keeps_agreeing_rows_and_a_minimum_per_label():
    rows = [{"text": str(i), "label": lab} for i, lab in enumerate("aabbc")]
    probs = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .8, .1], [.6, .3, .1], [.5, .1, .4]])
    kept, dropped, rescued = split_by_agreement(rows, probs, ["a", "b", "c"], min_keep=0)
    assert [r["text"] for r in kept] == ["0", "2"] and rescued == 0
    assert [(r["text"], r["predicted"]) for r in dropped] == [("1", "b"), ("3", "a"), ("4", "a")]
    kept, dropped, rescued = split_by_agreement(rows, probs, ["a", "b", "c"], min_keep=1)
    assert [r["text"] for r in kept] == ["0", "2", "4"] and rescued == 1 and len(dropped) == 2


# ---- end to end on the smoke experiment -------------------------------------------------------------------
ATTRS = "method.settings.attributes={style:[dry,lively,formal],place:[London,Paris]}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    tmp = tmp_path_factory.mktemp("prior")
    out = {"tmp": tmp}
    for name, extra in (("zerogen", []), ("attrprompt", [ATTRS]), ("regen", ["method.num_samples_per_label=4"])):
        out[name] = run(smoke_cfg(f"method={name}", *extra, tmp=tmp))
    out["regen_again"] = run(smoke_cfg("method=regen", "method.num_samples_per_label=4", tmp=tmp))
    return out


def stage_file(runs, name, stage, file):
    return runs["tmp"] / "store" / stage / runs[name]["stages"][stage]["key"] / file


@pytest.mark.slow
def test_zerogen_end_to_end(runs):
    s = runs["zerogen"]
    assert "index" not in s["stages"] and s["synthesize"]["num_prompts"] == 10
    assert s["teacher_session"]["calls"] == 10             # two samples of each identical prompt: distinct calls
    rows = read(stage_file(runs, "zerogen", "synthesize", "synthetic.jsonl"))
    assert rows and all(r["method"] == "zerogen" and r["shots"] == 0 and r["doc_id"] is None for r in rows)
    assert all(r["prompt_id"].startswith(f"zerogen-{r['label']}-") for r in rows)
    assert 0.0 <= s["distill"]["accuracy_mean"] <= 1.0


@pytest.mark.slow
def test_attrprompt_end_to_end_uses_configured_attributes(runs):
    s = runs["attrprompt"]
    assert s["teacher_session"]["calls"] == 10             # no proposal call: the attributes are configured
    saved = json.loads(stage_file(runs, "attrprompt", "synthesize", "attributes.json").read_text())
    assert saved["sources"]["tech"] == {"style": "config", "place": "config"} and not saved["proposals"]
    prompts = read(stage_file(runs, "attrprompt", "synthesize", "prompts.jsonl"))
    for p in prompts:
        drawn = saved["assignments"][p["prompt_id"]]
        assert drawn["style"] in ("dry", "lively", "formal") and drawn["place"] in ("London", "Paris")
        assert f"style: {drawn['style']}; place: {drawn['place']}" in p["prompt"]
    assert len(stage_file(runs, "attrprompt", "synthesize", "call_keys.txt").read_text().split()) == 10
    rows = read(stage_file(runs, "attrprompt", "synthesize", "synthetic.jsonl"))
    assert rows and all(r["method"] == "attrprompt" and r["prompt_id"].startswith("attrprompt-") for r in rows)


@pytest.mark.slow
def test_regen_end_to_end_filters_consistently_without_a_teacher(runs):
    s = runs["regen"]
    assert "teacher_session" not in s                      # the teacher is never loaded
    assert "index" in s["stages"] and "retrieve" not in s["stages"]
    syn = s["synthesize"]
    kept = read(stage_file(runs, "regen", "synthesize", "synthetic.jsonl"))
    dropped = read(stage_file(runs, "regen", "synthesize", "dropped.jsonl"))
    assert len(kept) + len(dropped) == syn["num_candidates"] and syn["drops"]["consistency"] == len(dropped)
    assert all(r["predicted"] != r["label"] for r in dropped)
    disagreeing = sum(r["predicted"] != r["label"] for r in kept)
    assert disagreeing == syn["kept_disagreeing_for_min_keep"]
    assert set(Counter(r["label"] for r in kept)) == set(syn["candidates_per_label"])   # min_keep_per_label=1
    assert all(r["method"] == "regen" and r["doc_id"] and r["prompt_id"].startswith(f"regen-{r['label']}-q")
               for r in kept)
    assert all(len(r["text"].split()) <= 24 for r in kept)  # shortened to dataset.max_num_tokens words
    assert all(v["cached"] for v in runs["regen_again"]["stages"].values())


@pytest.mark.slow
def test_prior_work_rows_reach_the_report(runs):
    table = (runs["tmp"] / "results" / "smoke" / "table.md").read_text()
    for row in ("ZeroGen", "AttrPrompt", "ReGen"):
        assert row in table


def test_prior_work_experiment_sweeps_every_method():
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=prior_work_offline"], return_hydra_config=True)
    methods = cfg.hydra.sweeper.params["method"].split(",")
    assert methods == ["gold", "fewgen", "synthesizrr", "zerogen", "attrprompt", "regen"]
    for m in methods:
        assert validate(smoke_cfg(f"method={m}")).method.name == m
