"""llama.cpp backend (llama-cpp-python) for GGUF files, e.g. the offline default SmolLM2-135M-Instruct.

chat=true renders the GGUF's embedded chat template; chat=false sends the raw prompt. Each call gets its own
seed and KV stream; up to batch_size calls decode together, and a (prompt, seed) gives the same text whatever ran
before or beside it (llamacpp_streams.py; where the probe finds otherwise, create_completion one call at a time).
Requests with the same prompt that start together evaluate it once and copy its KV.
Sampling is top_k -> top_p -> temperature with min_p and repeat penalty off (pure nucleus sampling as in HF).
teacher.weights loads a cached conversion of the GGUF (gguf_weights.py) instead of the file itself.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
from pathlib import Path
from typing import Optional

from ..core.config import TeacherConfig
from ..core.assets import resolve_model
from ..machine import cpu
from .base import TokenizedBackend, Completion, Emit, Request, TeacherError, failed, finish_reason
from .chat import ChatTemplate
from .gguf_weights import converted, import_llama_cpp
from .llamacpp_streams import SEED_RANGE, Probe, Sequence, Streams, probe, streams_that_fit

log = logging.getLogger(__name__)
_PROBED: dict[tuple, Probe] = {}      # (model file, llama_kwargs) -> what batches do to logits on this CPU


def _error(exc: Exception) -> Completion:
    """A failed call from what llama.cpp raised (it reports decode problems as ValueError/RuntimeError)."""
    return failed(f"llama.cpp: {type(exc).__name__}: {exc}")


def _llama_class():
    return import_llama_cpp().Llama      # sets OMP_WAIT_POLICY=PASSIVE first (see gguf_weights)


@contextlib.contextmanager
def _model_params(**fields):
    """Set llama_model_params fields that Llama() takes no argument for, while it loads (e.g. use_extra_bufts)."""
    if not fields:
        yield
        return
    import llama_cpp.llama_cpp as low
    default = low.llama_model_default_params

    def params():
        out = default()
        for key, value in fields.items():
            setattr(out, key, value)
        return out
    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = default


def cpu_has_amx() -> bool:
    return "amx_tile" in cpu()[1]


def gguf_path(model: str) -> Path:
    """The GGUF file a teacher.model names (a path or offline:<name>); a one-line error when it is missing."""
    path = Path(os.path.expanduser(resolve_model(model)))
    if not path.is_file():
        raise TeacherError(f"teacher.model={model!r}: GGUF file {path} does not exist; allowed: a path to a .gguf "
                           f"file or offline:smollm2")
    return path


class LlamaCppBackend(TokenizedBackend):
    name = "llamacpp"

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        if importlib.util.find_spec("llama_cpp") is None:
            raise TeacherError("teacher.backend=llamacpp needs llama-cpp-python: pip install 'synthesizrr[llamacpp]'")
        self.path = gguf_path(cfg.model)
        self._vocab = None        # tokenizer-only instance (fast to load)
        self._llm = None          # full model, loaded on the first generation
        self._template: Optional[ChatTemplate] = None
        self._ctx: Optional[Streams] = None      # the KV streams run() decodes in, made on the first run
        self._batched: Optional[bool] = None     # whether texts are decoded in streams (the probe: invariant)
        self._lone = False                       # whether a lone sequence decodes like one among several

    def identity(self) -> dict:
        # file name and size rather than the full path, so a cache moves between machines; converted weights
        # sample other texts, so their type is part of it (native keeps the keys made before the option existed),
        # and so do llama_kwargs such as flash_attn
        ident = {"model": self.cfg.model, "file": self.path.name, "bytes": self.path.stat().st_size}
        if self.cfg.weights != "native":
            ident["weights"] = self.cfg.weights
        if self.cfg.extra.get("llama_kwargs"):
            ident["llama_kwargs"] = dict(self.cfg.extra["llama_kwargs"])
        return ident

    def _tok(self):
        if self._llm is not None:
            return self._llm
        if self._vocab is None:
            Llama = _llama_class()
            with contextlib.redirect_stderr(io.StringIO()):   # a spurious context-size warning of vocab-only loads
                self._vocab = Llama(str(self.path), vocab_only=True, verbose=False)
        return self._vocab

    def _open(self, path: Path):
        Llama = _llama_class()
        fields = {"use_extra_bufts": self._extra_bufts()}
        with _model_params(**fields):
            # n_threads_batch too: llama-cpp-python would otherwise use every core for prompt evaluation
            return Llama(str(path), n_ctx=self.cfg.context_length, n_threads=self.cfg.n_threads,
                         n_threads_batch=self.cfg.n_threads, n_batch=min(512, self.cfg.context_length),
                         verbose=False, **self.cfg.extra.get("llama_kwargs", {}))

    def _extra_bufts(self) -> bool:
        """AMX / repacked weight buffers: off for quantized weights on AMX CPUs, where llama.cpp's AMX kernels
        segfault in some VMs (a crash, not an error, so it cannot be caught); extra.use_extra_bufts decides."""
        if "use_extra_bufts" in self.cfg.extra:
            return bool(self.cfg.extra["use_extra_bufts"])
        return self.cfg.weights in ("bf16", "f16") or not cpu_has_amx()

    def _load(self):
        if self._llm is None:
            weights = self.cfg.weights
            try:
                self._llm = self._open(converted(self.path, weights))
            except ValueError:                 # llama-cpp-python's "Failed to load model from file"
                if weights == "native":
                    raise
                path = converted(self.path, weights, rebuild=True)     # a damaged conversion: make it again, once
                try:
                    self._llm = self._open(path)
                except ValueError:
                    raise TeacherError(f"llama.cpp cannot load {self.path.name} converted to teacher.weights="
                                       f"{weights} ({path}); use teacher.weights=native") from None
            if self._vocab is not None:
                self._vocab.close()
                self._vocab = None
        return self._llm

    def _render(self, prompt: str, system: Optional[str]) -> list[int]:
        llm = self._tok()
        if not self.cfg.chat:
            return llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        if self._template is None:
            text = llm.metadata.get("tokenizer.chat_template")
            if not text:
                raise TeacherError(f"teacher.chat=true but {self.path.name} has no chat template: set teacher.chat=false")
            piece = lambda i: llm.detokenize([i], special=True).decode("utf-8", "ignore") if i >= 0 else ""
            self._template = ChatTemplate(text, piece(llm.token_bos()), piece(llm.token_eos()))
        ids = llm.tokenize(self._template.render(prompt, system).encode("utf-8"), add_bos=False, special=True)
        bos = llm.token_bos()
        add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
        return [bos] + ids if add_bos and bos >= 0 and ids[:1] != [bos] else ids

    def _tokens(self, text: str) -> list[int]:
        return self._tok().tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def detokenize(self, ids: list[int]) -> str:
        return self._tok().detokenize(ids).decode("utf-8", "ignore")

    def _sampling(self) -> dict:
        """create_completion's sampling arguments, as Llama._init_sampler takes them."""
        return dict(top_k=self.cfg.top_k or 0, top_p=self.cfg.top_p, min_p=0.0, typical_p=1.0,
                    temp=self.cfg.temperature, repeat_penalty=1.0)

    def generate_one(self, request: Request) -> Completion:
        """One request alone, the way ``run`` decodes it: the reference ``run`` matches text for text whatever the
        batch (tests, benchmarks)."""
        out: dict[int, Completion] = {}
        self.run([request], lambda i, c: out.__setitem__(i, c) or True)
        return out[0]

    def _alone(self, ids: list[int], request: Request) -> Completion:
        """llama-cpp-python's create_completion from an empty KV cache."""
        llm = self._load()
        llm.reset()
        s = self._sampling()
        out = llm.create_completion(ids, max_tokens=request.max_new_tokens, temperature=s.pop("temp"),
                                    stop=self.stop_for(request) or None, seed=request.seed % SEED_RANGE, **s)
        choice, usage = out["choices"][0], out["usage"]
        return Completion(text=choice["text"], tokens_in=usage["prompt_tokens"],
                          tokens_out=usage["completion_tokens"], cached=False,
                          finish_reason=finish_reason(choice["finish_reason"]))

    def _streams(self, n: int) -> Optional[Streams]:
        """KV streams for n sequences, or None where decoding in them would make a text depend on its batch-mates
        (probed once per process and setting; the warning once)."""
        llm = self._load()
        if self._batched is None:
            key = (llm.model_path, repr(sorted(self.cfg.extra.get("llama_kwargs", {}).items())))
            if key not in _PROBED:                       # 2-4 s for SmolLM2
                _PROBED[key] = probe(llm)
            self._batched, self._lone = _PROBED[key].invariant, _PROBED[key].as_alone
            if not self._batched:
                log.warning("llama.cpp: teacher.weights=%s%s decodes differently in batches on this CPU; "
                            "generating one request at a time so that texts do not depend on their batch-mates",
                            self.cfg.weights, " with these llama_kwargs" if self.cfg.extra.get("llama_kwargs") else "")
        if not self._batched:
            return None
        n = streams_that_fit(llm, n, scratch=not self._lone)
        if self._ctx is None or self._ctx.n_seq < n:
            if self._ctx is not None:
                self._ctx.close()
            self._ctx = Streams(llm, n, lone=self._lone)      # one row like several: no companion needed
        return self._ctx

    @staticmethod
    def _order(prompts: list[list[int]]) -> list[int]:
        """Request indices with requests of the same model input next to each other (first appearance order)."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, ids in enumerate(prompts):
            groups.setdefault(tuple(ids), []).append(i)
        return [i for members in groups.values() for i in members]

    def _run_alone(self, requests: list[Request], prompts: list[list[int]], emit: Emit) -> None:
        for i in self._order(prompts):
            try:
                completion = self._alone(prompts[i], requests[i])
            except (ValueError, RuntimeError) as exc:     # llama.cpp reports decode problems this way
                if isinstance(exc, TeacherError):
                    raise
                completion = _error(exc)
            if not emit(i, completion):
                return

    def run(self, requests: list[Request], emit: Emit) -> None:
        """Up to teacher.batch_size requests decode together (llamacpp_streams.py); each gets the text it would
        get alone. Requests with the same prompt that start together evaluate it once (ZeroGen's n samples)."""
        if not requests:
            return
        llm = self._load()
        prompts = [self.prompt_ids(r) for r in requests]     # once each: it also counts truncations
        streams = self._streams(min(self.cfg.batch_size, len(requests)))
        if streams is None:
            return self._run_alone(requests, prompts, emit)

        def make(i: int) -> Sequence:
            request = requests[i]
            return Sequence(llm, prompts[i], request.max_new_tokens, self.stop_for(request), request.seed,
                            self._sampling())

        def done(i: int, seq: Sequence) -> bool:
            return emit(i, Completion(text=seq.text.decode("utf-8", errors="ignore"), tokens_in=len(seq.prompt),
                                      tokens_out=len(seq.tokens), cached=False,
                                      finish_reason=finish_reason(seq.reason)))

        def fail(i: int, exc: Exception) -> bool:
            return emit(i, _error(exc))

        streams.run(self._order(prompts), prompts, make, done, fail)

    def close(self) -> None:
        for attr in ("_ctx", "_llm", "_vocab"):
            obj = getattr(self, attr)
            if obj is not None and hasattr(obj, "close"):
                obj.close()
            setattr(self, attr, None)
