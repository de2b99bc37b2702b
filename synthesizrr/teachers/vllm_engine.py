"""vLLM offline engine backend (GPU only; optional extra ``synthesizrr[vllm]``).

Requests go to ``LLM.generate`` in chunks of teacher.extra.chunk_size (default 256) with one SamplingParams per
request (its own seed), so results are saved chunk by chunk. For a vLLM *server*, use backend openai with
base_urls instead. Options in teacher.extra: ``tensor_parallel_size``, ``gpu_memory_utilization``,
``chunk_size``, ``llm_kwargs`` (more LLM(...) arguments).
"""
from __future__ import annotations

import gc
import importlib.util
import logging
from typing import Optional

from ..core.config import TeacherConfig
from ..core.assets import resolve_model
from .chat import render_with_tokenizer
from .base import TokenizedBackend, Completion, Emit, Request, TeacherError, failed, finish_reason
from .hf import DTYPES

log = logging.getLogger(__name__)


class VLLMBackend(TokenizedBackend):
    name = "vllm"

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        if importlib.util.find_spec("vllm") is None:
            raise TeacherError("teacher.backend=vllm needs the vllm package and a GPU: pip install "
                               "'synthesizrr[vllm]', or choose backend hf, llamacpp, or openai with a vLLM server")
        self._llm = None
        self._tok = None

    def identity(self) -> dict:
        return {"model": self.cfg.model, "dtype": self.cfg.dtype}

    def _load(self):
        if self._llm is None:
            from vllm import LLM

            extra = self.cfg.extra
            _free_cuda_cache()   # vLLM counts memory this process still caches (an earlier point's training) as used
            self._llm = LLM(model=resolve_model(self.cfg.model), dtype=DTYPES.get(self.cfg.dtype, self.cfg.dtype),
                            max_model_len=self.cfg.context_length,
                            tensor_parallel_size=int(extra.get("tensor_parallel_size", 1)),
                            gpu_memory_utilization=float(extra.get("gpu_memory_utilization", 0.9)),
                            **extra.get("llm_kwargs", {}))
            self._tok = self._llm.get_tokenizer()
        return self._llm

    @property
    def tokenizer(self):
        if self._tok is None:
            from .hf import load_tokenizer
            self._tok = load_tokenizer(self.cfg.model)
        return self._tok

    def _render(self, prompt: str, system: Optional[str]) -> list[int]:
        return render_with_tokenizer(self.tokenizer, self.cfg.chat, prompt, system)

    def _params(self, request: Request):
        from vllm import SamplingParams

        return SamplingParams(n=1, temperature=self.cfg.temperature, top_p=self.cfg.top_p,
                              top_k=self.cfg.top_k or -1, max_tokens=request.max_new_tokens,
                              stop=self.stop_for(request) or None, seed=request.seed)

    def run(self, requests: list[Request], emit: Emit) -> None:
        llm = self._load()
        size = int(self.cfg.extra.get("chunk_size", 256))
        for start in range(0, len(requests), size):
            chunk = requests[start:start + size]
            prompts = [{"prompt_token_ids": self.prompt_ids(r)} for r in chunk]
            try:
                outs = llm.generate(prompts, [self._params(r) for r in chunk], use_tqdm=False)
                done = [Completion(text=o.outputs[0].text, tokens_in=len(o.prompt_token_ids),
                                   tokens_out=len(o.outputs[0].token_ids), cached=False,
                                   finish_reason=finish_reason(o.outputs[0].finish_reason)) for o in outs]
            except (RuntimeError, ValueError) as exc:
                done = [failed(f"vllm generate: {type(exc).__name__}: {str(exc)[:200]}")] * len(chunk)
            if not all([emit(start + k, c) for k, c in enumerate(done)]):
                return

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def close(self) -> None:
        """Shut the engine down and give its GPU memory back, so filter and distill start with a free GPU."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        self._tok = None
        _shutdown(llm)
        del llm
        _release_gpu()


def _shutdown(llm) -> None:
    """Stop the engine's workers: LLM.shutdown() where vLLM has it, else its engine core's shutdown()."""
    stop = getattr(llm, "shutdown", None)
    if stop is None:
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        stop = getattr(core, "shutdown", None)
    if callable(stop):
        try:
            stop()
        except Exception as exc:  # noqa: BLE001 - a failed shutdown must not fail a finished synthesis
            log.warning("vllm engine shutdown: %s: %s", type(exc).__name__, exc)


def _release_gpu() -> None:
    """Tear down vLLM's model-parallel and distributed state (where vLLM provides it), collect, empty the cache."""
    try:
        from vllm.distributed import parallel_state
    except ImportError:
        parallel_state = None
    for name in ("destroy_model_parallel", "destroy_distributed_environment"):
        fn = getattr(parallel_state, name, None)
        if callable(fn):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - best effort, as above
                log.warning("vllm %s: %s: %s", name, type(exc).__name__, exc)
    _free_cuda_cache()


def _free_cuda_cache() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
