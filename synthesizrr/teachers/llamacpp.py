"""llama.cpp backend (llama-cpp-python) for GGUF files, e.g. the offline default SmolLM2-135M-Instruct.

chat=true renders the GGUF's embedded chat template; chat=false sends the raw prompt. Each call gets its own
seed and starts from an empty KV cache, so one (prompt, seed) always gives the same text whatever ran before.
Requests with the same prompt evaluate it once and sample from a saved copy of that state (same text as alone).
Sampling is top_k -> top_p -> temperature with min_p and repeat penalty off (pure nucleus sampling as in HF).
teacher.weights loads a cached conversion of the GGUF (gguf_weights.py) instead of the file itself.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import os
from pathlib import Path
from typing import Iterator, Optional

from ..core.config import TeacherConfig
from ..core.assets import resolve_model
from .base import TokenizedBackend, Completion, Emit, Request, TeacherError, failed, finish_reason
from .chat import ChatTemplate
from .gguf_weights import converted, import_llama_cpp

SEED_RANGE = 2 ** 32 - 1          # llama.cpp treats 0xFFFFFFFF as "random seed"


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
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


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

    def identity(self) -> dict:
        # file name and size rather than the full path, so a cache moves between machines; converted weights
        # sample other texts, so their type is part of it (native keeps the keys made before the option existed)
        ident = {"model": self.cfg.model, "file": self.path.name, "bytes": self.path.stat().st_size}
        return ident if self.cfg.weights == "native" else {**ident, "weights": self.cfg.weights}

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

    def generate_one(self, request: Request) -> Completion:
        return self._complete(self.prompt_ids(request), request, None)

    def _complete(self, ids: list[int], request: Request, prompt=None) -> Completion:
        """One sample. Without ``prompt`` the KV cache is reset (no prefix reuse: re-evaluating part of a prompt
        changes texts, see docs/teachers.md); with it, the state saved by ``_evaluate(ids)`` is restored and
        sampled from exactly as a fresh call samples after evaluating the whole prompt."""
        llm = self._load()
        if prompt is None:
            llm.reset()
        else:
            state, logits = prompt
            llm.load_state(state)
            # load_state does not bring back the prompt's last logits once later tokens were decoded: write them
            # where the sampler reads them, and mark them live so create_completion samples without re-evaluating
            ctypes.memmove(self._logits_ptr(llm), logits, len(logits))
            llm._requires_eval = False
        stop = self.stop_for(request)
        out = llm.create_completion(ids, max_tokens=request.max_new_tokens, temperature=self.cfg.temperature,
                                    top_p=self.cfg.top_p, top_k=self.cfg.top_k or 0, min_p=0.0, typical_p=1.0,
                                    repeat_penalty=1.0, stop=stop or None, seed=request.seed % SEED_RANGE)
        choice, usage = out["choices"][0], out["usage"]
        return Completion(text=choice["text"], tokens_in=usage["prompt_tokens"],
                          tokens_out=usage["completion_tokens"], cached=False,
                          finish_reason=finish_reason(choice["finish_reason"]))

    @staticmethod
    def _logits_ptr(llm):
        return import_llama_cpp().llama_get_logits_ith(llm.ctx, -1)

    def _evaluate(self, ids: list[int]) -> tuple:
        """Evaluate a prompt from an empty KV cache, as a fresh call does; save the state and the last logits."""
        llm = self._load()
        llm.reset()
        llm.eval(ids)
        return llm.save_state(), ctypes.string_at(self._logits_ptr(llm), 4 * llm.n_vocab())

    def _groups(self, requests: list[Request]) -> Iterator[tuple[list[int], list[int]]]:
        """(prompt ids, request indices) for each distinct model input, in order of first appearance."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(tuple(self.prompt_ids(request)), []).append(i)
        return ((list(ids), members) for ids, members in groups.items())

    def run(self, requests: list[Request], emit: Emit) -> None:
        for ids, members in self._groups(requests):
            prompt = None
            for i in members:
                try:
                    # several samples of one prompt (ZeroGen) evaluate it once; needs llama-cpp-python's flag
                    # for live logits (0.3.x), else each sample evaluates the prompt itself
                    if prompt is None and len(members) > 1 and hasattr(self._load(), "_requires_eval"):
                        prompt = self._evaluate(ids)
                    completion = self._complete(ids, requests[i], prompt)
                except (ValueError, RuntimeError) as exc:   # llama.cpp reports decode problems this way
                    if isinstance(exc, TeacherError):
                        raise
                    completion = failed(f"llama.cpp: {type(exc).__name__}: {exc}")
                if not emit(i, completion):
                    return

    def close(self) -> None:
        for attr in ("_llm", "_vocab"):
            obj = getattr(self, attr)
            if obj is not None and hasattr(obj, "close"):
                obj.close()
            setattr(self, attr, None)
