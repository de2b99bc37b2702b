"""Anthropic Messages API backend over httpx (POST {base}/messages with x-api-key and anthropic-version headers).

The Messages API is chat only, so teacher.chat must be true. It takes no seed: outputs are not reproducible,
although the seed is still part of the cache key. Options in teacher.extra: ``sampling`` = both (default) |
temperature | top_p, for models that refuse both at once; ``anthropic_version`` (default 2023-06-01);
``tokenizer``; ``body`` (extra JSON fields). With teacher.batch=true the same bodies go through Message Batches
(batches.py).
"""
from __future__ import annotations

import json
from typing import Iterator, Optional

import httpx

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

    # --- Message Batches: POST /messages/batches, GET /messages/batches/{id}, GET its results_url (JSONL) ------
    batch_max_requests = 100_000
    batch_max_bytes = 256 * 1024 * 1024      # per create request
    RETRYABLE_ERRORS = ("api_error", "overloaded_error", "rate_limit_error", "timeout_error")

    def batch_line(self, custom_id: str, request: Request, base_url: str) -> dict:
        return {"custom_id": custom_id, "params": self.endpoint(request)[1]}

    def submit_batch(self, client: httpx.Client, base_url: str, lines: list[dict], label: str) -> str:
        return str(self.admin(client, "POST", f"{base_url}/messages/batches", json={"requests": lines}).json()["id"])

    def batch_status(self, client: httpx.Client, base_url: str, batch_id: str) -> dict:
        return self.admin(client, "GET", f"{base_url}/messages/batches/{batch_id}").json()

    def batch_ended(self, status: dict) -> Optional[tuple[str, bool]]:
        if status.get("processing_status") == "ended":
            return f"no result: batch {status['id']} ended", True
        return None

    def batch_results(self, client: httpx.Client, status: dict) -> Iterator[tuple[str, Optional[dict], str, bool]]:
        for line in self.admin(client, "GET", status["results_url"]).text.splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            result = rec.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                yield rec["custom_id"], result.get("message") or {}, "", False
                continue
            error = (result.get("error") or {}).get("error") or result.get("error") or {}
            retryable = kind in ("expired", "canceled") or error.get("type") in self.RETRYABLE_ERRORS
            detail = f"{error.get('type')}: {str(error.get('message', ''))[:200]}" if error else kind
            yield rec["custom_id"], None, f"batch request {kind}: {detail}", retryable
