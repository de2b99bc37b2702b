"""transformers backend: AutoModelForCausalLM.generate in left-padded batches.

Works with hub ids, local folders and GGUF files (``gguf_file=``; transformers dequantizes, which needs accelerate
and gguf). The chat template is applied when the tokenizer has one and teacher.chat is true. Each batch is seeded
from its requests' seeds, so outputs are reproducible for the same batches (not per request: a batch shares one
random stream). GPU with bf16 when present (teacher.device / teacher.dtype override).
"""
from __future__ import annotations

import hashlib
import logging
from itertools import groupby
from pathlib import Path
from typing import Optional

from ..core.config import TeacherConfig
from ..core.assets import resolve_model
from .chat import render_with_tokenizer
from .base import TokenizedBackend, Completion, Emit, Request, TeacherError, cut_at_stop, failed

log = logging.getLogger(__name__)

DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}


def hf_source(model: str, gguf_file: Optional[str] = None) -> tuple[str, dict]:
    """(name or folder, from_pretrained kwargs) for a hub id, folder, GGUF path or offline:<name>."""
    resolved = resolve_model(model)
    path = Path(resolved).expanduser()
    if resolved.endswith(".gguf"):
        if not path.is_file():
            raise TeacherError(f"teacher.model={model!r}: GGUF file {path} does not exist; allowed: a path to a "
                               f".gguf file, a hub id, a model folder or offline:smollm2")
        return str(path.parent), {"gguf_file": path.name}
    return resolved, ({"gguf_file": gguf_file} if gguf_file else {})


def load_tokenizer(model: str, gguf_file: Optional[str] = None):
    from transformers import AutoTokenizer

    name, kwargs = hf_source(model, gguf_file)
    tok = AutoTokenizer.from_pretrained(name, **kwargs)
    tok.padding_side = "left"
    tok.truncation_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def batch_seed(requests: list[Request]) -> int:
    blob = ",".join(f"{r.seed}:{r.sample_index}" for r in requests)
    return int(hashlib.sha256(blob.encode()).hexdigest()[:8], 16)


class HFBackend(TokenizedBackend):
    name = "hf"

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        if cfg.dtype != "auto" and cfg.dtype not in DTYPES:
            raise TeacherError(f"teacher.dtype={cfg.dtype!r} is not allowed: choose auto or one of {', '.join(DTYPES)}")
        self.source = hf_source(cfg.model, cfg.extra.get("gguf_file"))   # checks a GGUF path now
        self._tok = None
        self._model = None

    def identity(self) -> dict:
        return {"model": self.cfg.model, "gguf_file": self.cfg.extra.get("gguf_file"), "dtype": self.cfg.dtype}

    @property
    def tokenizer(self):
        if self._tok is None:
            self._tok = load_tokenizer(self.cfg.model, self.cfg.extra.get("gguf_file"))
        return self._tok

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM

            device = self.cfg.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = DTYPES.get(self.cfg.dtype)
            if dtype is None:
                dtype = "float32" if device == "cpu" else \
                    ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
            name, kwargs = self.source
            self._model = AutoModelForCausalLM.from_pretrained(name, dtype=getattr(torch, dtype), **kwargs)
            self._model.to(device).eval()
            log.info("hf teacher %s loaded on %s (%s)", self.cfg.model, device, dtype)
        return self._model

    def _render(self, prompt: str, system: Optional[str]) -> list[int]:
        return render_with_tokenizer(self.tokenizer, self.cfg.chat, prompt, system)

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate_batch(self, requests: list[Request]) -> list[Completion]:
        import torch

        model, tok = self._load(), self.tokenizer
        ids = [self.prompt_ids(r) for r in requests]
        batch = tok.pad({"input_ids": ids}, return_tensors="pt").to(model.device)
        stop = self.stop_for(requests[0])
        torch.manual_seed(batch_seed(requests))
        sampling = self.cfg.temperature > 0
        kwargs = dict(do_sample=sampling, temperature=self.cfg.temperature, top_p=self.cfg.top_p,
                      top_k=self.cfg.top_k or 0) if sampling else dict(do_sample=False)
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tok)
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=requests[0].max_new_tokens, pad_token_id=tok.pad_token_id,
                                 **kwargs)
        new = out[:, batch["input_ids"].shape[1]:].tolist()
        gen_eos = model.generation_config.eos_token_id
        eos = {tok.eos_token_id, *(gen_eos if isinstance(gen_eos, list) else [gen_eos])} - {None}
        results = []
        for prompt_ids, gen in zip(ids, new):
            n = next((k for k, t in enumerate(gen) if t in eos), None)
            text, hit = cut_at_stop(tok.decode(gen[:n], skip_special_tokens=True), stop)
            n_out = len(gen) if n is None else n + 1
            reason = "stop" if (n is not None or hit) else "length"
            results.append(Completion(text=text, tokens_in=len(prompt_ids), tokens_out=n_out, cached=False,
                                      finish_reason=reason))
        return results

    def run(self, requests: list[Request], emit: Emit) -> None:
        # batches never mix max_new_tokens or stop lists (one generate() call each)
        key = lambda i: (requests[i].max_new_tokens, tuple(self.stop_for(requests[i])))
        for _, group in groupby(sorted(range(len(requests)), key=key), key=key):
            group = list(group)
            for start in range(0, len(group), self.cfg.batch_size):
                idx = group[start:start + self.cfg.batch_size]
                try:
                    done = self.generate_batch([requests[i] for i in idx])
                except TeacherError:
                    raise
                except (RuntimeError, ValueError) as exc:     # e.g. out of memory: the batch fails, the run goes on
                    done = [failed(f"hf generate: {type(exc).__name__}: {str(exc)[:200]}")] * len(idx)
                keep = [emit(i, c) for i, c in zip(idx, done)]
                if not all(keep):
                    return

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def close(self) -> None:
        self._model = None
