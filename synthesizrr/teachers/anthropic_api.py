"""Anthropic Messages API backend over httpx (POST {base}/messages with x-api-key and anthropic-version headers).

The Messages API is chat only, so teacher.chat must be true. It takes no seed: outputs are not reproducible,
although the seed is still part of the cache key. Options in teacher.extra: ``sampling`` = both (default) |
temperature | top_p, for models that refuse both at once; ``anthropic_version`` (default 2023-06-01);
``tokenizer``; ``body`` (extra JSON fields).
"""
from __future__ import annotations

from typing import Optional

from ..core.config import TeacherConfig
from .base import Completion, Request, TeacherError, finish_reason
from .http import HttpBackend, Retryable

SAMPLING = ("both", "temperature", "top_p")


class AnthropicBackend(HttpBackend):
    name = "anthropic"
    default_base_url = "https://api.anthropic.com/v1"

    def __init__(self, cfg: TeacherConfig):
        super().__init__(cfg)
        if not cfg.chat:
            raise TeacherError("teacher.chat=false is not allowed for backend anthropic: the Messages API is chat "
                               "only, set teacher.chat=true")
        if cfg.extra.get("sampling", "both") not in SAMPLING:
            raise TeacherError(f"teacher.extra.sampling={cfg.extra['sampling']!r} is not allowed: choose one of "
                               f"{', '.join(SAMPLING)}")

    def headers(self, key: Optional[str]) -> dict:
        out = {"anthropic-version": str(self.cfg.extra.get("anthropic_version", "2023-06-01"))}
        if key:
            out["x-api-key"] = key
        return out

    def endpoint(self, request: Request) -> tuple[str, dict]:
        cfg = self.cfg
        body: dict = {"model": cfg.model, "max_tokens": request.max_new_tokens,
                      "messages": [{"role": "user", "content": request.prompt}]}
        sampling = cfg.extra.get("sampling", "both")
        if sampling in ("both", "temperature"):
            body["temperature"] = min(cfg.temperature, 1.0)      # the API allows [0, 1]
        if sampling in ("both", "top_p"):
            body["top_p"] = cfg.top_p
        if cfg.top_k is not None:
            body["top_k"] = cfg.top_k
        if request.system:
            body["system"] = request.system
        stop = [s for s in self.stop_for(request) if s.strip()]   # the API refuses whitespace-only ones
        if stop:
            body["stop_sequences"] = stop
        body.update(cfg.extra.get("body", {}))
        return "/messages", body

    def parse(self, data: dict, request: Request) -> Completion:
        text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
        if not text:
            raise Retryable("empty completion")
        usage = data.get("usage") or {}
        return Completion(text=text, cached=False, finish_reason=finish_reason(data.get("stop_reason")),
                          tokens_in=int(usage.get("input_tokens") or self.count_tokens(request.prompt)),
                          tokens_out=int(usage.get("output_tokens") or self.count_tokens(text)))
