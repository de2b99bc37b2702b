"""The paper's default teacher, LLaMa-2 on the vLLM engine, in the rehearsal's run shape through a stand-in `vllm`
(fake_vllm/: real stand-in tokenizer, an event log): the engine is shut down and torn down after synthesize,
before the filter stage starts, in every sweep point."""
import json

import pytest

from .conftest import HERE, REPO, SMALL, hub_env, synthesizrr

pytestmark = pytest.mark.slow


def test_vllm_engine_is_released_before_the_next_stage(standin_hub, corpus_root, tmp_path):
    events = tmp_path / "vllm_events.jsonl"
    env = hub_env(standin_hub, FAKE_VLLM_EVENTS=str(events))
    env["PYTHONPATH"] = f"{HERE / 'fake_vllm'}:{env['PYTHONPATH']}"
    args = ["experiment=paper_ag_news", "method=fewgen,synthesizrr", "stage=filter", "dataset.max_num_tokens=24",
            f"corpus_root={corpus_root}", f"store_dir={tmp_path}/store", f"results_dir={tmp_path}/results",
            f"hydra.sweep.dir={tmp_path}/multirun", *SMALL]
    proc = synthesizrr(args, env, REPO, script=str(HERE / "vllm_driver.py"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = [json.loads(line) for line in events.read_text().splitlines()]
    names = [e["event"] for e in log]
    one_point = ["engine_start", "generate", "shutdown", "destroy_model_parallel", "destroy_distributed_environment",
                 "filter_start"]
    collapsed = [n for i, n in enumerate(names) if not (n == "generate" and names[i - 1] == "generate")]
    assert collapsed == one_point * 2, names          # two teacher points, each releases its engine
    assert all(e["live_engines"] == 0 for e in log if e["event"] == "filter_start")
    start = next(e for e in log if e["event"] == "engine_start")
    assert start["model"] == "TheBloke/Llama-2-13B-Chat-fp16" and start["dtype"] == "auto"
    assert start["max_model_len"] == 4096 and start["gpu_memory_utilization"] == 0.9
    assert len(list((tmp_path / "store" / "filter").glob("*/final.jsonl"))) == 2
