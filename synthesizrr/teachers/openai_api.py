"""OpenAI-compatible HTTP backend: OpenAI itself, a vLLM server, Ollama, a llama.cpp server, ...

chat=true posts to /chat/completions, chat=false to /completions (raw prompt). Each request carries its seed.
With teacher.batch=true the same bodies go through the Batch API instead (batches.py).
top_k is sent only when set (OpenAI's own API rejects it; vLLM and llama.cpp servers accept it).
Options in teacher.extra: ``max_tokens_field`` (default max_tokens; newer OpenAI models want
max_completion_tokens), ``tokenizer`` (a local tokenizer for count_tokens), ``body`` (extra JSON fields), ``max_stop`` (stop sequences sent, default 4; all are applied locally).
"""
from __future__ import annotations

import json
from typing import Iterator, Optional

import httpx

from .base import Completion, Request, finish_reason
from .http import RETRY_STATUS, HttpBackend, Retryable


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

    # --- Batch API: POST /files (purpose=batch), POST /batches, GET /batches/{id}, GET /files/{id}/content -----
    batch_max_requests = 50_000
    batch_max_bytes = 200 * 1024 * 1024      # per input file

    def batch_line(self, custom_id: str, request: Request, base_url: str) -> dict:
        path, body = self.endpoint(request)
        return {"custom_id": custom_id, "method": "POST", "url": self.batch_path(base_url, path), "body": body}

    def submit_batch(self, client: httpx.Client, base_url: str, lines: list[dict], label: str) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        upload = self.admin(client, "POST", f"{base_url}/files", data={"purpose": "batch"},
                            files={"file": (f"{label}.jsonl", data, "application/jsonl")}).json()
        batch = self.admin(client, "POST", f"{base_url}/batches", json={
            "input_file_id": upload["id"], "endpoint": lines[0]["url"], "completion_window": "24h",
            "metadata": {"synthesizrr": label}}).json()
        return str(batch["id"])

    def batch_status(self, client: httpx.Client, base_url: str, batch_id: str) -> dict:
        return {**self.admin(client, "GET", f"{base_url}/batches/{batch_id}").json(), "_base": base_url}

    def batch_ended(self, status: dict) -> Optional[tuple[str, bool]]:
        state = status.get("status")
        if state == "failed":          # the input was refused: resubmitting the same lines would fail again
            errors = (status.get("errors") or {}).get("data") or [{}]
            return f"batch {status['id']} failed validation: {str(errors[0].get('message', ''))[:200]}", False
        if state in ("completed", "expired", "cancelled"):
            return f"no result: batch {status['id']} {state}", True
        return None

    def batch_results(self, client: httpx.Client, status: dict) -> Iterator[tuple[str, Optional[dict], str, bool]]:
        for file_id in (status.get("output_file_id"), status.get("error_file_id")):
            if not file_id:
                continue
            text = self.admin(client, "GET", f"{status['_base']}/files/{file_id}/content").text
            for line in text.splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                resp, err = rec.get("response") or {}, rec.get("error") or {}
                code = resp.get("status_code")
                if code == 200:
                    yield rec["custom_id"], resp.get("body") or {}, "", False
                    continue
                message = err.get("message") or str(((resp.get("body") or {}).get("error") or {}).get("message"))
                retryable = code is None or code in RETRY_STATUS      # expired, cancelled or a server error
                yield rec["custom_id"], None, f"batch request failed: {code or err.get('code')}: {message[:200]}", \
                    retryable
