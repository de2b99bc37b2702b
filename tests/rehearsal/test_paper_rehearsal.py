"""`synthesizrr experiment=paper_<dataset>` end to end on the stand-in hub, every stage with the paper's models:
Contriever retrieval, RetrICL and FewGen prompts, LLaMa-2 through the hf teacher, DistilBERT cartography, the
DeBERTa-v3 student over 5 seeds, gpt2-xl MAUVE features, the en_core_web_lg NER, report and export. What a
researcher would otherwise meet hours into a GPU job fails here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, SMALL, hub_env, records, synthesizrr

pytestmark = pytest.mark.slow

ROWS = {"Gold", "FewGen 32-shot", "SynthesizRR RetrICL 3-shot"}
HUB_IDS = {("retriever", "model"): "facebook/contriever", ("teacher", "model"): "TheBloke/Llama-2-13B-Chat-fp16",
           ("filter", "model"): "distilbert-base-uncased", ("student", "model"): "microsoft/deberta-v3-large",
           ("metrics", "mauve_featurizer"): "gpt2-xl",
           ("metrics", "embedding_model"): "sentence-transformers/all-mpnet-base-v2"}


def rehearse(standin_hub, corpus_root, tmp, experiment: str, *extra: str) -> dict:
    args = [f"experiment={experiment}", "teacher=llama2_13b_chat_hf", "method=gold,fewgen,synthesizrr",
            f"corpus_root={corpus_root}", f"store_dir={tmp}/store", f"results_dir={tmp}/results",
            f"hydra.sweep.dir={tmp}/multirun", *SMALL, *extra]
    proc = synthesizrr(args, hub_env(standin_hub), REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return records(tmp / "results" / experiment)


def check_paper_path(recs: dict, tmp) -> None:
    assert set(recs) == ROWS
    for name, rec in recs.items():
        cfg = rec["config"]
        for (section, key), hub_id in HUB_IDS.items():    # the hub ids, never an offline stand-in by accident
            assert cfg[section][key] == hub_id, (name, section, key)
        assert cfg["teacher"]["backend"] == "hf" and cfg["retriever"]["kind"] == "dense"
        assert rec["spacy_model"] == "en_core_web_lg", f"{name}: NER fell back to {rec['spacy_model']}"
        assert rec["num_student_seeds"] == 5 and rec["accuracy"] is not None and rec["mauve"] is not None
        assert rec["num_final"] >= 1 and rec["entity_entropy_log2"] is not None
        results = json.loads((tmp / "store" / "distill" / rec["stage_keys"]["distill"] / "results.json").read_text())
        assert len(results["per_seed"]) == 5 and results["model"] == "microsoft/deberta-v3-large"
    for name in ROWS - {"Gold"}:
        syn = recs[name]
        assert syn["num_prompts"] >= 4 and syn["teacher_stats"]["failures"] == 0, syn["teacher_stats"]
    assert recs["SynthesizRR RetrICL 3-shot"]["stage_keys"].keys() >= {"index", "retrieve"}


def check_report_and_export(recs: dict, tmp, experiment: str, standin_hub) -> None:
    table = (tmp / "results" / experiment / "table.md").read_text()
    assert all(f"| {row} |" in table for row in ROWS), table
    record = next((tmp / "results" / experiment / "runs").glob("*RetrICL*.json"))
    out = tmp / "export"
    export = Path(sys.executable).parent / "synthesizrr-export"     # the console script, as a user runs it
    proc = subprocess.run([str(export), str(record), "--out", str(out)], env=hub_env(standin_hub), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = (out / "train.jsonl").read_text().splitlines()
    assert len(rows) == recs["SynthesizRR RetrICL 3-shot"]["num_final"]
    assert "TheBloke/Llama-2-13B-Chat-fp16" in (out / "README.md").read_text()


def test_paper_ag_news_rehearsal(standin_hub, corpus_root, tmp_path):
    recs = rehearse(standin_hub, corpus_root, tmp_path, "paper_ag_news", "dataset.max_num_tokens=24",
                    "student.max_length=64")
    check_paper_path(recs, tmp_path)
    check_report_and_export(recs, tmp_path, "paper_ag_news", standin_hub)


def test_paper_hyperpartisan_rehearsal_with_long_texts(standin_hub, corpus_root, tmp_path):
    """Hyperpartisan keeps its long texts (ICL examples up to 600 tokens, 32 shots overflow the 4k context and are
    fitted), the student reads 512 tokens."""
    recs = rehearse(standin_hub, corpus_root, tmp_path, "paper_hyperpartisan", "student.max_length=512",
                    "corpus.max_tokens=400", "dataset.max_test_examples=8")
    check_paper_path(recs, tmp_path)
    fewgen = recs["FewGen 32-shot"]
    assert fewgen["teacher_stats"]["tokens_in"] / fewgen["num_prompts"] > 1000   # long prompts really were sent
