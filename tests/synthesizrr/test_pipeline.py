"""End-to-end runs of the tiny `smoke` experiment with the real offline models (SmolLM2 on llama.cpp,
MiniLM retriever and student, spaCy small): caching, partial recompute, sharing, call cache, report."""
import json
import shutil

import pytest
from hydra import compose, initialize_config_dir

from synthesizrr.cli import CONF_DIR, run

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow


def smoke(tmp, *overrides):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=smoke", f"store_dir={tmp}/store",
                                            f"results_dir={tmp}/results", "tracking=none", *overrides])
    return run(cfg)


def cached(summary):
    return {name: s["cached"] for name, s in summary["stages"].items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipe")
    out = {"tmp": tmp}
    out["synth"] = smoke(tmp, "method=synthesizrr")
    out["synth_again"] = smoke(tmp, "method=synthesizrr")
    out["synth_upto"] = smoke(tmp, "method=synthesizrr", "stage=synthesize")
    out["synth_1shot"] = smoke(tmp, "method=synthesizrr", "method.num_shots=1")
    lp = ["metrics.label_preservation=true", "metrics.oracle_max_train=60"]
    out["fewgen"] = smoke(tmp, "method=fewgen", "method.num_shots=2", *lp)
    out["gold"] = smoke(tmp, "method=gold", *lp)
    out["prompt"] = smoke(tmp, "method=synthesizrr",
                          "dataset.prompts.synthesizrr_instruction='Write one sentence on the above: {label_description}.'")
    out["metric"] = smoke(tmp, "method=synthesizrr", "metrics.mauve_num_buckets=3")
    out["lr"] = smoke(tmp, "method=synthesizrr", "student.lr=1e-4")
    out["forced"] = smoke(tmp, "method=synthesizrr", "force=evaluate")
    return out


def test_first_run_computes_every_stage(runs):
    s = runs["synth"]
    assert set(s["stages"]) == {"prepare", "index", "retrieve", "synthesize", "filter", "distill", "evaluate"}
    assert not any(cached(s).values())
    assert s["synthesize"]["num_examples"] > 0
    assert s["synthesize"]["num_prompts"] == 10  # 2 prompts x 5 labels
    assert 0.0 <= s["distill"]["accuracy_mean"] <= 1.0
    for key in ("self_bleu_5", "entity_entropy_log2", "mauve", "distinct_2"):
        assert key in s["evaluate"]


def test_rerun_with_same_config_does_no_work(runs):
    assert all(cached(runs["synth_again"]).values())
    assert "teacher_session" not in runs["synth_again"]  # the teacher is never even loaded


def test_override_recomputes_only_downstream_stages(runs):
    c = cached(runs["synth_1shot"])
    assert c["prepare"] and c["index"] and c["retrieve"]
    assert not c["synthesize"] and not c["filter"] and not c["distill"] and not c["evaluate"]
    keys = lambda s: {k: v["key"] for k, v in s["stages"].items()}
    assert keys(runs["synth_1shot"])["retrieve"] == keys(runs["synth"])["retrieve"]


@pytest.mark.parametrize("run,recomputed", [
    ("prompt", {"synthesize", "filter", "distill", "evaluate"}),   # new examples: everything after them
    ("metric", {"evaluate"}),
    ("lr", {"distill"}),
    ("forced", {"evaluate"}),
])
def test_a_change_recomputes_exactly_what_depends_on_it(runs, run, recomputed):
    assert {name for name, hit in cached(runs[run]).items() if not hit} == recomputed


def test_a_stage_recomputed_with_other_content_recomputes_what_follows(runs):
    """The same synthesize key holding other examples (e.g. failed calls completed since) must not let filter,
    distill and evaluate serve results of the old examples."""
    from synthesizrr.core.store import DONE, atomic_write_json, content_fingerprint, read_json

    tmp = runs["tmp"]
    stage = tmp / "store" / "synthesize" / runs["synth"]["stages"]["synthesize"]["key"]
    rows = [json.loads(line) for line in (stage / "synthetic.jsonl").read_text().splitlines()]
    edited = [{**r, "text": r["text"] + " (edited)"} for r in rows[:-1]]     # every example the filter may keep
    (stage / "synthetic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edited))
    meta = read_json(stage / DONE)
    atomic_write_json(stage / DONE, {**meta, "content": content_fingerprint(stage, ["synthetic.jsonl"], "")})
    again = runs["edited"] = smoke(tmp, "method=synthesizrr")
    c = cached(again)
    assert c["synthesize"] and not c["filter"] and not c["distill"] and not c["evaluate"]
    assert again["filter"]["num_input"] == len(rows) - 1
    final = tmp / "store" / "filter" / again["stages"]["filter"]["key"] / "final.jsonl"
    assert all(json.loads(line)["text"].endswith(" (edited)") for line in final.read_text().splitlines())


def test_methods_share_prepare_and_skip_retrieval_when_unused(runs):
    for name in ("fewgen", "gold"):
        s = runs[name]
        assert s["stages"]["prepare"]["cached"]
        assert "index" not in s["stages"] and "retrieve" not in s["stages"]
    assert runs["gold"]["filter"]["num_final"] == 10  # filter.num_samples defaults to prompts per label x labels


def test_teacher_call_cache_survives_a_lost_stage(runs):
    tmp = runs["tmp"]
    key = runs["synth"]["stages"]["synthesize"]["key"]
    shutil.rmtree(tmp / "store" / "synthesize" / key)
    again = smoke(tmp, "method=synthesizrr")
    assert not again["stages"]["synthesize"]["cached"]
    assert again["teacher_session"]["calls"] == 0
    assert again["teacher_session"]["cache_hits"] == 10
    first = (tmp / "store" / "synthesize" / key / "synthetic.jsonl").read_text()
    assert first  # same key, same examples
    assert again["synthesize"]["num_examples"] == runs["synth"]["synthesize"]["num_examples"]


def test_synthetic_records_carry_provenance(runs):
    key = runs["synth"]["stages"]["synthesize"]["key"]
    rows = [json.loads(l) for l in (runs["tmp"] / "store" / "synthesize" / key / "synthetic.jsonl").open()]
    assert rows and all(r["doc_id"] and r["prompt_id"] and r["method"] == "synthesizrr" for r in rows)
    assert all(r["label"] in {"business", "entertainment", "politics", "sport", "tech"} for r in rows)


def test_report_collects_every_row(runs):
    out = runs["tmp"] / "results" / "smoke"
    table = (out / "table.md").read_text()
    for row in ("Gold", "FewGen 2-shot", "SynthesizRR RetrICL 3-shot", "SynthesizRR RetrICL 1-shot"):
        assert row in table
    assert (out / "metrics.png").stat().st_size > 1000
    assert (out / "shots_sweep.png").exists()  # RetrICL ran with 1 and 3 shots
    assert "\\begin{tabular}" in (out / "table.tex").read_text()
    # one record per setting: a rerun with the same keys (force=evaluate) replaces its record, and one with other
    # keys (the edited examples) moves the older record to superseded/
    from synthesizrr.report import _setting
    keys = {tuple(sorted((k, v["key"]) for k, v in r["stages"].items()))
            for r in runs.values() if isinstance(r, dict) and "evaluate" in r.get("stages", {})}
    settings = [json.dumps(_setting(json.loads(p.read_text())), sort_keys=True) for p in (out / "runs").glob("*.json")]
    assert len(keys) == 8 and len(settings) == len(set(settings)) == 7
    assert list((out / "superseded" / "runs").glob("*.json"))


def test_label_preservation_oracle_is_trained_once_per_dataset(runs):
    assert runs["fewgen"]["stages"]["oracle"]["cached"] is False
    assert runs["gold"]["stages"]["oracle"]["cached"] is True
    for name in ("fewgen", "gold"):
        assert 0.0 <= runs[name]["evaluate"]["label_preservation"] <= 1.0
    assert "Label preservation" in (runs["tmp"] / "results" / "smoke" / "table.md").read_text()


def test_stage_option_stops_after_that_stage(runs):
    s = runs["synth_upto"]
    assert set(s["stages"]) == {"prepare", "index", "retrieve", "synthesize"}
    assert s["synthesize"]["num_prompts"] == 10 and "distill" not in s and "report_dir" not in s


def test_a_rerun_replaces_the_row_of_the_same_config_made_with_other_stage_keys(runs, caplog):
    """A row of the same config from another machine (other texts, so other keys from filter on) moves to
    superseded/ when the config runs again here, instead of showing as a second, unlabelled row."""
    out = runs["tmp"] / "results" / "smoke"
    mine = next(p for p in (out / "runs").glob("*SynthesizRR_RetrICL_3-shot*.json")
                if json.loads(p.read_text())["config"]["student"]["lr"] != 1e-4
                and json.loads(p.read_text())["config"]["metrics"]["mauve_num_buckets"] != 3
                and "Write one sentence" not in p.read_text())
    other = json.loads(mine.read_text())
    other["stage_keys"] = {**other["stage_keys"], "filter": "elsewhere"}
    other["machine"] = {"cpu": "Other CPU", "simd": "avx512", "gpus": [], "packages": {}}
    planted = out / "runs" / "planted_elsewhere.json"
    planted.write_text(json.dumps(other))
    (out / "samples" / "planted_elsewhere.jsonl").write_text("{}\n")
    before = len(list((out / "runs").glob("*.json")))
    again = smoke(runs["tmp"], "method=synthesizrr")
    assert all(cached(again).values())
    assert not planted.exists() and len(list((out / "runs").glob("*.json"))) == before - 1
    assert (out / "superseded" / "runs" / "planted_elsewhere.json").exists()
    assert (out / "superseded" / "samples" / "planted_elsewhere.jsonl").exists()
    assert "Other CPU" in caplog.text and "superseded" in caplog.text
    rec = json.loads(mine.read_text())
    assert rec["machine"]["cpu"] and "torch" in rec["machine"]["packages"]
