"""The stand-in hub: every hub id that conf/ names resolves offline through the project's own loaders (run in one
subprocess with the stand-in's environment: standin_probe.py), and an id without a builder fails here."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from synthesizrr.testing import standin_hub as sh

PROBE = Path(__file__).with_name("standin_probe.py")
HUB_DATASET_CONFIGS = sorted(rel.removeprefix("dataset/").removesuffix(".yaml")
                             for files in sh.conf_dataset_ids().values() for rel in files if rel.startswith("dataset/"))


@pytest.fixture(scope="module")
def probe(standin_hub) -> dict:
    """check name -> result line of standin_probe.py, run once with the stand-in environment."""
    env = {**os.environ, **standin_hub.env(), "WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(PROBE)], env=env, cwd=sh.REPO, capture_output=True, text=True,
                          timeout=300)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            results[json.loads(line)["check"]] = json.loads(line)
    assert results, f"standin_probe.py printed no result (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return results


def _failures(results) -> str:
    return "\n".join(f"{r['check']}: {r['error']}\n{r['traceback']}" for r in results if not r["ok"])


def test_every_hub_id_in_conf_has_a_builder():
    missing = sh.missing_builders()
    assert not missing, (f"hub ids named in conf/ without a stand-in: {missing}; add them to MODELS or DATASETS "
                         f"in synthesizrr/testing/standin_hub.py")
    assert set(sh.conf_model_ids()) == set(sh.MODELS), "MODELS holds ids that conf/ no longer names"


def test_a_new_hub_id_without_builder_is_reported(tmp_path):
    for rel, text in {"student/new.yaml": "model: someorg/new-student\n",
                      "teacher/api.yaml": "backend: openai\nmodel: gpt-9\n",
                      "teacher/gguf.yaml": "backend: llamacpp\nmodel: ???\n",
                      "retriever/off.yaml": "model: offline:minilm\n",
                      "experiment/x.yaml": "teacher:\n  backend: hf\n  model: someorg/new-teacher\n",
                      "metrics/m.yaml": "mauve_featurizer: gpt2-xl\nembedding_model: offline:minilm\n",
                      "dataset/new.yaml": "source: hub\npath: someorg/new-set\n",
                      "dataset/local.yaml": "source: local\npath: somewhere\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert set(sh.conf_model_ids(tmp_path)) == {"someorg/new-student", "someorg/new-teacher", "gpt2-xl"}
    assert sh.missing_builders(tmp_path) == ["someorg/new-student", "someorg/new-teacher", "someorg/new-set"]


def test_hub_cache_layout_and_reuse(standin_hub):
    start = time.perf_counter()
    assert sh.standin_hub().root == standin_hub.root and time.perf_counter() - start < 5   # cached, not rebuilt
    hub = standin_hub.hf_home / "hub"
    for repo_id, kind in [*((m, "models") for m in sh.MODELS), *((d, "datasets") for d in sh.DATASETS)]:
        repo = hub / f"{kind}--{repo_id.replace('/', '--')}"
        commit = (repo / "refs" / "main").read_text()
        assert commit == sh.commit_of(repo_id) and (repo / "snapshots" / commit).is_dir(), repo
    deberta = hub / "models--microsoft--deberta-v3-large" / "snapshots" / sh.commit_of("microsoft/deberta-v3-large")
    # as the real repo: no tokenizer.json, so AutoTokenizer converts spm.model (needs sentencepiece and protobuf)
    assert sorted(p.name for p in deberta.iterdir()) == ["config.json", "pytorch_model.bin", "spm.model",
                                                          "tokenizer_config.json"]
    assert set(standin_hub.env()) >= {"HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                                      "PYTHONPATH"}


@pytest.mark.parametrize("hub_id", sorted(sh.conf_model_ids()))
def test_model_loads_offline_through_the_project_loader(probe, hub_id):
    results = [r for name, r in probe.items() if name.startswith(f"model:{hub_id}:")]
    assert not _failures(results), _failures(results)
    assert any("skipped" not in r["info"] for r in results), f"no project loader checked {hub_id}: {results}"


def test_llama_teacher_generates_through_the_hf_backend(probe):
    info = probe["model:TheBloke/Llama-2-13B-Chat-fp16:teacher/llama2_13b_chat_hf.yaml"]["info"]
    assert info["tokenizer"].startswith("LlamaTokenizer") and all(1 <= n <= 4 for n in info["tokens_out"])


def test_deberta_v3_student_uses_the_spm_tokenizer(probe):
    for size in ("large", "base"):
        info = probe[f"model:microsoft/deberta-v3-{size}:student/deberta_v3_{size}.yaml"]["info"]
        assert info["model"] == "DebertaV2ForSequenceClassification" and info["tokenizer"].startswith("DebertaV2")
        assert info["ids"][0] == 1   # [CLS] is piece 1 of spm.model, as in the real vocabulary


@pytest.mark.parametrize("name", HUB_DATASET_CONFIGS)
def test_hub_dataset_loads_offline_through_load_splits(probe, name):
    result = probe[f"dataset:{name}"]
    assert result["ok"], _failures([result])
    conf = yaml.safe_load((sh.CONF / "dataset" / f"{name}.yaml").read_text())
    labels = sorted(conf["labels"])
    splits = {k: v for k, v in result["info"].items() if k != "hub_id"}
    assert {"train", "test"} <= set(splits)
    assert all(s["rows"] >= 2 * len(labels) and s["labels"] == labels for s in splits.values()), splits
    assert splits["train"]["rows"] >= conf.get("seed_size_per_label", 50) * len(labels)   # paper seed sets fit


@pytest.mark.parametrize("repo_id", sorted(sh.DATASETS))
def test_dataset_rows_without_shared_data_come_from_bbc(tmp_path, repo_id):
    from datasets import Dataset

    spec = sh.DATASETS[repo_id]
    for split in spec.splits:
        rows = spec.rows(split, tmp_path / "no-shared-data")
        labels = {r["label"] for r in rows}
        assert len(Dataset.from_list(rows, features=sh._features(spec))) == len(rows) >= 2 * sh.SIZES[split]
        assert len(labels) >= 2 or labels == {-1}, (split, labels)   # -1: unlabelled splits, as on the hub


def test_spacy_en_core_web_lg_loads(probe):
    result = probe["spacy:en_core_web_lg"]
    assert result["ok"], _failures([result])
    assert result["info"]["meta_name"] == "core_web_lg" and "ner" in result["info"]["pipeline"]
