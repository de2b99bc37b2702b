"""`synthesizrr ... preflight=true` on the stand-in hub: it passes for the paper config, and names what blocks
(a model missing from the cache, a missing extra, a stage that does not fit the GPU) before any work."""
import re

import pytest

from synthesizrr.preflight import sweep_points
from synthesizrr.preflight_plan import counts

from .conftest import REPO, hub_env, synthesizrr

HUB_MODELS = ("facebook/contriever", "TheBloke/Llama-2-13B-Chat-fp16", "distilbert-base-uncased",
              "microsoft/deberta-v3-large", "gpt2-xl", "sentence-transformers/all-mpnet-base-v2")


def preflight(env, corpus_root, tmp, *extra):
    args = ["experiment=paper_ag_news", f"corpus_root={corpus_root}", f"store_dir={tmp}/store",
            f"results_dir={tmp}/results", "preflight=true", *extra]
    return synthesizrr(args, env, REPO, timeout=300)


def status(stdout: str, kind: str, item: str) -> str:
    row = next(line for line in stdout.splitlines() if re.match(rf"\| {kind} +\| {re.escape(item)} +\|", line))
    return row.split("|")[4].strip()


def without(hub, repo_id: str, tmp) -> dict:
    """The stand-in's environment with one model repo gone: a copy of HF_HOME made of links, minus that repo."""
    home = tmp / "hf_home"
    (home / "hub").mkdir(parents=True)
    for repo in (hub.hf_home / "hub").iterdir():
        if repo.name != f"models--{repo_id.replace('/', '--')}":
            (home / "hub" / repo.name).symlink_to(repo)
    (home / "datasets").symlink_to(hub.hf_home / "datasets")
    return hub_env(hub, HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"), HF_DATASETS_CACHE=str(home / "datasets"))


@pytest.mark.slow
def test_preflight_passes_for_the_standin_paper_config(standin_hub, corpus_root, tmp_path):
    proc = preflight(hub_env(standin_hub), corpus_root, tmp_path, "teacher=llama2_13b_chat_hf")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "9 sweep point(s)" in out and out.rstrip().endswith("preflight: nothing blocks")
    for hub_id in HUB_MODELS:
        assert status(out, "model", hub_id) == "cached", hub_id
    assert status(out, "dataset", "zapsdcn/ag") == "cached" and status(out, "spacy", "en_core_web_lg") == "installed"
    assert status(out, "extra", "sentencepiece, protobuf") == "installed"
    assert status(out, "counts", "method=fewgen") == "ok" and status(out, "disk", "index realnews_dominant") == "fits"
    for stage in ("index", "synthesize", "filter", "distill", "evaluate"):
        assert status(out, "gpu", stage) in ("cpu", "fits"), stage
    assert not (tmp_path / "store").exists() and not (tmp_path / "results").exists()   # no work was done


@pytest.mark.slow
def test_preflight_names_a_model_missing_from_the_cache(standin_hub, corpus_root, tmp_path):
    proc = preflight(without(standin_hub, "facebook/contriever", tmp_path), corpus_root, tmp_path,
                     "teacher=llama2_13b_chat_hf")
    assert proc.returncode == 1
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("synthesizrr: preflight:")]
    assert line.startswith("synthesizrr: preflight: model facebook/contriever (retriever): missing:")
    assert "HF_HUB_OFFLINE=1" in line and line.endswith("fix: hf download facebook/contriever")


@pytest.mark.slow
def test_preflight_names_a_missing_extra_and_a_stage_too_big_for_the_gpu(standin_hub, corpus_root, tmp_path):
    pytest.importorskip("torch")
    if __import__("importlib").util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here: the missing-extra case cannot be shown")
    env = hub_env(standin_hub, SYNTHESIZRR_FAKE_GPU_MEM_GB="0.1")   # 100 MB: cartography at 32 × 512 needs ~0.4 GB
    proc = preflight(env, corpus_root, tmp_path)                     # the paper's teacher: vLLM
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("synthesizrr: preflight:")]
    assert any(ln.startswith("synthesizrr: preflight: extra vllm (teacher): missing") and
               ln.endswith("fix: pip install 'synthesizrr[vllm]'") for ln in lines), lines
    assert any(ln.startswith("synthesizrr: preflight: gpu filter ") and "does not fit" in ln for ln in lines), lines
    assert len(lines) == 2, lines
    assert status(proc.stdout, "gpu", "distill") == "fits" and status(proc.stdout, "gpu", "synthesize") == "fits"


def test_sweep_points_combine_command_line_sweeps_and_the_experiment_rows():
    points, _ = sweep_points(["experiment=paper_ag_news", "method=gold,fewgen", "seed=1,2"])
    assert [p.label for p in points] == ["method=gold seed=1", "method=gold seed=2", "method=fewgen seed=1",
                                         "method=fewgen seed=2"]
    assert [p.cfg.seed for p in points] == [1, 2, 1, 2] and points[2].method.name == "fewgen"
    rows, _ = sweep_points(["experiment=paper_ag_news"])             # the experiment's own nine rows
    assert len(rows) == 9 and rows[-1].label == "method=regen"
    [single] = sweep_points(["experiment=smoke", "method=fewgen"])[0]
    assert single.label == "single run"


def test_counts_follow_the_config():
    points, _ = sweep_points(["experiment=paper_ag_news", "method=gold,fewgen,synthesizrr", "teacher=openai",
                              "teacher.price_per_1m_input=1", "teacher.price_per_1m_output=2"])
    gold, fewgen, synth = (counts(p.cfg, p.method) for p in points)
    assert gold["prompts"] == 0 and gold["final"] == int(0.83 * 8000)
    assert fewgen["prompts"] == 4 * 3000 and fewgen["new_tokens"] == 4 * 3000 * 200
    assert synth["prompts"] == 4 * min(3000, 50 * 50)                # the retrieval bound: seeds x top_k per label
    assert fewgen["cost"] == pytest.approx((fewgen["prompt_tokens"] * 1 + fewgen["new_tokens"] * 2) / 1e6)
    assert fewgen["how"].startswith("≈")                          # an API model: the 4-characters approximation
