"""llama.cpp backend (llama-cpp-python) for GGUF files, e.g. the offline default SmolLM2-135M-Instruct.

chat=true renders the GGUF's embedded chat template; chat=false sends the raw prompt. Each call gets its own
seed and starts from an empty KV cache, so one (prompt, seed) always gives the same text whatever ran before.
Sampling is top_k -> top_p -> temperature with min_p and repeat penalty off (pure nucleus sampling as in HF).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from pathlib import Path
from typing import Optional

from ..core.config import TeacherConfig
from ..core.assets import resolve_model
from .base import TokenizedBackend, Completion, Emit, Request, TeacherError, failed, finish_reason
from .chat import ChatTemplate

SEED_RANGE = 2 ** 32 - 1          # llama.cpp treats 0xFFFFFFFF as "random seed"


def _llama_class():
    # llama.cpp's OpenMP threads spin while they wait; when other processes share the cores, a descheduled
    # thread stalls the others (prompt evaluation measured 10-40x slower). Passive waiting avoids that. It must
    # be set before libgomp loads, i.e. before the first llama_cpp import; an explicit setting is kept.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from llama_cpp import Llama
    return Llama


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
        # file name and size rather than the full path, so a cache moves between machines
        return {"model": self.cfg.model, "file": self.path.name, "bytes": self.path.stat().st_size}

    def _tok(self):
        if self._llm is not None:
            return self._llm
        if self._vocab is None:
            Llama = _llama_class()
            with contextlib.redirect_stderr(io.StringIO()):   # a spurious context-size warning of vocab-only loads
                self._vocab = Llama(str(self.path), vocab_only=True, verbose=False)
        return self._vocab

    def _load(self):
        if self._llm is None:
            Llama = _llama_class()
            # n_threads_batch too: llama-cpp-python would otherwise use every core for prompt evaluation
            self._llm = Llama(str(self.path), n_ctx=self.cfg.context_length, n_threads=self.cfg.n_threads,
                              n_threads_batch=self.cfg.n_threads,
                              n_batch=min(512, self.cfg.context_length), verbose=False,
                              **self.cfg.extra.get("llama_kwargs", {}))
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
        llm = self._load()
        ids = self.prompt_ids(request)
        llm.reset()           # no KV prefix reuse: the output depends on (prompt, seed) only
        stop = self.stop_for(request)
        out = llm.create_completion(ids, max_tokens=request.max_new_tokens, temperature=self.cfg.temperature,
                                    top_p=self.cfg.top_p, top_k=self.cfg.top_k or 0, min_p=0.0, typical_p=1.0,
                                    repeat_penalty=1.0, stop=stop or None, seed=request.seed % SEED_RANGE)
        choice, usage = out["choices"][0], out["usage"]
        return Completion(text=choice["text"], tokens_in=usage["prompt_tokens"],
                          tokens_out=usage["completion_tokens"], cached=False,
                          finish_reason=finish_reason(choice["finish_reason"]))

    def run(self, requests: list[Request], emit: Emit) -> None:
        for i, request in enumerate(requests):
            try:
                completion = self.generate_one(request)
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
