"""OpenAI-compatible HTTP backend: OpenAI itself, a vLLM server, Ollama, a llama.cpp server, ...

chat=true posts to /chat/completions, chat=false to /completions (raw prompt). Each request carries its seed.
top_k is sent only when set (OpenAI's own API rejects it; vLLM and llama.cpp servers accept it).
Options in teacher.extra: ``max_tokens_field`` (default max_tokens; newer OpenAI models want
max_completion_tokens), ``tokenizer`` (a local tokenizer for count_tokens), ``body`` (extra JSON fields), ``max_stop`` (stop sequences sent, default 4; all are applied locally).
"""
from __future__ import annotations

from typing import Optional

from .base import Completion, Request, finish_reason
from .http import HttpBackend, Retryable


class OpenAIBackend(HttpBackend):
    name = "openai"
    default_base_url = "https://api.openai.com/v1"

    def headers(self, key: Optional[str]) -> dict:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def endpoint(self, request: Request) -> tuple[str, dict]:
        cfg = self.cfg
        body = {"model": cfg.model, cfg.extra.get("max_tokens_field", "max_tokens"): request.max_new_tokens,
                "temperature": cfg.temperature, "top_p": cfg.top_p, "seed": request.seed, "n": 1}
        if cfg.top_k is not None:
            body["top_k"] = cfg.top_k
        stop = self.stop_for(request)
        if stop:
            body["stop"] = stop[:int(cfg.extra.get("max_stop", 4))]    # OpenAI takes up to 4; the rest cut here
        body.update(cfg.extra.get("body", {}))
        if not cfg.chat:
            return "/completions", {**body, "prompt": request.prompt}
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.prompt})
        return "/chat/completions", {**body, "messages": messages}

    def parse(self, data: dict, request: Request) -> Completion:
        choice = data["choices"][0]
        text = choice["message"]["content"] if self.cfg.chat else choice["text"]
        if not text:
            raise Retryable("empty completion")
        usage = data.get("usage") or {}
        return Completion(text=text, cached=False, finish_reason=finish_reason(choice.get("finish_reason")),
                          tokens_in=int(usage.get("prompt_tokens") or self.count_tokens(request.prompt)),
                          tokens_out=int(usage.get("completion_tokens") or self.count_tokens(text)))
