"""vLLM offline engine backend (GPU only; optional extra ``synthesizrr[vllm]``).

Requests stream through the engine (``llm.llm_engine``: add_request / step) with no barrier: up to
teacher.extra.max_in_flight samples (4096, above vLLM's max_num_seqs, so its scheduler never runs dry) are queued,
a finished request is replaced at once, and each completion is emitted, so saved to the call cache, as it
finishes. One SamplingParams per request, with its seed. Requests alike but for their seeds s, s+1, ..., s+n-1
(samples of one prompt) go as one engine request with n samples and seed s where the engine seeds sample k with
s + k (vLLM's V1 engine), so each sample is what its own request would give; elsewhere, and with
extra.group_samples=false, each goes alone. Prefix caching is on (extra.enable_prefix_caching). For a vLLM
*server*, use backend openai with base_urls. Options in teacher.extra: ``tensor_parallel_size``,
``gpu_memory_utilization``, ``enable_prefix_caching``, ``max_in_flight``, ``group_samples``, ``llm_kwargs`` (more
LLM(...) arguments; these win).
"""
from __future__ import annotations

import gc
import importlib.util
import itertools
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
        self._ids = itertools.count()   # engine request ids, unique over this backend's runs

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
                            **{"enable_prefix_caching": bool(extra.get("enable_prefix_caching", True)),
                               **extra.get("llm_kwargs", {})})
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

    def _params(self, request: Request, n: int = 1):
        from vllm import SamplingParams

        kw = {}
        try:   # only finished outputs are read; with n > 1 they then hold all n samples
            from vllm.sampling_params import RequestOutputKind
            kw["output_kind"] = RequestOutputKind.FINAL_ONLY
        except ImportError:
            pass
        return SamplingParams(n=n, temperature=self.cfg.temperature, top_p=self.cfg.top_p,
                              top_k=self.cfg.top_k or -1, max_tokens=request.max_new_tokens,
                              stop=self.stop_for(request) or None, seed=request.seed, **kw)

    def groups(self, requests: list[Request], llm) -> list[list[int]]:
        """Indices of the requests each engine request serves, in request order: requests alike but for their
        seeds s, s+1, ... (kept in seed order) share one where the engine seeds sample k with s + k."""
        if not (self.cfg.extra.get("group_samples", True) and _seeds_samples_apart(llm)):
            return [[i] for i in range(len(requests))]
        alike: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            alike.setdefault((r.prompt, r.system, r.max_new_tokens, tuple(self.stop_for(r))), []).append(i)
        out = []
        for idx in alike.values():
            idx.sort(key=lambda i: requests[i].seed)
            run = [idx[0]]
            for i in idx[1:]:
                if requests[i].seed == requests[run[-1]].seed + 1:
                    run.append(i)
                else:
                    out.append(run)
                    run = [i]
            out.append(run)
        return sorted(out)

    def _completions(self, out, n: int) -> list[Completion]:
        samples = sorted(out.outputs, key=lambda o: getattr(o, "index", 0))
        if len(samples) != n:
            return [failed(f"vllm returned {len(samples)} samples for a request of {n}")] * n
        return [Completion(text=o.text, tokens_in=len(out.prompt_token_ids), tokens_out=len(o.token_ids),
                           cached=False, finish_reason=finish_reason(o.finish_reason)) for o in samples]

    def run(self, requests: list[Request], emit: Emit) -> None:
        llm = self._load()
        groups = self.groups(requests, llm)
        engine = getattr(llm, "llm_engine", None)
        if all(callable(getattr(engine, a, None)) for a in ("add_request", "step", "has_unfinished_requests")):
            self._stream(engine, requests, groups, emit)
        else:   # an engine without a step interface (a stand-in): one LLM.generate call
            self._generate_all(llm, requests, groups, emit)

    def _stream(self, engine, requests: list[Request], groups: list[list[int]], emit: Emit) -> None:
        """Keep up to max_in_flight samples queued in the engine; emit each request as it finishes (so it is
        cached at once). Once emit says stop, nothing more is added and the requests in flight are drained."""
        window = max(1, int(self.cfg.extra.get("max_in_flight", 4096)))
        pending, flight, queued, go = iter(groups), {}, 0, True
        try:
            while True:
                while go and queued < window and (group := next(pending, None)) is not None:
                    rid, head = str(next(self._ids)), requests[group[0]]
                    try:
                        engine.add_request(rid, {"prompt_token_ids": self.prompt_ids(head)},
                                           self._params(head, len(group)))
                    except (RuntimeError, ValueError) as exc:   # this request only (e.g. one it refuses)
                        go = _emit_all(emit, group, _failure(exc)) and go
                        continue
                    flight[rid], queued = group, queued + len(group)
                if not flight:
                    return
                for out in engine.step():
                    if out.finished and out.request_id in flight:
                        group = flight.pop(out.request_id)
                        queued -= len(group)
                        go = _emit_all(emit, group, self._completions(out, len(group))) and go
                if flight and not engine.has_unfinished_requests():
                    raise RuntimeError(f"the engine finished without returning {len(flight)} requests")
        except (RuntimeError, ValueError) as exc:   # the engine failed: every request not emitted fails
            for group in flight.values():             # those in flight always report
                go = _emit_all(emit, group, _failure(exc)) and go
            for group in pending:                     # the others while emit goes on
                if not go:
                    break
                go = _emit_all(emit, group, _failure(exc))
        finally:
            if flight:   # failed or interrupted: leave nothing queued for the next run
                _abort(engine, list(flight))

    def _generate_all(self, llm, requests: list[Request], groups: list[list[int]], emit: Emit) -> None:
        heads = [requests[g[0]] for g in groups]
        try:
            outs = llm.generate([{"prompt_token_ids": self.prompt_ids(r)} for r in heads],
                                [self._params(r, len(g)) for r, g in zip(heads, groups)], use_tqdm=False)
            done = [self._completions(o, len(g)) for o, g in zip(outs, groups)]
        except (RuntimeError, ValueError) as exc:
            done = [_failure(exc)] * len(groups)
        for group, completions in zip(groups, done):
            if not _emit_all(emit, group, completions):
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


def _seeds_samples_apart(llm) -> bool:
    """vLLM's V1 engine splits a request of n samples with seed s into n requests seeded s, s+1, ..., s+n-1
    (vllm/v1/engine/parallel_sampling.py); the V0 engine draws all n from one generator."""
    return type(getattr(llm, "llm_engine", None)).__module__.startswith("vllm.v1.")


def _abort(engine, ids: list[str]) -> None:
    try:
        getattr(engine, "abort_request", lambda ids: None)(ids)
    except Exception as exc:  # noqa: BLE001 - a broken engine may refuse; its requests were already reported
        log.warning("vllm abort_request: %s: %s", type(exc).__name__, exc)


def _failure(exc: Exception) -> Completion:
    return failed(f"vllm generate: {type(exc).__name__}: {str(exc)[:200]}")


def _emit_all(emit: Emit, group: list[int], completions) -> bool:
    """Emit a group's completions (one Completion: the same for each); False once emit said stop."""
    if isinstance(completions, Completion):
        completions = [completions] * len(group)
    return all([emit(i, c) for i, c in zip(group, completions)])


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
